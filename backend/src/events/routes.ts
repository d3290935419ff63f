// The town's staff keep its event categories and its events (with the devices serving each),
// and read the points granted per category and event. The resident's side is a card tap for the
// purpose event_attendance (purposes.ts). docs/events.md.
import Router from '@koa/router';
import type { Knex } from 'knex';
import type { Context } from 'koa';
import { z } from 'zod';
import type { Db } from '../db.ts';
import { readJson } from '../http/body.ts';
import { idempotencyKey, respond, runIdempotent } from '../http/idempotency.ts';
import { idOf } from '../http/problems.ts';
import { LIMITS } from '../ledger/entries.ts';
import { isDate } from '../ledger/rules.ts';
import { parsePeriod, periodQuery } from '../settlement/statement.ts';
import { MUNICIPAL_READERS, signedInStaff, staffWith } from '../staff/middleware.ts';
import type { SignedInStaff } from '../staff/repository.ts';
import { SERVICE_NAME, SERVICE_NAME_MAX, TAP_POLICIES } from '@mykey/contracts/services.ts';
import { eventFigures, eventFiguresCsv } from './figures.ts';
import { createCategory, createEvent, eventOf, listCategories, listEvents, renameCategory, setEventDevices, updateEvent } from './service.ts';
import { described } from '../http/described.ts';

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


export function eventRoutes({ db, clock }: { db: Db; clock: () => Date }): Router {
  const router = new Router({ prefix: '/api/v1' });
  const reads = staffWith(db, ...MUNICIPAL_READERS);
  const operates = staffWith(db, 'operator');

  /** A staff change under the caller's Idempotency-Key, in one transaction (run again after a deadlock). */
  async function change(ctx: Context, request: Record<string, unknown>, status: number, effect: (trx: Knex.Transaction, staff: SignedInStaff) => Promise<unknown>): Promise<void> {
    const staff = signedInStaff(ctx);
    const key = idempotencyKey(ctx);
    respond(ctx, await runIdempotent(db, { scope: `staff:${staff.id}`, key, request }, async (trx) => ({ status, body: await effect(trx, staff) })));
  }

  router.get('/event-categories', described({ summary: 'The town\'s event categories', caller: 'staff', responses: { 200: 'The categories.' } }), ...reads, async (ctx) => {
    ctx.body = { categories: await listCategories(db, signedInStaff(ctx)) };
  });

  router.post('/event-categories', described({ summary: 'Add an event category', caller: 'staff', body: categoryBody, idempotent: true, example: { nameJa: '健康づくり', nameEn: 'Health' }, responses: { 201: 'The category.' }, problems: ['event_category_name_taken'] }), ...operates, async (ctx) => {
    const body = await readJson(ctx, categoryBody);
    await change(ctx, { op: 'create-event-category', ...body }, 201, (trx, staff) => createCategory(trx, staff, body, clock()));
  });

  router.patch('/event-categories/:id', described({ summary: 'Rename an event category', caller: 'staff', body: renameBody, idempotent: true, example: { nameEn: 'Health and sports' }, responses: { 200: 'The category.' }, problems: ['event_category_not_found', 'event_category_name_taken'] }), ...operates, async (ctx) => {
    const categoryId = idOf(ctx.params.id, 'event_category_not_found');
    const body = await readJson(ctx, renameBody);
    await change(ctx, { op: 'rename-event-category', id: categoryId, ...body }, 200, (trx, staff) => renameCategory(trx, staff, categoryId, body, clock()));
  });

  router.get('/events', described({ summary: 'The town\'s events', caller: 'staff', responses: { 200: 'The events.' } }), ...reads, async (ctx) => {
    ctx.body = { events: await listEvents(db, signedInStaff(ctx), clock()) };
  });

  router.post('/events', described({
    summary: 'Create an event whose attendance earns points', caller: 'staff', body: createBody, idempotent: true,
    example: { nameJa: '健康ウォーキング', nameEn: 'Health walk', categoryId: 1, startsOn: '2026-05-10', points: 100, campaignId: 1, tapPolicy: 'tap' },
    responses: { 201: 'The event.' }, problems: ['event_category_not_found', 'campaign_not_found', 'campaign_kind_mismatch', 'event_campaign_not_running'],
  }), ...operates, async (ctx) => {
    const body = await readJson(ctx, createBody);
    await change(ctx, { op: 'create-event', ...body }, 201, (trx, staff) => createEvent(trx, staff, body, clock()));
  });

  router.get('/events/:id', described({ summary: 'An event, its devices and its attendance', caller: 'staff', responses: { 200: 'The event.' }, problems: ['event_not_found'] }), ...reads, async (ctx) => {
    ctx.body = await eventOf(db, signedInStaff(ctx), idOf(ctx.params.id, 'event_not_found'), clock());
  });

  router.patch('/events/:id', described({ summary: 'Change an event', caller: 'staff', body: updateBody, idempotent: true, example: { points: 150 }, responses: { 200: 'The event.' }, problems: ['event_not_found', 'event_category_not_found', 'campaign_not_found', 'campaign_kind_mismatch', 'event_campaign_not_running'] }), ...operates, async (ctx) => {
    const eventId = idOf(ctx.params.id, 'event_not_found');
    const body = await readJson(ctx, updateBody);
    await change(ctx, { op: 'update-event', id: eventId, ...body }, 200, (trx, staff) => updateEvent(trx, staff, eventId, body, clock()));
  });

  router.put('/events/:id/devices', described({ summary: 'Set the devices that take attendance at an event', caller: 'staff', body: devicesBody, idempotent: true, example: { deviceIds: [3, 4] }, responses: { 200: 'The event with its devices.' }, problems: ['event_not_found', 'device_not_found', 'device_not_for_event'] }), ...operates, async (ctx) => {
    const eventId = idOf(ctx.params.id, 'event_not_found');
    const { deviceIds } = await readJson(ctx, devicesBody);
    await change(ctx, { op: 'set-event-devices', id: eventId, deviceIds }, 200, (trx, staff) => setEventDevices(trx, staff, eventId, deviceIds, clock()));
  });

  const periodOf = (ctx: Context) => parsePeriod(ctx.query.from, ctx.query.to, 'event_figures_period_invalid');

  router.get('/event-figures', described({ summary: 'Points granted per category and event in a period', caller: 'staff', query: periodQuery, responses: { 200: 'The figures.' }, problems: ['event_figures_period_invalid'] }), ...reads, async (ctx) => {
    ctx.body = await eventFigures(db, signedInStaff(ctx), periodOf(ctx));
  });

  router.get('/event-figures.csv', described({ summary: 'The event figures as a CSV file', caller: 'staff', query: periodQuery, responses: { 200: { description: 'The figures file.', mediaType: 'text/csv' } }, problems: ['event_figures_period_invalid'] }), ...reads, async (ctx) => {
    const period = periodOf(ctx);
    const staff = signedInStaff(ctx);
    ctx.attachment(`event-figures-town-${staff.municipalityCode}-${period.from}-${period.to}.csv`);
    ctx.type = 'text/csv; charset=utf-8';
    ctx.body = await eventFiguresCsv(db, staff, period);
  });

  return router;
}
