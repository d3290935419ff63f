// Renewal, suspension and tenancy of MyKey IDs. A resident relinks at a device with both cards,
// or moves their ID's home to the town of a device; the home town's staff look a MyKey ID up,
// link a new card after checking the person's documents, and suspend or reinstate it; any
// town's staff block it from their own town's services and see their own town's events of it.
// The third way of renewal, J-LIS's linkage file, is a command (linkage.ts).
import Router from '@koa/router';
import type { Context } from 'koa';
import { z } from 'zod';
import { retryTransient, type Db } from '../db.ts';
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

const proofId = z.string().regex(/^[A-Za-z0-9_-]{43}$/, { error: 'must be the challengeId of a card proof from POST /api/v1/auth/card-sessions' });

const bothCardsBody = z.object({ oldProof: proofId, newProof: proofId }).strict()
  .refine((body) => body.oldProof !== body.newProof, { error: 'oldProof and newProof must be two different card proofs', path: ['newProof'] });
const counterBody = z.object({ proof: proofId, reason }).strict();
const homeMoveBody = z.object({ proof: proofId }).strict();
const reasonBody = z.object({ reason }).strict();

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
  router.post('/mykeys/relinks', requireDevice(db, clock), async (ctx) => {
    const device = enrolledDevice(ctx);
    const key = idempotencyKey(ctx);
    const { oldProof, newProof } = await readJson(ctx, bothCardsBody);
    const now = clock();
    respond(ctx, await retryTransient(() => runIdempotent(db, { scope: `device:${device.id}`, key, request: { op: 'relink-both-cards', oldProof, newProof } }, async (trx) => {
      const oldKey = await challengeRepository.consumeSigned(trx, oldProof, [device.id], 'relink', now);
      const newKey = await challengeRepository.consumeSigned(trx, newProof, [device.id], 'relink', now);
      const mykeyId = await relinkBothCards(trx, oldKey, newKey, device, now);
      return { status: 201, body: { ...residentFor(mykeySecret, device.organization, mykeyId), method: 'both_cards' } };
    })));
  });

  // The resident's card signed a 'home_move' challenge at this device, after the PIN: the ID's
  // home becomes this device's town. No staff member can do this for them.
  router.post('/mykeys/home-moves', requireDevice(db, clock), async (ctx) => {
    const device = enrolledDevice(ctx);
    const key = idempotencyKey(ctx);
    const { proof } = await readJson(ctx, homeMoveBody);
    const now = clock();
    respond(ctx, await retryTransient(() => runIdempotent(db, { scope: `device:${device.id}`, key, request: { op: 'home-move', proof } }, async (trx) => {
      const certKey = await challengeRepository.consumeSigned(trx, proof, [device.id], 'home_move', now);
      const mykeyId = await moveHome(trx, certKey, device);
      return { status: 201, body: { ...residentFor(mykeySecret, device.organization, mykeyId), homeMunicipalityCode: device.municipalityCode } };
    })));
  });

  router.get('/staff/mykeys/:mykeyId', ...reads, async (ctx) => {
    ctx.body = await view(db, pathMykeyId(ctx), signedInStaff(ctx));
  });

  router.get('/staff/mykeys/:mykeyId/town', ...reads, async (ctx) => {
    ctx.body = await townView(db, pathMykeyId(ctx), signedInStaff(ctx));
  });

  router.post('/staff/mykeys/:mykeyId/block', ...operates, async (ctx) => {
    const staff = signedInStaff(ctx);
    const mykeyId = pathMykeyId(ctx);
    const key = idempotencyKey(ctx);
    const { reason } = await readJson(ctx, reasonBody);
    respond(ctx, await runIdempotent(db, { scope: `staff:${staff.id}`, key, request: { op: 'block-mykey', mykeyId, reason } }, async (trx) => {
      await block(trx, mykeyId, staff, reason, clock());
      return { status: 200, body: { mykeyId, municipalityCode: staff.municipalityCode, blocked: true } };
    }));
  });

  router.post('/staff/mykeys/:mykeyId/unblock', ...operates, async (ctx) => {
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
  router.post('/staff/mykeys/:mykeyId/relinks', ...operates, async (ctx) => {
    const staff = signedInStaff(ctx);
    const mykeyId = pathMykeyId(ctx);
    const key = idempotencyKey(ctx);
    const body = await readJson(ctx, counterBody);
    const now = clock();
    const deviceIds = (await devicesRepository.list(db, staff.organization)).filter((d) => d.status === 'active').map((d) => d.id);
    respond(ctx, await retryTransient(() => runIdempotent(db, { scope: `staff:${staff.id}`, key, request: { op: 'relink-at-counter', mykeyId, ...body } }, async (trx) => {
      const newKey = await challengeRepository.consumeSigned(trx, body.proof, deviceIds, 'counter_relink', now);
      await relinkAtCounter(trx, mykeyId, newKey, staff, body.reason, now);
      return { status: 201, body: { mykeyId, method: 'counter' } };
    })));
  });

  router.post('/staff/mykeys/:mykeyId/suspension', ...operates, async (ctx) => {
    const staff = signedInStaff(ctx);
    const mykeyId = pathMykeyId(ctx);
    const key = idempotencyKey(ctx);
    const { reason } = await readJson(ctx, reasonBody);
    respond(ctx, await runIdempotent(db, { scope: `staff:${staff.id}`, key, request: { op: 'suspend-mykey', mykeyId, reason } }, async (trx) => {
      await suspend(trx, mykeyId, staff, reason, clock());
      return { status: 200, body: { mykeyId, status: 'suspended' } };
    }));
  });

  router.post('/staff/mykeys/:mykeyId/reinstatement', ...operates, async (ctx) => {
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
