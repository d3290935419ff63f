import test, { type ExecutionContext } from 'ava';
import { randomBytes, scryptSync } from 'node:crypto';
import { fileFixture, queuePrefix, redisUrl, silentLog, testDatabase } from './helpers/env.ts';
import { startApp, type TestAppDeps } from './helpers/server.ts';
import { demoPasswordHash, enrolTotp, nextCode, post, staffCookie, totpCode, type AccountState } from './helpers/staff.ts';
import { DEMO_MUNICIPALITY, DEMO_PASSWORD } from '@mykey/dev-tools/demo-towns.ts';
import { tokenHash } from '../src/staff/repository.ts';
import { ACCOUNT_RULE, LOCK_MS, signInLimit, waitAfter } from '../src/staff/sign-in-limit.ts';
import { purgeEndedSessions } from '../src/staff/session-purge-job.ts';
import { Redis } from 'ioredis';
import { createRedis } from '../src/redis.ts';
import type { Db } from '../src/db.ts';
import { OWASP_SCRYPT_N } from '../src/config.ts';

const fixture = fileFixture(test, async (cleanup) => {
  const { db } = await testDatabase(cleanup);
  await db.seed.run();
  return { db, base: await startApp(cleanup, db) };
});

async function signIn(base: string, loginId: string, password: string, headers: Record<string, string> = {}) {
  return fetch(`${base}/api/v1/staff/sessions`, { method: 'POST', headers: { 'Content-Type': 'application/json', ...headers }, body: JSON.stringify({ loginId, password }) });
}

function cookieOf(response: Response): string {
  const header = response.headers.get('set-cookie') ?? '';
  return header.split(';')[0]!;
}

function session(base: string, cookie: string) {
  return fetch(`${base}/api/v1/staff/session`, { headers: { cookie } });
}

let accounts = 0;
/** A staff account of its own for one test (the demo ones are shared by the file's tests), with the demo password. */
async function newAccount(db: Db, role: 'merchant' | 'municipality', passwordHash?: string): Promise<{ loginId: string; id: number }> {
  const loginId = `staff-test-${role}-${++accounts}`;
  const bakery = await db('merchants').where({ slug: 'demo-bakery' }).first('id');
  const [id] = await db('staff_accounts').insert({ login_id: loginId, display_name: 'テスト 職員', organization_kind: role, roles: role === 'municipality' ? 'administrator,operator' : 'owner', password_hash: passwordHash ?? await demoPasswordHash(),
    municipality_code: role === 'municipality' ? DEMO_MUNICIPALITY.code : null, merchant_id: role === 'merchant' ? bakery.id : null });
  return { loginId, id: Number(id) };
}

async function auditOf(db: Db, subject: string) {
  return db('audit_events').where({ subject }).orderBy('seq').select('action', 'actor_kind', 'actor_id', 'details')
    .then((rows) => rows.map((row) => ({ ...row, details: typeof row.details === 'string' ? JSON.parse(row.details) : row.details })));
}

test('a merchant clerk signs in, is recognised, and signs out', async (t) => {
  const { base } = await fixture();
  const response = await signIn(base, 'demo-shop', DEMO_PASSWORD);
  t.is(response.status, 201);
  t.regex(response.headers.get('set-cookie') ?? '', /^mykey_staff=[A-Za-z0-9_-]{43}; path=\/; .*samesite=strict; httponly/);
  const { staff } = await response.json();
  t.like(staff, { loginId: 'demo-shop', roles: ['owner'], secondFactor: false, organization: { kind: 'merchant', name: { ja: 'みらいベーカリー', en: 'Mirai Bakery' } } });

  const cookie = cookieOf(response);
  const current = await session(base, cookie);
  t.is(current.status, 200);
  t.deepEqual((await current.json()).staff, staff);

  t.is((await fetch(`${base}/api/v1/staff/session`, { method: 'DELETE', headers: { cookie } })).status, 204);
  const after = await session(base, cookie);
  t.is(after.status, 401);
  t.is((await after.json()).code, 'staff_session_required');
});

