// Renewal, suspension and tenancy of MyKey IDs. A resident relinks at a device with both cards,
// or moves their ID's home to the town of a device; the home town's staff look a MyKey ID up,
// link a new card after checking the person's documents, and suspend or reinstate it; any
// town's staff block it from their own town's services and see their own town's events of it.
// The third way of renewal, J-LIS's linkage file, is a command (linkage.ts).
import Router from '@koa/router';
import type { Context } from 'koa';
import { z } from 'zod';
import type { Db } from '../db.ts';
import { readJson } from '../http/body.ts';
import { idempotencyKey, respond, runIdempotent } from '../http/idempotency.ts';
import { Problem } from '../http/problems.ts';
import { challengeRepository } from '../card-taps/repository.ts';
import { enrolledDevice, requireDevice } from '../devices/middleware.ts';
import { devicesRepository } from '../devices/repository.ts';
import { MUNICIPAL_READERS, signedInStaff, staffWith } from '../staff/middleware.ts';
import { staffReason as reason } from '../staff/reason.ts';
import { parseMykeyId } from './id.ts';
import { residentFor } from './pseudonym.ts';
import { block, moveHome, reinstate, relinkAtCounter, relinkBothCards, suspend, townView, unblock, view } from './service.ts';
import { described } from '../http/described.ts';

const proofId = z.string().regex(/^[A-Za-z0-9_-]{43}$/, { error: 'must be the challengeId of a card proof from POST /api/v1/auth/card-sessions' });

const bothCardsBody = z.object({ oldProof: proofId, newProof: proofId }).strict()
  .refine((body) => body.oldProof !== body.newProof, { error: 'oldProof and newProof must be two different card proofs', path: ['newProof'] });
const counterBody = z.object({ proof: proofId, reason }).strict();
const homeMoveBody = z.object({ proof: proofId }).strict();
const reasonBody = z.object({ reason }).strict();
const mykeyIdParam = z.object({ mykeyId: z.string().max(64).meta({ description: 'A MyKey ID; hyphens and spaces between its groups are forgiven.', example: 'C5T9-3LYW' }) });

/** `mykeySecret`: a shop's device is answered the shop's pseudonym of the resident, made from it, instead of the MyKey ID. */
export interface MykeyRoutesDeps { db: Db; clock: () => Date; mykeySecret: Buffer }

/** The MyKey ID in the path, in its canonical spelling, or the check's own 400. */
function pathMykeyId(ctx: Context): string {
  const parsed = parseMykeyId(ctx.params.mykeyId ?? '');
  if (!parsed.ok) throw new Problem(parsed.code, parsed.detail);
  return parsed.id;
}

