// Reader agents as devices: codes issued by staff, enrollment, bearer tokens, revocation.
import test, { type ExecutionContext } from 'ava';
import { createHash, randomUUID } from 'node:crypto';
import { once } from 'node:events';
import type { AddressInfo } from 'node:net';
import Koa from 'koa';
import Router from '@koa/router';
import { fileFixture, silentLog, testDatabase } from './helpers/env.ts';
import { startApp } from './helpers/server.ts';
import { demoPasswordHash, staffCookie } from './helpers/staff.ts';
import { DEMO_MUNICIPALITY, DEMO_PASSWORD } from '@mykey/dev-tools/demo-towns.ts';
import { FAILURE_LIMIT } from '../src/one-time-code-limit.ts';
import { verifyAuditChain } from '../src/audit/chain.ts';
import { problemMiddleware } from '../src/http/errors.ts';
import { requestContext } from '../src/http/request-context.ts';
import { requireRole, requireStaff, signedInStaff } from '../src/staff/middleware.ts';

const CODE = /^[2-9A-HJ-NP-Z]{4}-[2-9A-HJ-NP-Z]{4}-[2-9A-HJ-NP-Z]{2}$/;
const OTHER_SHOP = 'test-greengrocer';

const fixture = fileFixture(test, async (cleanup) => {
  const { db } = await testDatabase(cleanup);
  await db.seed.run();
  // A clerk of another shop in the same town.
  const { id: merchantId } = await db('merchants').where({ slug: 'demo-greengrocer' }).first('id');
  await db('staff_accounts').insert({ login_id: OTHER_SHOP, display_name: '青果 次郎', organization_kind: 'merchant', roles: 'owner', merchant_id: merchantId, password_hash: await demoPasswordHash() });
  return { db, base: await startApp(cleanup, db) };
});

/**
 * An app of its own, with a clock the test sets (expiry without sleeping) and its own count
 * of wrong codes (every test here comes from 127.0.0.1, and the limit is per address).
 */
async function ownApp(t: ExecutionContext) {
  const { db } = await fixture();
  let now = new Date();
  const base = await startApp((fn) => t.teardown(fn), db, { clock: () => new Date(now) });
  return { base, db, setTime: (at: Date) => { now = at; }, now: () => now };
}

const signIn = (base: string, loginId: string) => staffCookie(base, loginId);

async function call(base: string, method: string, path: string, options: { cookie?: string; key?: string; body?: unknown; headers?: Record<string, string> } = {}) {
  const headers: Record<string, string> = { ...options.headers };
  if (options.cookie) headers.cookie = options.cookie;
  if (options.key) headers['Idempotency-Key'] = options.key;
  if (options.body !== undefined) headers['Content-Type'] = 'application/json';
  const response = await fetch(`${base}${path}`, { method, headers, body: options.body === undefined ? undefined : JSON.stringify(options.body) });
  return { status: response.status, headers: response.headers, body: await response.json() };
}

function issueCode(base: string, cookie: string, name: string, key = randomUUID()) {
  return call(base, 'POST', '/api/v1/staff/device-enrollment-codes', { cookie, key, body: { name } });
}

function enroll(base: string, code: string, name?: string) {
  return call(base, 'POST', '/api/v1/devices', { body: name === undefined ? { code } : { code, name } });
}

function asDevice(base: string, authorization: string) {
  return call(base, 'GET', '/api/v1/devices/self', { headers: { Authorization: authorization } });
}

async function enrolledDevice(base: string, cookie: string, name: string): Promise<{ deviceId: number; token: string; organization: unknown }> {
  const issued = await issueCode(base, cookie, name);
  const enrolled = await enroll(base, issued.body.code);
  if (enrolled.status !== 201) throw new Error(`enroll: ${JSON.stringify(enrolled.body)}`);
  return enrolled.body;
}

function revoke(base: string, cookie: string, id: number | string, key = randomUUID()) {
  return call(base, 'POST', `/api/v1/staff/devices/${id}/revocation`, { cookie, key });
}

const sha256 = (value: string) => createHash('sha256').update(value).digest();