test('municipal staff without a second factor get a session that can only enrol one, then sign in with codes', async (t) => {
  const { base, db } = await fixture();
  const { loginId, id } = await newAccount(db, 'municipality');
  const first = await signIn(base, loginId, DEMO_PASSWORD);
  t.is(first.status, 201);
  const body = await first.json();
  t.like(body, { next: 'totp_enrolment', staff: { loginId, secondFactor: false, organization: { kind: 'municipality', id: DEMO_MUNICIPALITY.code } } });
  const restricted = cookieOf(first);
  t.like(await (await session(base, restricted)).json(), { next: 'totp_enrolment' });
  const devices = await fetch(`${base}/api/v1/staff/devices`, { headers: { cookie: restricted } });
  t.is(devices.status, 401, 'the console stays closed until the second factor is set up');

  const started = await post(base, '/api/v1/staff/totp/enrolment', {}, restricted);
  t.is(started.status, 201);
  t.regex(started.body.secret, /^[A-Z2-7]{32}$/);
  t.is(started.body.uri, `otpauth://totp/MyKey:${loginId}?issuer=MyKey&secret=${started.body.secret}&algorithm=SHA1&digits=6&period=30`);
  t.regex(started.body.qrSvg, /^<svg [^>]*viewBox/);
  const wrong = await post(base, '/api/v1/staff/totp/enrolment/confirm', { code: '000000' === totpCode(started.body.secret, Math.floor(Date.now() / 30_000)) ? '111111' : '000000' }, restricted);
  t.like(wrong, { status: 400, body: { code: 'staff_totp_code_invalid' } });

  const state: AccountState = { lastStep: 0, turn: Promise.resolve() };
  const full = await enrolTotp(base, restricted, state);
  t.is(state.recoveryCodes!.length, 10);
  t.is(new Set(state.recoveryCodes).size, 10);
  for (const code of state.recoveryCodes!) t.regex(code, /^[A-Z2-7]{4}-[A-Z2-7]{4}-[A-Z2-7]{4}-[A-Z2-7]{4}$/);
  t.is((await session(base, restricted)).status, 401, 'the restricted session ended');
  t.is((await fetch(`${base}/api/v1/staff/devices`, { headers: { cookie: full } })).status, 200);
  t.like(await post(base, '/api/v1/staff/totp/enrolment', {}, full), { status: 409, body: { code: 'staff_totp_already_enrolled' } });

  // Stored sealed and hashed: neither the secret nor a recovery code is in the database in clear.
  const row = await db('staff_accounts').where({ id }).first('totp_secret_sealed');
  t.false(Buffer.from(row.totp_secret_sealed).includes(state.secret!));
  const stored = await db('staff_recovery_codes').where({ staff_id: id }).select('code_hash');
  t.is(stored.length, 10);
  t.false(stored.some((r) => state.recoveryCodes!.some((code) => Buffer.from(r.code_hash).includes(code.replaceAll('-', '')))));

  // The next sign-in asks for a code; until then the session opens nothing.
  const password = await signIn(base, loginId, DEMO_PASSWORD);
  t.is(password.status, 202);
  t.deepEqual(await password.json(), { next: 'second_factor' });
  const pending = cookieOf(password);
  t.is((await session(base, pending)).status, 401);
  const code = await nextCode(state);
  const signedIn = await post(base, '/api/v1/staff/sessions/second-factor', { code }, pending);
  t.is(signedIn.status, 201);
  t.like(signedIn.body, { staff: { loginId, secondFactor: true } });
  t.not(signedIn.cookie, pending, 'a fresh token after the second factor');
  t.is((await session(base, signedIn.cookie!)).status, 200);

  // The same code again (a replay within its window) is refused, and so is a used recovery code.
  const again = await signIn(base, loginId, DEMO_PASSWORD);
  const replay = await post(base, '/api/v1/staff/sessions/second-factor', { code }, cookieOf(again));
  t.like(replay, { status: 401, body: { code: 'staff_second_factor_invalid' } });
  const recovery = await post(base, '/api/v1/staff/sessions/second-factor', { recoveryCode: state.recoveryCodes![0]!.toLowerCase() }, cookieOf(again));
  t.like(recovery, { status: 201, body: { recoveryCodesLeft: 9 } });
  const third = await signIn(base, loginId, DEMO_PASSWORD);
  t.like(await post(base, '/api/v1/staff/sessions/second-factor', { recoveryCode: state.recoveryCodes![0] }, cookieOf(third)), { status: 401, body: { code: 'staff_second_factor_invalid' } });

  const events = await auditOf(db, `staff:${id}`);
  t.deepEqual(events.map((e) => e.action), ['staff.signed_in', 'staff.totp_enrolled', 'staff.signed_in', 'staff.sign_in_failed', 'staff.signed_in', 'staff.sign_in_failed']);
  t.deepEqual(events.map((e) => e.details.factors ?? e.details.step ?? null), [['password'], null, ['password', 'totp'], 'second_factor', ['password', 'recovery_code'], 'second_factor']);
  t.is(events[0]!.details.restrictedTo, 'totp_enrolment');
});