export function mykeyRoutes({ db, clock, mykeySecret }: MykeyRoutesDeps): Router {
  const router = new Router({ prefix: '/api/v1' });
  const reads = staffWith(db, ...MUNICIPAL_READERS);
  const operates = staffWith(db, 'operator');

  // The resident taps the old card, then the new one, at this device: two signed 'relink' challenges.
  router.post('/mykeys/relinks', described({
    summary: 'Relink a MyKey ID to a renewed card: the old card and the new one each signed a relink challenge at this device', caller: 'device', body: bothCardsBody, idempotent: true,
    example: { oldProof: 'a'.repeat(43), newProof: 'b'.repeat(43) },
    responses: { 201: 'The resident (a shop\'s device sees its pseudonym) and method: both_cards.' }, problems: ['challenge_unknown', 'card_already_linked', 'card_not_registered', 'mykey_suspended'],
  }), requireDevice(db, clock), async (ctx) => {
    const device = enrolledDevice(ctx);
    const key = idempotencyKey(ctx);
    const { oldProof, newProof } = await readJson(ctx, bothCardsBody);
    const now = clock();
    respond(ctx, await runIdempotent(db, { scope: `device:${device.id}`, key, request: { op: 'relink-both-cards', oldProof, newProof } }, async (trx) => {
      const oldKey = await challengeRepository.consumeSigned(trx, oldProof, [device.id], 'relink', now);
      const newKey = await challengeRepository.consumeSigned(trx, newProof, [device.id], 'relink', now);
      const mykeyId = await relinkBothCards(trx, oldKey, newKey, device, now);
      return { status: 201, body: { ...residentFor(mykeySecret, device.organization, mykeyId), method: 'both_cards' } };
    }));
  });

  // The resident's card signed a 'home_move' challenge at this device, after the PIN: the ID's
  // home becomes this device's town. No staff member can do this for them.
  router.post('/mykeys/home-moves', described({
    summary: 'Move a MyKey ID\'s home to this device\'s town: the card signed a home_move challenge here', caller: 'device', body: homeMoveBody, idempotent: true, example: { proof: 'c'.repeat(43) },
    responses: { 201: 'The resident and the new home municipality.' }, problems: ['challenge_unknown', 'card_not_registered', 'mykey_home_unchanged'],
  }), requireDevice(db, clock), async (ctx) => {
    const device = enrolledDevice(ctx);
    const key = idempotencyKey(ctx);
    const { proof } = await readJson(ctx, homeMoveBody);
    const now = clock();
    respond(ctx, await runIdempotent(db, { scope: `device:${device.id}`, key, request: { op: 'home-move', proof } }, async (trx) => {
      const certKey = await challengeRepository.consumeSigned(trx, proof, [device.id], 'home_move', now);
      const mykeyId = await moveHome(trx, certKey, device);
      return { status: 201, body: { ...residentFor(mykeySecret, device.organization, mykeyId), homeMunicipalityCode: device.municipalityCode } };
    }));
  });

  router.get('/staff/mykeys/:mykeyId', described({ summary: 'A MyKey ID of this town: its status, cards and history', caller: 'staff', params: mykeyIdParam, responses: { 200: 'The MyKey ID as its home town sees it.' }, problems: ['mykey_id_malformed', 'mykey_id_check_failed', 'mykey_not_found'] }), ...reads, async (ctx) => {
    ctx.body = await view(db, pathMykeyId(ctx), signedInStaff(ctx));
  });

  router.get('/staff/mykeys/:mykeyId/town', described({ summary: 'A MyKey ID as any town sees it: blocked here or not, and this town\'s events of it', caller: 'staff', params: mykeyIdParam, responses: { 200: 'This town\'s view of the MyKey ID.' }, problems: ['mykey_id_malformed', 'mykey_id_check_failed', 'mykey_not_found'] }), ...reads, async (ctx) => {
    ctx.body = await townView(db, pathMykeyId(ctx), signedInStaff(ctx));
  });

  router.post('/staff/mykeys/:mykeyId/block', described({ summary: 'Block a MyKey ID from this town\'s services', caller: 'staff', params: mykeyIdParam, body: reasonBody, idempotent: true, example: { reason: '不正利用の疑い' }, responses: { 200: 'Blocked.' }, problems: ['mykey_id_malformed', 'mykey_id_check_failed', 'mykey_not_found', 'mykey_already_blocked'] }), ...operates, async (ctx) => {
    const staff = signedInStaff(ctx);
    const mykeyId = pathMykeyId(ctx);
    const key = idempotencyKey(ctx);
    const { reason } = await readJson(ctx, reasonBody);
    respond(ctx, await runIdempotent(db, { scope: `staff:${staff.id}`, key, request: { op: 'block-mykey', mykeyId, reason } }, async (trx) => {
      await block(trx, mykeyId, staff, reason, clock());
      return { status: 200, body: { mykeyId, municipalityCode: staff.municipalityCode, blocked: true } };
    }));
  });

  router.post('/staff/mykeys/:mykeyId/unblock', described({ summary: 'Lift this town\'s block of a MyKey ID', caller: 'staff', params: mykeyIdParam, body: reasonBody, idempotent: true, example: { reason: '確認済み' }, responses: { 200: 'Unblocked.' }, problems: ['mykey_id_malformed', 'mykey_id_check_failed', 'mykey_not_found', 'mykey_not_blocked'] }), ...operates, async (ctx) => {
    const staff = signedInStaff(ctx);
    const mykeyId = pathMykeyId(ctx);
    const key = idempotencyKey(ctx);
    const { reason } = await readJson(ctx, reasonBody);
    respond(ctx, await runIdempotent(db, { scope: `staff:${staff.id}`, key, request: { op: 'unblock-mykey', mykeyId, reason } }, async (trx) => {
      await unblock(trx, mykeyId, staff, reason);
      return { status: 200, body: { mykeyId, municipalityCode: staff.municipalityCode, blocked: false } };
    }));
  });

  // Staff checked the person's documents; the new card signed a 'counter_relink' challenge at
  // one of this municipality's devices.
  router.post('/staff/mykeys/:mykeyId/relinks', described({
    summary: 'Link a new card at the counter after checking the person\'s documents', caller: 'staff', params: mykeyIdParam, body: counterBody, idempotent: true,
    example: { proof: 'd'.repeat(43), reason: '本人確認書類（運転免許証）を確認' },
    responses: { 201: 'Relinked: method counter.' }, problems: ['mykey_id_malformed', 'mykey_id_check_failed', 'mykey_not_found', 'challenge_unknown', 'card_already_linked'],
  }), ...operates, async (ctx) => {
    const staff = signedInStaff(ctx);
    const mykeyId = pathMykeyId(ctx);
    const key = idempotencyKey(ctx);
    const body = await readJson(ctx, counterBody);
    const now = clock();
    const deviceIds = (await devicesRepository.list(db, staff.organization)).filter((d) => d.status === 'active').map((d) => d.id);
    respond(ctx, await runIdempotent(db, { scope: `staff:${staff.id}`, key, request: { op: 'relink-at-counter', mykeyId, ...body } }, async (trx) => {
      const newKey = await challengeRepository.consumeSigned(trx, body.proof, deviceIds, 'counter_relink', now);
      await relinkAtCounter(trx, mykeyId, newKey, staff, body.reason, now);
      return { status: 201, body: { mykeyId, method: 'counter' } };
    }));
  });

  router.post('/staff/mykeys/:mykeyId/suspension', described({ summary: 'Suspend a MyKey ID of this town', caller: 'staff', params: mykeyIdParam, body: reasonBody, idempotent: true, example: { reason: 'カード紛失の届出' }, responses: { 200: 'Suspended.' }, problems: ['mykey_id_malformed', 'mykey_id_check_failed', 'mykey_not_found', 'mykey_already_suspended'] }), ...operates, async (ctx) => {
    const staff = signedInStaff(ctx);
    const mykeyId = pathMykeyId(ctx);
    const key = idempotencyKey(ctx);
    const { reason } = await readJson(ctx, reasonBody);
    respond(ctx, await runIdempotent(db, { scope: `staff:${staff.id}`, key, request: { op: 'suspend-mykey', mykeyId, reason } }, async (trx) => {
      await suspend(trx, mykeyId, staff, reason, clock());
      return { status: 200, body: { mykeyId, status: 'suspended' } };
    }));
  });

  router.post('/staff/mykeys/:mykeyId/reinstatement', described({ summary: 'Reinstate a suspended MyKey ID of this town', caller: 'staff', params: mykeyIdParam, body: reasonBody, idempotent: true, example: { reason: 'カード発見' }, responses: { 200: 'Active again.' }, problems: ['mykey_id_malformed', 'mykey_id_check_failed', 'mykey_not_found', 'mykey_not_suspended'] }), ...operates, async (ctx) => {
    const staff = signedInStaff(ctx);
    const mykeyId = pathMykeyId(ctx);
    const key = idempotencyKey(ctx);
    const { reason } = await readJson(ctx, reasonBody);
    respond(ctx, await runIdempotent(db, { scope: `staff:${staff.id}`, key, request: { op: 'reinstate-mykey', mykeyId, reason } }, async (trx) => {
      await reinstate(trx, mykeyId, staff, reason);
      return { status: 200, body: { mykeyId, status: 'active' } };
    }));
  });

  return router;
}