test('a clerk issues a code, the agent enrolls with it, and the shop sees its device', async (t) => {
  const { base, db } = await fixture();
  const cookie = await signIn(base, 'demo-shop');
  const before = Date.now();
  const issued = await issueCode(base, cookie, 'レジ1番');
  t.is(issued.status, 201);
  t.regex(issued.body.code, CODE);
  t.is(issued.body.name, 'レジ1番');
  const expiresIn = Date.parse(issued.body.expiresAt) - before;
  t.true(expiresIn > 9 * 60_000 && expiresIn <= 10 * 60_000 + 5_000, `expires in ${expiresIn} ms`);

  const enrolled = await enroll(base, issued.body.code.toLowerCase().replaceAll('-', ' '));
  t.is(enrolled.status, 201, JSON.stringify(enrolled.body));
  t.is(enrolled.headers.get('cache-control'), 'no-store');
  t.regex(enrolled.body.token, /^mkd_[A-Za-z0-9_-]{43}$/);
  t.is(enrolled.body.name, 'レジ1番');
  t.like(enrolled.body.organization, { kind: 'merchant', name: { ja: 'みらいベーカリー', en: 'Mirai Bakery' } });

  const self = await asDevice(base, `Bearer ${enrolled.body.token}`);
  t.is(self.status, 200);
  t.deepEqual(self.body, { deviceId: enrolled.body.deviceId, organization: { kind: 'merchant', id: enrolled.body.organization.id } });

  const list = await call(base, 'GET', '/api/v1/staff/devices', { cookie });
  t.is(list.status, 200);
  t.is(list.headers.get('cache-control'), 'no-store');
  const device = list.body.devices.find((d: { id: number }) => d.id === enrolled.body.deviceId);
  t.like(device, { name: 'レジ1番', status: 'active', revokedAt: null });
  t.truthy(device.lastSeenAt, 'the request above was seen');

  // Only hashes are kept: neither the code nor the token is in the database.
  const code = issued.body.code.replaceAll('-', '');
  const codeRow = await db('device_enrollment_codes').where({ code_hash: sha256(code) }).first();
  t.is(codeRow.device_id, enrolled.body.deviceId);
  t.truthy(codeRow.used_at);
  const deviceRow = await db('devices').where({ id: enrolled.body.deviceId }).first();
  t.deepEqual(deviceRow.token_hash, sha256(enrolled.body.token));
  t.false(JSON.stringify([codeRow, deviceRow]).includes(code));
});

test('the agent may name the device at enrollment', async (t) => {
  const { base } = await fixture();
  const cookie = await signIn(base, 'demo-shop');
  const issued = await issueCode(base, cookie, '仮の名前');
  const enrolled = await enroll(base, issued.body.code, '  窓口2番 ');
  t.is(enrolled.body.name, '窓口2番');
  const list = await call(base, 'GET', '/api/v1/staff/devices', { cookie });
  t.is(list.body.devices.find((d: { id: number }) => d.id === enrolled.body.deviceId).name, '窓口2番');
});

test('a code works once; a used, an unknown and a malformed code get one and the same answer', async (t) => {
  const { base } = await ownApp(t);
  const cookie = await signIn(base, 'demo-shop');
  const { body: { code } } = await issueCode(base, cookie, 'once');
  t.is((await enroll(base, code)).status, 201);
  const answers = [await enroll(base, code), await enroll(base, 'ZZZZ-ZZZZ-ZZ'), await enroll(base, 'not a code at all')];
  for (const answer of answers) {
    t.is(answer.status, 400);
    t.like(answer.body, { code: 'device_enrollment_code_invalid', detail: answers[0]!.body.detail, messages: answers[0]!.body.messages });
    t.regex(answer.body.messages.ja, /登録コード/);
  }
});

test('a code expires ten minutes after it was issued', async (t) => {
  const { base, setTime } = await ownApp(t);
  const cookie = await signIn(base, 'demo-shop');
  const issuedAt = new Date('2026-11-22T09:00:00.000Z');
  setTime(issuedAt);
  const first = await issueCode(base, cookie, 'expiry 1');
  const second = await issueCode(base, cookie, 'expiry 2');
  t.is(first.body.expiresAt, '2026-11-22T09:10:00.000Z');
  setTime(new Date(issuedAt.getTime() + 10 * 60_000 - 1));
  t.is((await enroll(base, first.body.code)).status, 201, 'still valid a millisecond before');
  setTime(new Date(issuedAt.getTime() + 10 * 60_000));
  t.is((await enroll(base, second.body.code)).body.code, 'device_enrollment_code_invalid');
});