test('the demo helper enrols municipal staff once and signs them in again with the next code', async (t) => {
  const { base } = await fixture();
  const first = await staffCookie(base, 'demo-city');
  const second = await staffCookie(base, 'demo-city');
  t.not(first, second);
  for (const cookie of [first, second]) t.like(await (await session(base, cookie)).json(), { staff: { loginId: 'demo-city', secondFactor: true } });
});

test('a wrong password and an unknown login get the same answer, and both are audited without the login ID or password', async (t) => {
  const { base, db } = await fixture();
  const { loginId, id } = await newAccount(db, 'merchant');
  const wrong = await signIn(base, loginId, 'not-the-password');
  const unknownId = `nobody-${randomBytes(4).toString('hex')}`;
  const unknown = await signIn(base, unknownId, 'whatever-typed');
  for (const response of [wrong, unknown]) {
    t.is(response.status, 401);
    t.is(response.headers.get('set-cookie'), null);
    t.like(await response.json(), { code: 'staff_credentials_invalid', messages: { ja: 'ログインIDまたはパスワードが違います。' } });
  }
  const [known] = await auditOf(db, `staff:${id}`);
  t.like(known, { action: 'staff.sign_in_failed', actor_kind: 'system', details: { step: 'password', address: '127.0.0.1' } });
  const unknowns = await db('audit_events').where({ subject: 'staff:unknown' }).select('details');
  const text = unknowns.map((row) => JSON.stringify(row.details)).join();
  t.true(unknowns.length >= 1);
  t.false(text.includes(unknownId));
  t.false(text.includes('whatever-typed'));
  t.regex(text, /"loginKey":"[0-9a-f]{32}"/);
});

/** An app of its own: its own Redis prefix, so its failure counts are its own. */
async function ownApp(t: ExecutionContext, config: TestAppDeps['config'] = {}) {
  const { db } = await fixture();
  const cleanup = (fn: () => unknown) => t.teardown(fn);
  const prefix = queuePrefix(cleanup);
  const base = await startApp(cleanup, db, { config: { QUEUE_PREFIX: prefix, ...config } });
  return { db, base, prefix };
}

