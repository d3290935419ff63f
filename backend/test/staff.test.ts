import test from 'ava';
import { fileFixture, testDatabase } from './helpers/env.ts';
import { startApp } from './helpers/server.ts';
import { DEMO_MUNICIPALITY, DEMO_PASSWORD } from '../../seeds/01_demo_town.ts';
import { tokenHash } from '../src/staff/repository.ts';

const fixture = fileFixture(test, async (cleanup) => {
  const { db } = await testDatabase(cleanup);
  await db.seed.run();
  return { db, base: await startApp(cleanup, db) };
});

async function signIn(base: string, loginId: string, password: string) {
  return fetch(`${base}/api/v1/staff/sessions`, { method: 'POST', headers: { 'Content-Type': 'application/json' }, body: JSON.stringify({ loginId, password }) });
}

function cookieOf(response: Response): string {
  const header = response.headers.get('set-cookie') ?? '';
  return header.split(';')[0]!;
}

test('a merchant clerk signs in, is recognised, and signs out', async (t) => {
  const { base } = await fixture();
  const response = await signIn(base, 'demo-shop', DEMO_PASSWORD);
  t.is(response.status, 201);
  t.regex(response.headers.get('set-cookie') ?? '', /^mykey_staff=[A-Za-z0-9_-]{43}; .*samesite=strict; httponly/);
  const { staff } = await response.json();
  t.like(staff, { loginId: 'demo-shop', role: 'merchant', organization: { kind: 'merchant', name: { ja: 'みらいベーカリー', en: 'Mirai Bakery' } } });

  const cookie = cookieOf(response);
  const session = await fetch(`${base}/api/v1/staff/session`, { headers: { cookie } });
  t.is(session.status, 200);
  t.deepEqual((await session.json()).staff, staff);

  t.is((await fetch(`${base}/api/v1/staff/session`, { method: 'DELETE', headers: { cookie } })).status, 204);
  const after = await fetch(`${base}/api/v1/staff/session`, { headers: { cookie } });
  t.is(after.status, 401);
  t.is((await after.json()).code, 'staff_session_required');
});

test('municipal staff belong to their municipality', async (t) => {
  const { base } = await fixture();
  const { staff } = await (await signIn(base, 'demo-city', DEMO_PASSWORD)).json();
  t.like(staff, { role: 'municipality', organization: { kind: 'municipality', id: DEMO_MUNICIPALITY.code, name: { ja: DEMO_MUNICIPALITY.name_ja } } });
});

test('a wrong password and an unknown login get the same answer', async (t) => {
  const { base } = await fixture();
  const wrong = await signIn(base, 'demo-shop', 'not-the-password');
  const unknown = await signIn(base, 'nobody', 'whatever');
  for (const response of [wrong, unknown]) {
    t.is(response.status, 401);
    t.is(response.headers.get('set-cookie'), null);
    t.like(await response.json(), { code: 'staff_credentials_invalid', messages: { ja: 'ログインIDまたはパスワードが違います。' } });
  }
});

test('a forged or expired session cookie is refused', async (t) => {
  const { base, db } = await fixture();
  t.is((await fetch(`${base}/api/v1/staff/session`, { headers: { cookie: 'mykey_staff=forged' } })).status, 401);
  const cookie = cookieOf(await signIn(base, 'demo-city', DEMO_PASSWORD));
  // Only this session: the file's other tests run at the same time with sessions of their own.
  const token = cookie.slice('mykey_staff='.length);
  t.is(await db('staff_sessions').where({ token_hash: tokenHash(token) }).update({ expires_at: new Date(Date.now() - 1000) }), 1);
  t.is((await fetch(`${base}/api/v1/staff/session`, { headers: { cookie } })).status, 401);
});