test('two agents racing with one code: exactly one device is enrolled', async (t) => {
  const { base, db } = await ownApp(t);
  const cookie = await signIn(base, 'demo-shop');
  const { body: { code } } = await issueCode(base, cookie, 'race');
  const answers = await Promise.all(Array.from({ length: 8 }, () => enroll(base, code)));
  t.deepEqual(answers.map((a) => a.status).sort(), [201, 400, 400, 400, 400, 400, 400, 400]);
  t.is((await db('devices').where({ name: 'race' }).count({ n: '*' }))[0]!.n, 1);
});

test('staff of another organization can neither list nor revoke a device', async (t) => {
  const { base } = await fixture();
  const owner = await signIn(base, 'demo-shop');
  const { deviceId, token } = await enrolledDevice(base, owner, 'ours');
  for (const other of [await signIn(base, OTHER_SHOP), await signIn(base, 'demo-city')]) {
    const list = await call(base, 'GET', '/api/v1/staff/devices', { cookie: other });
    t.is(list.status, 200);
    t.false(list.body.devices.some((d: { id: number }) => d.id === deviceId));
    const refused = await revoke(base, other, deviceId);
    t.is(refused.status, 404);
    t.is(refused.body.code, 'device_not_found');
  }
  t.is((await asDevice(base, `Bearer ${token}`)).status, 200, 'still enrolled');
  t.is((await revoke(base, owner, 999_999_999)).body.code, 'device_not_found');
  t.is((await revoke(base, owner, 'abc')).body.code, 'device_not_found');
});

test('a device of the municipality belongs to the municipality', async (t) => {
  const { base } = await fixture();
  const city = await signIn(base, 'demo-city');
  const { deviceId, organization } = await enrolledDevice(base, city, '市役所 窓口');
  t.like(organization, { kind: 'municipality', id: DEMO_MUNICIPALITY.code, name: { ja: DEMO_MUNICIPALITY.name_ja, en: DEMO_MUNICIPALITY.name_en } }, "the agent is told its town's names");
  const list = await call(base, 'GET', '/api/v1/staff/devices', { cookie: city });
  t.true(list.body.devices.some((d: { id: number }) => d.id === deviceId));
  const shop = await call(base, 'GET', '/api/v1/staff/devices', { cookie: await signIn(base, 'demo-shop') });
  t.false(shop.body.devices.some((d: { id: number }) => d.id === deviceId));
});

test('issuing a code is idempotent: a retry gets the same code, a changed request is refused', async (t) => {
  const { base, db } = await fixture();
  const cookie = await signIn(base, 'demo-shop');
  const key = randomUUID();
  const first = await issueCode(base, cookie, 'idempotent', key);
  const retry = await issueCode(base, cookie, 'idempotent', key);
  t.is(retry.status, 201);
  t.deepEqual(retry.body, first.body);
  t.is(retry.headers.get('idempotent-replayed'), 'true');
  t.is((await db('device_enrollment_codes').where({ device_name: 'idempotent' }).count({ n: '*' }))[0]!.n, 1);
  const changed = await issueCode(base, cookie, 'something else', key);
  t.is(changed.status, 409);
  t.is(changed.body.code, 'idempotency_key_reused');
  const keyless = await call(base, 'POST', '/api/v1/staff/device-enrollment-codes', { cookie, body: { name: 'no key' } });
  t.is(keyless.body.code, 'idempotency_key_required');
});

test('revoking is idempotent, and revoking twice is fine', async (t) => {
  const { base } = await fixture();
  const cookie = await signIn(base, 'demo-shop');
  const { deviceId } = await enrolledDevice(base, cookie, 'revoke twice');
  const key = randomUUID();
  const first = await revoke(base, cookie, deviceId, key);
  t.is(first.status, 200);
  t.like(first.body.device, { id: deviceId, status: 'revoked' });
  t.truthy(first.body.device.revokedAt);
  const retry = await revoke(base, cookie, deviceId, key);
  t.deepEqual(retry.body, first.body);
  t.is(retry.headers.get('idempotent-replayed'), 'true');
  const again = await revoke(base, cookie, deviceId);
  t.is(again.status, 200);
  t.is(again.headers.get('idempotent-replayed'), null);
  t.deepEqual(again.body, first.body, 'the first revocation stands');
});