test('after a few failures an account must wait, whether the ID exists or not, even with the right password', async (t) => {
  const { db, base, prefix } = await ownApp(t);
  const { loginId } = await newAccount(db, 'merchant');
  const redis = new Redis(redisUrl());
  t.teardown(() => redis.disconnect());
  const counted = new Set<string>();
  for (const id of [loginId, 'nobody-at-all']) {
    for (let i = 0; i < ACCOUNT_RULE.free; i++) t.is((await signIn(base, id, 'wrong-password')).status, 401);
    // The failures are counted for this login ID (known or not) over the window.
    const [key, ...others] = (await redis.keys(`${prefix}:staff-sign-in:account:*:failures`)).filter((k) => !counted.has(k));
    t.deepEqual(others, []);
    counted.add(key!);
    t.is(await redis.get(key!), String(ACCOUNT_RULE.free));
    // The third failure's wait is one second, which a loaded machine may spend before the next
    // request arrives; stretched to a minute, the refusal is checked, not the machine's speed
    // (the schedule itself: the test below).
    await redis.set(key!.replace(/:failures$/, ':wait'), 1, 'PX', 60_000);
    const delayed = await signIn(base, id, id === loginId ? DEMO_PASSWORD : 'wrong-password');
    t.is(delayed.status, 429);
    t.true(Number(delayed.headers.get('retry-after')) > 50);
    t.like(await delayed.json(), { code: 'staff_sign_in_delayed' });
  }
});

test('the delay grows with each failure and ends in a lock, per account and per address', async (t) => {
  t.deepEqual([1, 2, 3, 4, 5, 9, 10].map((n) => waitAfter(n, ACCOUNT_RULE)), [0, 0, 1000, 2000, 4000, 60_000, LOCK_MS]);
  const redis = new Redis(redisUrl());
  t.teardown(() => redis.disconnect());
  const limit = signInLimit(redis, queuePrefix((fn) => t.teardown(fn)));
  for (let i = 0; i < ACCOUNT_RULE.lockAt; i++) await limit.recordFailure('account-a', '192.0.2.1');
  const locked = await limit.wait('account-a', '192.0.2.99');
  t.true(locked.locked);
  t.true(locked.seconds > 14 * 60 && locked.seconds <= 15 * 60);
  t.like(await limit.wait('account-b', '192.0.2.1'), { seconds: 0 }, 'ten failures are within an address\'s allowance');
  await limit.clearAccount('account-a');
  t.deepEqual(await limit.wait('account-a', '192.0.2.99'), { seconds: 0, locked: false });
});

test('a locked account is answered with its own code and Retry-After', async (t) => {
  const { db, base, prefix } = await ownApp(t);
  const { loginId } = await newAccount(db, 'merchant');
  t.is((await signIn(base, loginId, 'wrong-password')).status, 401);
  // The nine failures before the lock, straight into the counter the first failure started.
  const redis = new Redis(redisUrl());
  t.teardown(() => redis.disconnect());
  const [key] = await redis.keys(`${prefix}:staff-sign-in:account:*:failures`);
  await redis.set(key!, ACCOUNT_RULE.lockAt - 1, 'KEEPTTL');
  await redis.del(key!.replace(/:failures$/, ':wait'));
  t.is((await signIn(base, loginId, 'wrong-password')).status, 401);
  const locked = await signIn(base, loginId, DEMO_PASSWORD);
  t.is(locked.status, 429);
  t.true(Number(locked.headers.get('retry-after')) > 800);
  t.like(await locked.json(), { code: 'staff_sign_in_locked', messages: { en: 'Sign-in is locked for a while after repeated failures. Please try again in about 15 minutes, and tell your administrator if it was not you.' } });
});

// The suite hashes at scrypt's least cost (scripts/test.ts); this test runs an app at production's.
test('a password made at a lower cost is hashed again at OWASP\'s cost when its owner signs in, and never made cheaper', async (t) => {
  const { base, db } = await ownApp(t, { STAFF_PASSWORD_SCRYPT_N: OWASP_SCRYPT_N });
  const salt = randomBytes(16);
  const old = `scrypt$16384$8$1$${salt.toString('base64')}$${scryptSync(DEMO_PASSWORD, salt, 32, { N: 16384, r: 8, p: 1 }).toString('base64')}`;
  const { loginId, id } = await newAccount(db, 'merchant', old);
  t.is((await signIn(base, loginId, DEMO_PASSWORD)).status, 201);
  const { password_hash: stored } = await db('staff_accounts').where({ id }).first('password_hash');
  t.regex(stored, /^scrypt\$131072\$8\$1\$/);
  t.is((await signIn(base, loginId, DEMO_PASSWORD)).status, 201);
  const cheaper = await ownApp(t, { STAFF_PASSWORD_SCRYPT_N: 1024 });
  t.is((await signIn(cheaper.base, loginId, DEMO_PASSWORD)).status, 201);
  t.like(await db('staff_accounts').where({ id }).first('password_hash'), { password_hash: stored }, 'an app set to a lower cost leaves a dearer hash as it is');
});

