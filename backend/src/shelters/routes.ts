// The town's municipal staff open a shelter, change it, assign its devices and close it; they see
// its roster (JSON, and CSV for headquarters) and every open shelter's counts. The card's side is
// POST /api/v1/auth/card-taps (or challenges and card-sessions) with the purposes in purposes.ts.
import Router from '@koa/router';
import type { Knex } from 'knex';
import type { Context } from 'koa';
import { z } from 'zod';
import type { Db } from '../db.ts';
import { readJson } from '../http/body.ts';
import { idempotencyKey, respond, runIdempotent } from '../http/idempotency.ts';
import { MUNICIPAL_READERS, signedInStaff, staffWith } from '../staff/middleware.ts';
import type { SignedInStaff } from '../staff/repository.ts';
import { SERVICE_NAME } from '@mykey/contracts/services.ts';
import { SHELTER_CAPACITY_MAX, SHELTER_NAME_MAX, SHELTER_PLACE_MAX } from '@mykey/contracts/shelters.ts';
import { idOf } from '../http/problems.ts';
import { closeShelter, listShelters, openShelter, rosterCsv, rosterOf, setShelterDevices, shelterOf, summaryOf, updateShelter } from './service.ts';
import { described } from '../http/described.ts';

// One line of text, as every screen shows a name (the same rule as a service's).
const line = (max: number) => z.string().trim().min(1).max(max).regex(SERVICE_NAME, { error: 'must be one line of text' });
const fields = {
  nameJa: line(SHELTER_NAME_MAX), nameEn: line(SHELTER_NAME_MAX), place: line(SHELTER_PLACE_MAX),
  capacity: z.number().int({ error: 'must be a whole number' }).min(1, { error: 'must be at least 1' }).max(SHELTER_CAPACITY_MAX), drill: z.boolean(),
};
const openBody = z.object(fields).strict();
const updateBody = z.object(fields).partial().strict().refine((body) => Object.keys(body).length > 0, { error: 'name at least one field to change' });
const devicesBody = z.object({ deviceIds: z.array(z.number().int().positive()).max(200) }).strict();

/** A positive id in the path; anything else is as unknown as a missing shelter. */
const shelterId = (value: string | undefined) => idOf(value, 'shelter_not_found');

export function shelterRoutes({ db, clock }: { db: Db; clock: () => Date }): Router {
  const router = new Router({ prefix: '/api/v1/shelters' });
  const reads = staffWith(db, ...MUNICIPAL_READERS);
  const operates = staffWith(db, 'operator');

  /** A staff change under the caller's Idempotency-Key, in one transaction; a deadlock is run again under the same key. */
  async function change(ctx: Context, request: Record<string, unknown>, status: number, effect: (trx: Knex.Transaction, staff: SignedInStaff) => Promise<unknown>): Promise<void> {
    const staff = signedInStaff(ctx);
    const key = idempotencyKey(ctx);
    respond(ctx, await runIdempotent(db, { scope: `staff:${staff.id}`, key, request }, async (trx) => ({ status, body: await effect(trx, staff) })));
  }

  router.get('/', described({ summary: 'The town\'s shelters', caller: 'staff', responses: { 200: 'The shelters, open and closed.' } }), ...reads, async (ctx) => {
    ctx.body = { shelters: await listShelters(db, signedInStaff(ctx)) };
  });

  router.post('/', described({ summary: 'Open a shelter', caller: 'staff', body: openBody, idempotent: true, example: { nameJa: '中央小学校', nameEn: 'Chuo Elementary School', place: '本町1-2-3', capacity: 300, drill: false }, responses: { 201: 'The shelter.' } }), ...operates, async (ctx) => {
    const body = await readJson(ctx, openBody);
    await change(ctx, { op: 'open-shelter', ...body }, 201, (trx, staff) => openShelter(trx, staff, body, clock()));
  });

  // Before /:id, which would take "summary" for an id.
  router.get('/summary', described({ summary: 'Every open shelter\'s counts', caller: 'staff', responses: { 200: 'The counts.' } }), ...reads, async (ctx) => {
    ctx.body = await summaryOf(db, signedInStaff(ctx), clock());
  });

  router.get('/:id', described({ summary: 'A shelter and its devices', caller: 'staff', responses: { 200: 'The shelter.' }, problems: ['shelter_not_found'] }), ...reads, async (ctx) => {
    ctx.body = await shelterOf(db, signedInStaff(ctx), shelterId(ctx.params.id));
  });

  router.patch('/:id', described({ summary: 'Change a shelter', caller: 'staff', body: updateBody, idempotent: true, example: { capacity: 350 }, responses: { 200: 'The shelter.' }, problems: ['shelter_not_found', 'shelter_closed'] }), ...operates, async (ctx) => {
    const id = shelterId(ctx.params.id);
    const body = await readJson(ctx, updateBody);
    await change(ctx, { op: 'update-shelter', id, ...body }, 200, (trx, staff) => updateShelter(trx, staff, id, body, clock()));
  });

  router.put('/:id/devices', described({ summary: 'Set the devices that check people in and out at a shelter', caller: 'staff', body: devicesBody, idempotent: true, example: { deviceIds: [5] }, responses: { 200: 'The shelter with its devices.' }, problems: ['shelter_not_found', 'shelter_closed', 'device_not_found', 'device_not_for_shelter'] }), ...operates, async (ctx) => {
    const id = shelterId(ctx.params.id);
    const { deviceIds } = await readJson(ctx, devicesBody);
    await change(ctx, { op: 'set-shelter-devices', id, deviceIds }, 200, (trx, staff) => setShelterDevices(trx, staff, id, deviceIds));
  });

  router.post('/:id/close', described({ summary: 'Close a shelter: everyone still inside is checked out', caller: 'staff', idempotent: true, responses: { 200: 'The shelter, closed.' }, problems: ['shelter_not_found', 'shelter_closed'] }), ...operates, async (ctx) => {
    const id = shelterId(ctx.params.id);
    await change(ctx, { op: 'close-shelter', id }, 200, (trx, staff) => closeShelter(trx, staff, id, clock()));
  });

  router.get('/:id/roster', described({ summary: 'Who is in a shelter', caller: 'staff', responses: { 200: 'The roster.' }, problems: ['shelter_not_found'] }), ...reads, async (ctx) => {
    ctx.body = await rosterOf(db, signedInStaff(ctx), shelterId(ctx.params.id));
  });

  router.get('/:id/roster.csv', described({ summary: 'The roster as a CSV file, for headquarters', caller: 'staff', responses: { 200: { description: 'The roster file.', mediaType: 'text/csv' } }, problems: ['shelter_not_found'] }), ...reads, async (ctx) => {
    const roster = await rosterOf(db, signedInStaff(ctx), shelterId(ctx.params.id));
    ctx.attachment(`shelter-${roster.shelter.id}-roster-${clock().toISOString().slice(0, 16).replace(/[-:]/g, '')}.csv`);
    ctx.type = 'text/csv; charset=utf-8';
    ctx.body = rosterCsv(roster);
  });

  return router;
}