test('a revoked device is device_unknown from its next request on', async (t) => {
  const { base } = await fixture();
  const cookie = await signIn(base, 'demo-shop');
  const { deviceId, token } = await enrolledDevice(base, cookie, 'to revoke');
  t.is((await asDevice(base, `Bearer ${token}`)).status, 200);
  await revoke(base, cookie, deviceId);
  const refused = await asDevice(base, `Bearer ${token}`);
  t.is(refused.status, 401);
  t.is(refused.headers.get('www-authenticate'), 'Bearer realm="mykey-device"');
  t.like(refused.body, { code: 'device_unknown', messages: { ja: 'この端末は登録されていないか、登録が取り消されています。コンソールで登録コードを発行し、登録し直してください。' } });
  const list = await call(base, 'GET', '/api/v1/staff/devices', { cookie });
  t.like(list.body.devices.find((d: { id: number }) => d.id === deviceId), { status: 'revoked' });
});

test('missing, malformed and unknown Authorization headers are all device_unknown', async (t) => {
  const { base } = await fixture();
  const cookie = await signIn(base, 'demo-shop');
  const { token } = await enrolledDevice(base, cookie, 'headers');
  const unknown = `mkd_${'A'.repeat(43)}`;
  const headers = ['', 'Bearer', 'Bearer ', `Basic ${token}`, `Bearer ${token} extra`, `Bearer  ${token}`, `Bearer ${token.slice(0, -1)}`,
    `Bearer ${token}x`, `Bearer ${token.slice(4)}`, `Bearer ${unknown}`, `Bearer ${'x'.repeat(8000)}`, `Bearer ${token.replace('mkd_', 'mks_')}`];
  for (const authorization of headers) {
    const answer = await asDevice(base, authorization);
    t.is(answer.status, 401, authorization.slice(0, 60));
    t.is(answer.body.code, 'device_unknown');
  }
  t.is((await call(base, 'GET', '/api/v1/devices/self', { cookie })).body.code, 'device_unknown', 'a staff session is not a device');
  t.is((await asDevice(base, `bearer ${token}`)).status, 200, 'the scheme is case-insensitive');
});

test('last seen moves at most once a minute', async (t) => {
  const { base, db, setTime } = await ownApp(t);
  const cookie = await signIn(base, 'demo-shop');
  const start = new Date('2026-11-22T10:00:00.000Z');
  setTime(start);
  const { deviceId, token } = await enrolledDevice(base, cookie, 'seen');
  const lastSeen = async () => (await db('devices').where({ id: deviceId }).first('last_seen_at')).last_seen_at as Date | null;
  t.is(await lastSeen(), null, 'enrolling is not being seen');
  await asDevice(base, `Bearer ${token}`);
  t.deepEqual(await lastSeen(), start);
  setTime(new Date(start.getTime() + 59_999));
  await asDevice(base, `Bearer ${token}`);
  t.deepEqual(await lastSeen(), start, 'not written again within the minute');
  const later = new Date(start.getTime() + 60_001);
  setTime(later);
  await asDevice(base, `Bearer ${token}`);
  t.deepEqual(await lastSeen(), later);
});

test('wrong codes are limited per address; past the limit even a right code waits', async (t) => {
  const { base, db } = await ownApp(t);
  const cookie = await signIn(base, 'demo-shop');
  const { body: { code } } = await issueCode(base, cookie, 'limited');
  for (let attempt = 0; attempt < FAILURE_LIMIT; attempt++) t.is((await enroll(base, 'ZZZZ-ZZZZ-ZZ')).status, 400);
  const refused = await enroll(base, code);
  t.is(refused.status, 429);
  t.is(refused.body.code, 'device_enrollment_rate_limited');
  t.regex(refused.headers.get('retry-after') ?? '', /^[1-9][0-9]*$/);
  t.true(Number(refused.headers.get('retry-after')) <= 600);
  t.is((await db('device_enrollment_codes').where({ device_name: 'limited' }).first('used_at')).used_at, null, 'the code was not spent');
});