test('a password change needs the current password, refuses short and common ones, and ends every session', async (t) => {
  const { base, db } = await fixture();
  const { loginId, id } = await newAccount(db, 'merchant');
  const [here, elsewhere] = [cookieOf(await signIn(base, loginId, DEMO_PASSWORD)), cookieOf(await signIn(base, loginId, DEMO_PASSWORD))];
  const change = (currentPassword: string, newPassword: string) => post(base, '/api/v1/staff/password', { currentPassword, newPassword }, here);
  t.like(await change('not-the-password', 'a brand new phrase'), { status: 403, body: { code: 'staff_current_password_wrong' } });
  t.like(await change(DEMO_PASSWORD, 'short-one'), { status: 400, body: { code: 'staff_password_too_short' } });
  t.like(await change(DEMO_PASSWORD, 'QWERTY123456'), { status: 400, body: { code: 'staff_password_common' } });
  t.like(await change(DEMO_PASSWORD, loginId), { status: 400, body: { code: 'staff_password_common' } });
  t.is((await session(base, elsewhere)).status, 200, 'refused changes end nothing');

  const changed = await change(DEMO_PASSWORD, 'よく晴れた朝の市立図書館で');
  t.like(changed, { status: 200, body: { staff: { loginId } } });
  t.is((await session(base, here)).status, 401);
  t.is((await session(base, elsewhere)).status, 401);
  t.is((await session(base, changed.cookie!)).status, 200, 'the changer goes on in a fresh session');
  t.is((await signIn(base, loginId, DEMO_PASSWORD)).status, 401);
  t.is((await signIn(base, loginId, 'よく晴れた朝の市立図書館で')).status, 201);
  t.true((await auditOf(db, `staff:${id}`)).some((e) => e.action === 'staff.password_changed'));
});

test('sign out everywhere ends every session of the account and no one else\'s', async (t) => {
  const { base, db } = await fixture();
  const { loginId, id } = await newAccount(db, 'merchant');
  const other = await newAccount(db, 'merchant');
  const [a, b, c] = await Promise.all([loginId, loginId, other.loginId].map(async (login) => cookieOf(await signIn(base, login, DEMO_PASSWORD))));
  t.is((await fetch(`${base}/api/v1/staff/sessions`, { method: 'DELETE', headers: { cookie: a! } })).status, 204);
  t.is((await session(base, a!)).status, 401);
  t.is((await session(base, b!)).status, 401);
  t.is((await session(base, c!)).status, 200);
  t.like((await auditOf(db, `staff:${id}`)).at(-1), { action: 'staff.signed_out_everywhere', details: { sessions: 2 } });
});

test('a forged, expired or idle session cookie is refused', async (t) => {
  const { base, db } = await fixture();
  t.is((await fetch(`${base}/api/v1/staff/session`, { headers: { cookie: 'mykey_staff=forged' } })).status, 401);
  const { loginId } = await newAccount(db, 'merchant');
  for (const column of ['expires_at', 'last_seen_at']) {
    const cookie = cookieOf(await signIn(base, loginId, DEMO_PASSWORD));
    t.is((await session(base, cookie)).status, 200);
    const token = cookie.slice('mykey_staff='.length);
    // 30 minutes and a second unused: idle; a second past the end: expired.
    const past = new Date(Date.now() - (column === 'last_seen_at' ? 1_801_000 : 1000));
    t.is(await db('staff_sessions').where({ token_hash: tokenHash(token) }).update({ [column]: past }), 1);
    t.is((await session(base, cookie)).status, 401, column);
  }
});

