import Router from '@koa/router';
import { DEVICE_NAME_MAX } from '@mykey/contracts/limits.ts';
import type { Redis } from 'ioredis';
import { z } from 'zod';
import type { Db } from '../db.ts';
import { readJson } from '../http/body.ts';
import { idempotencyKey, respond, runIdempotent } from '../http/idempotency.ts';
import { Problem } from '../http/problems.ts';
import { requireStaff, signedInStaff, staffWith } from '../staff/middleware.ts';
import { oneTimeCodeLimit } from '../one-time-code-limit.ts';
import { enrolledDevice, requireDevice } from './middleware.ts';
import { devicesRepository } from './repository.ts';
import { enroll, issueCode, registerJournalKey, revoke } from './service.ts';
import { described } from '../http/described.ts';

const deviceName = z.string().trim().min(1).max(DEVICE_NAME_MAX);
const issueBody = z.object({ name: deviceName }).strict();
const enrollBody = z.object({ code: z.string().max(64), name: deviceName.optional() }).strict();
const DEVICE_ID = /^[1-9][0-9]{0,15}$/;
// An Ed25519 SPKI is 44 bytes; a little room, no more.
const journalKeyBody = z.object({ publicKey: z.base64().max(128) }).strict();

export interface DeviceRoutesDeps { db: Db; redis: Redis; keyPrefix: string; clock: () => Date }

/** Staff manage their organization's devices; an agent enrolls with a code and then is a device. */
export function deviceRoutes({ db, redis, keyPrefix, clock }: DeviceRoutesDeps): Router {
  const router = new Router({ prefix: '/api/v1' });
  const limit = oneTimeCodeLimit(redis, keyPrefix);
  // Every staff member sees the organization's devices; the operator or the shop's owner changes them.
  const reads = requireStaff(db);
  const manages = staffWith(db, 'operator', 'owner');

  router.post('/staff/device-enrollment-codes', described({ summary: 'A one-time code to enroll a reader agent, valid ten minutes', caller: 'staff', body: issueBody, example: { name: '窓口1' }, idempotent: true, responses: { 201: 'The code and when it expires.' } }), ...manages, async (ctx) => {
    const staff = signedInStaff(ctx);
    const key = idempotencyKey(ctx);
    const { name } = await readJson(ctx, issueBody);
    // The stored answer holds the code, for a retry after a lost response. It is as short-lived
    // as the code itself: unusable after ten minutes or its one use.
    respond(ctx, await runIdempotent(db, { scope: `staff:${staff.id}`, key, request: { op: 'issue-device-enrollment-code', name } },
      async (trx) => ({ status: 201, body: await issueCode(trx, staff, name, clock()) })));
  });

  router.get('/staff/devices', described({ summary: 'The organization\'s devices', caller: 'staff', responses: { 200: 'Every device, active or revoked.' } }), reads, async (ctx) => {
    ctx.body = { devices: await devicesRepository.list(db, signedInStaff(ctx).organization) };
  });

  router.post('/staff/devices/:id/revocation', described({ summary: 'Revoke a device: its token stops working at once', caller: 'staff', idempotent: true, params: z.object({ id: z.string().regex(DEVICE_ID) }), responses: { 200: 'The device, revoked.' }, problems: ['device_not_found'] }), ...manages, async (ctx) => {
    const staff = signedInStaff(ctx);
    const key = idempotencyKey(ctx);
    if (!DEVICE_ID.test(ctx.params.id!)) throw new Problem('device_not_found');
    const id = Number(ctx.params.id);
    respond(ctx, await runIdempotent(db, { scope: `staff:${staff.id}`, key, request: { op: 'revoke-device', id } },
      async (trx) => ({ status: 200, body: { device: await revoke(trx, staff, id, clock()) } })));
  });

  // No session: the code is the credential, so failures count against the caller's address.
  router.post('/devices', described({
    summary: 'Enroll a reader agent with a one-time code', caller: 'anyone', body: enrollBody, example: { code: 'ABCD-EFGH-JKLM', name: '窓口1' },
    description: 'The code is the credential; wrong codes count against the caller\'s address.',
    responses: { 201: 'The device\'s id, organization and bearer token (shown this once).' },
    problems: ['device_enrollment_code_invalid', 'device_enrollment_rate_limited'],
  }), async (ctx) => {
    const { code, name } = await readJson(ctx, enrollBody);
    const wait = await limit.secondsToWait(ctx.ip);
    if (wait > 0) {
      ctx.state.log.warn({ address: ctx.ip }, 'device enrollment refused: too many wrong codes');
      ctx.set('Retry-After', String(wait));
      throw new Problem('device_enrollment_rate_limited', `Try again in ${wait} s.`, { retryAfterSeconds: wait });
    }
    const enrollment = await enroll(db, code, name, clock()).catch(async (error: unknown) => {
      if (error instanceof Problem && error.code === 'device_enrollment_code_invalid') await limit.recordFailure(ctx.ip);
      throw error;
    });
    ctx.set('Cache-Control', 'no-store');
    ctx.status = 201;
    ctx.body = enrollment;
  });

  // For an agent to check its enrollment still holds.
  router.get('/devices/self', described({ summary: 'The calling device: is its enrollment still good', caller: 'device', responses: { 200: 'The device\'s id and organization.' } }), requireDevice(db, clock), async (ctx) => {
    const device = enrolledDevice(ctx);
    ctx.body = { deviceId: device.id, organization: device.organization };
  });

  // The key the device's agent signs its offline journal with (docs/tap-journal.md).
  router.put('/devices/self/journal-key', described({ summary: 'Register the Ed25519 key the device signs its tap journal with', caller: 'device', body: journalKeyBody, example: { publicKey: 'MCowBQYDK2VwAyEAGb9ECWmEzf6FQbrBZ9w7lshQhqowtrbLDFw4rXAxZuE=' }, idempotent: true, responses: { 200: 'The key, registered.' }, problems: ['journal_key_taken'] }), requireDevice(db, clock), async (ctx) => {
    const device = enrolledDevice(ctx);
    const key = idempotencyKey(ctx);
    const { publicKey } = await readJson(ctx, journalKeyBody);
    respond(ctx, await runIdempotent(db, { scope: `device:${device.id}`, key, request: { op: 'journal-key', publicKey } },
      async (trx) => ({ status: 200, body: await registerJournalKey(trx, device, Buffer.from(publicKey, 'base64'), clock()) })));
  });

  return router;
}
