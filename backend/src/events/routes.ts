// The town's staff keep its event categories and its events (with the devices serving each),
// and read the points granted per category and event. The resident's side is a card tap for the
// purpose event_attendance (purposes.ts). docs/events.md.
import Router from '@koa/router';
import type { Knex } from 'knex';
import type { Context } from 'koa';
import { z } from 'zod';
import { retryTransient, type Db } from '../db.ts';
import { readJson } from '../http/body.ts';
import { idempotencyKey, respond, runIdempotent } from '../http/idempotency.ts';
import { Problem } from '../http/problems.ts';
import { LIMITS } from '../ledger/entries.ts';
import { isDate } from '../ledger/rules.ts';
import { parsePeriod } from '../settlement/statement.ts';
import { MUNICIPAL_READERS, signedInStaff, staffWith } from '../staff/middleware.ts';
import type { SignedInStaff } from '../staff/repository.ts';
import { SERVICE_NAME, SERVICE_NAME_MAX, TAP_POLICIES } from '@mykey/contracts/services.ts';
import { eventFigures, eventFiguresCsv } from './figures.ts';
import { createCategory, createEvent, eventOf, listCategories, listEvents, renameCategory, setEventDevices, updateEvent } from './service.ts';

const name = z.string().trim().min(1).max(SERVICE_NAME_MAX).regex(SERVICE_NAME, { error: 'must be one line of text' });
const categoryBody = z.object({ nameJa: name, nameEn: name }).strict();
const renameBody = categoryBody.partial().strict().refine((body) => Object.keys(body).length > 0, { error: 'name at least one field to change' });

const date = z.string().refine(isDate, { error: 'must be a date, YYYY-MM-DD (Japan time)' });
const id = z.number().int().positive();
const eventFields = {
  nameJa: name, nameEn: name, categoryId: id, startsOn: date, endsOn: date,
  points: z.number().int().min(1).max(LIMITS.maxResidentPoints), campaignId: id, tapPolicy: z.enum(TAP_POLICIES),
};
const inOrder = (body: { startsOn?: string; endsOn?: string }) => !body.startsOn || !body.endsOn || body.startsOn <= body.endsOn;
const DATES_RULE = { error: 'endsOn must not be before startsOn', path: ['endsOn'] };
// A one-day event names its day once: endsOn defaults to startsOn.
const createBody = z.object({ ...eventFields, endsOn: date.optional(), tapPolicy: eventFields.tapPolicy.default('pin') }).strict()
  .transform((body) => ({ ...body, endsOn: body.endsOn ?? body.startsOn })).refine(inOrder, DATES_RULE);
const updateBody = z.object(eventFields).partial().strict().refine((body) => Object.keys(body).length > 0, { error: 'name at least one field to change' }).refine(inOrder, DATES_RULE);
const devicesBody = z.object({ deviceIds: z.array(id).max(200) }).strict();

/** A positive id in the path; anything else is as unknown as a missing one. */
function idOf(value: string | undefined, notFound: 'event_not_found' | 'event_category_not_found'): number {
  if (!/^[1-9][0-9]{0,15}$/.test(value ?? '') || !Number.isSafeInteger(Number(value))) throw new Problem(notFound);
  return Number(value);
}

export function eventRoutes({ db, clock }: { db: Db; clock: () => Date }): Router {
  const router = new Router({ prefix: '/api/v1' });
  const reads = staffWith(db, ...MUNICIPAL_READERS);
  const operates = staffWith(db, 'operator');

  /** A staff change under the caller's Idempotency-Key, in one transaction (run again after a deadlock). */
  async function change(ctx: Context, request: Record<string, unknown>, status: number, effect: (trx: Knex.Transaction, staff: SignedInStaff) => Promise<unknown>): Promise<void> {
    const staff = signedInStaff(ctx);
    const key = idempotencyKey(ctx);
    respond(ctx, await retryTransient(() => runIdempotent(db, { scope: `staff:${staff.id}`, key, request }, async (trx) => ({ status, body: await effect(trx, staff) }))));
  }

  router.get('/event-categories', ...reads, async (ctx) => {
    ctx.body = { categories: await listCategories(db, signedInStaff(ctx)) };
  });

  router.post('/event-categories', ...operates, async (ctx) => {
    const body = await readJson(ctx, categoryBody);
    await change(ctx, { op: 'create-event-category', ...body }, 201, (trx, staff) => createCategory(trx, staff, body, clock()));
  });

  router.patch('/event-categories/:id', ...operates, async (ctx) => {
    const categoryId = idOf(ctx.params.id, 'event_category_not_found');
    const body = await readJson(ctx, renameBody);
    await change(ctx, { op: 'rename-event-category', id: categoryId, ...body }, 200, (trx, staff) => renameCategory(trx, staff, categoryId, body, clock()));
  });

  router.get('/events', ...reads, async (ctx) => {
    ctx.body = { events: await listEvents(db, signedInStaff(ctx), clock()) };
  });

  router.post('/events', ...operates, async (ctx) => {
    const body = await readJson(ctx, createBody);
    await change(ctx, { op: 'create-event', ...body }, 201, (trx, staff) => createEvent(trx, staff, body, clock()));
  });

  router.get('/events/:id', ...reads, async (ctx) => {
    ctx.body = await eventOf(db, signedInStaff(ctx), idOf(ctx.params.id, 'event_not_found'), clock());
  });

  router.patch('/events/:id', ...operates, async (ctx) => {
    const eventId = idOf(ctx.params.id, 'event_not_found');
    const body = await readJson(ctx, updateBody);
    await change(ctx, { op: 'update-event', id: eventId, ...body }, 200, (trx, staff) => updateEvent(trx, staff, eventId, body, clock()));
  });

  router.put('/events/:id/devices', ...operates, async (ctx) => {
    const eventId = idOf(ctx.params.id, 'event_not_found');
    const { deviceIds } = await readJson(ctx, devicesBody);
    await change(ctx, { op: 'set-event-devices', id: eventId, deviceIds }, 200, (trx, staff) => setEventDevices(trx, staff, eventId, deviceIds, clock()));
  });

  const periodOf = (ctx: Context) => parsePeriod(ctx.query.from, ctx.query.to, 'event_figures_period_invalid');

  router.get('/event-figures', ...reads, async (ctx) => {
    ctx.body = await eventFigures(db, signedInStaff(ctx), periodOf(ctx));
  });

  router.get('/event-figures.csv', ...reads, async (ctx) => {
    const period = periodOf(ctx);
    const staff = signedInStaff(ctx);
    ctx.attachment(`event-figures-town-${staff.municipalityCode}-${period.from}-${period.to}.csv`);
    ctx.type = 'text/csv; charset=utf-8';
    ctx.body = await eventFiguresCsv(db, staff, period);
  });

  return router;
}