test('the purge job deletes ended sessions and keeps live ones', async (t) => {
  const { base, db } = await fixture();
  const { loginId, id } = await newAccount(db, 'merchant');
  const tokens = await Promise.all([0, 1, 2].map(async () => cookieOf(await signIn(base, loginId, DEMO_PASSWORD)).slice('mykey_staff='.length)));
  const past = new Date(Date.now() - 2 * 3600_000);
  await db('staff_sessions').where({ token_hash: tokenHash(tokens[0]!) }).update({ expires_at: past });
  await db('staff_sessions').where({ token_hash: tokenHash(tokens[1]!) }).update({ last_seen_at: past });
  t.true(await purgeEndedSessions(db, silentLog) >= 2);
  t.deepEqual((await db('staff_sessions').where({ staff_id: id }).select('token_hash')).map((row) => Buffer.from(row.token_hash).toString('hex')), [tokenHash(tokens[2]!).toString('hex')]);
});

test('behind a trusted proxy the cookie is __Host- and Secure over HTTPS, and the audit has the client address', async (t) => {
  const { db, base } = await ownApp(t, { TRUST_PROXY: true });
  const { loginId, id } = await newAccount(db, 'merchant');
  const secure = await signIn(base, loginId, DEMO_PASSWORD, { 'X-Forwarded-Proto': 'https', 'X-Forwarded-For': '198.51.100.7, 203.0.113.9' });
  t.is(secure.status, 201);
  t.regex(secure.headers.get('set-cookie') ?? '', /^__Host-mykey_staff=[A-Za-z0-9_-]{43}; path=\/; expires=[^;]+; samesite=strict; secure; httponly$/);
  const token = cookieOf(secure).split('=')[1];
  const current = await fetch(`${base}/api/v1/staff/session`, { headers: { cookie: `__Host-mykey_staff=${token}`, 'X-Forwarded-Proto': 'https' } });
  t.is(current.status, 200);
  t.is((await fetch(`${base}/api/v1/staff/session`, { headers: { cookie: `mykey_staff=${token}`, 'X-Forwarded-Proto': 'https' } })).status, 401, 'over HTTPS only the prefixed cookie counts');
  // Only the address the proxy added is believed, not what the client wrote before it.
  t.like((await auditOf(db, `staff:${id}`))[0], { action: 'staff.signed_in', details: { address: '203.0.113.9' } });
});

test('in production a password comes only over HTTPS, or over the loopback interface', async (t) => {
  const { db, base } = await ownApp(t, { NODE_ENV: 'production', TRUST_PROXY: true });
  const { loginId } = await newAccount(db, 'merchant');
  const plain = await signIn(base, loginId, DEMO_PASSWORD, { 'X-Forwarded-For': '203.0.113.9' });
  t.is(plain.status, 403);
  t.is(plain.headers.get('set-cookie'), null);
  t.like(await plain.json(), { code: 'staff_sign_in_insecure', messages: { ja: '安全な接続（HTTPS）でのみサインインできます。' } });
  t.is((await signIn(base, loginId, DEMO_PASSWORD, { 'X-Forwarded-For': '203.0.113.9', 'X-Forwarded-Proto': 'https' })).status, 201);
  // npm start's demo on http://127.0.0.1: nobody on the network sees it.
  const local = await signIn(base, loginId, DEMO_PASSWORD);
  t.is(local.status, 201);
  t.regex(local.headers.get('set-cookie') ?? '', /^mykey_staff=/);
});

test('without Redis, sign-in is refused as unavailable rather than left unthrottled', async (t) => {
  const { db } = await fixture();
  const redis = createRedis('redis://127.0.0.1:1', silentLog);
  t.teardown(() => redis.disconnect());
  const base = await startApp((fn) => t.teardown(fn), db, { redis });
  const response = await signIn(base, 'demo-shop', DEMO_PASSWORD);
  t.is(response.status, 503);
  t.is(response.headers.get('set-cookie'), null);
  t.like(await response.json(), { code: 'staff_sign_in_unavailable' });
});