test('staff endpoints need a session, and bodies are checked', async (t) => {
  const { base } = await fixture();
  t.is((await call(base, 'GET', '/api/v1/staff/devices')).body.code, 'staff_session_required');
  t.is((await call(base, 'POST', '/api/v1/staff/device-enrollment-codes', { key: randomUUID(), body: { name: 'x' } })).body.code, 'staff_session_required');
  t.is((await revoke(base, 'mykey_staff=forged', 1)).body.code, 'staff_session_required');
  const cookie = await signIn(base, 'demo-shop');
  for (const body of [{}, { name: '' }, { name: '   ' }, { name: 'x'.repeat(101) }, { name: 'ok', extra: 1 }]) {
    t.is((await call(base, 'POST', '/api/v1/staff/device-enrollment-codes', { cookie, key: randomUUID(), body })).body.code, 'request_invalid', JSON.stringify(body));
  }
  for (const body of [{}, { code: 5 }, { code: 'x'.repeat(65) }, { code: 'ABCD-EFGH-JK', name: '' }]) {
    t.is((await call(base, 'POST', '/api/v1/devices', { body })).body.code, 'request_invalid', JSON.stringify(body));
  }
});

test('issuing, enrolling and revoking are in the audit log, once each, without names', async (t) => {
  const { base, db } = await fixture();
  const cookie = await signIn(base, 'demo-shop');
  const { id: staffId } = await db('staff_accounts').where({ login_id: 'demo-shop' }).first('id');
  const key = randomUUID();
  const issued = await issueCode(base, cookie, '監査テスト端末', key);
  await issueCode(base, cookie, '監査テスト端末', key);
  const { id: codeId } = await db('device_enrollment_codes').where({ device_name: '監査テスト端末' }).first('id');
  const { body: { deviceId } } = await enroll(base, issued.body.code);
  await revoke(base, cookie, deviceId);
  await revoke(base, cookie, deviceId);

  const events = await db('audit_events').whereIn('subject', [`device_enrollment_code:${codeId}`, `device:${deviceId}`]).orderBy('seq');
  t.deepEqual(events.map((e) => [e.action, e.actor_kind, e.actor_id, e.subject]), [
    ['device.enrollment_code_issued', 'staff', String(staffId), `device_enrollment_code:${codeId}`],
    ['device.enrolled', 'device', String(deviceId), `device:${deviceId}`],
    ['device.revoked', 'staff', String(staffId), `device:${deviceId}`],
  ]);
  const organization = (await db('staff_accounts').where({ id: staffId }).first('merchant_id')).merchant_id;
  for (const event of events) {
    const details = typeof event.details === 'string' ? JSON.parse(event.details) : event.details;
    t.is(details.organization, `merchant:${organization}`);
    t.false(JSON.stringify(details).includes('監査'), 'no device name in the log');
  }
  t.like(await verifyAuditChain(db), { ok: true });
});

test('requireRole lets only staff holding one of its roles through', async (t) => {
  const { base, db } = await fixture();
  const app = new Koa();
  app.silent = true;
  app.use(requestContext(silentLog));
  app.use(problemMiddleware);
  const router = new Router();
  router.get('/municipal', requireStaff(db), requireRole('operator'), (ctx) => { ctx.body = { loginId: signedInStaff(ctx).loginId }; });
  app.use(router.routes());
  const server = app.listen(0, '127.0.0.1');
  await once(server, 'listening');
  t.teardown(() => server.close());
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/municipal`;
  const city = await fetch(url, { headers: { cookie: await signIn(base, 'demo-city') } });
  t.deepEqual(await city.json(), { loginId: 'demo-city' });
  // A shop's owner and the town's auditor hold no operator role.
  for (const other of ['demo-shop', 'demo-auditor']) {
    const refused = await fetch(url, { headers: { cookie: await signIn(base, other) } });
    t.is(refused.status, 403, other);
    t.is((await refused.json()).code, 'staff_role_forbidden', other);
  }
  t.is((await (await fetch(url)).json()).code, 'staff_session_required');
});
