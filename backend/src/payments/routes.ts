// The register's side of counter redemption, for a shop's staff signed in to the merchant
// console: open and cancel payment intents, see whether one was paid, refund or void a payment,
// and list a day's payments. Every answer names the payer by the shop's pseudonym of them, made
// from the MyKey secret (`mykeySecret`), never by the MyKey ID. The card's side is
// POST /api/v1/auth/challenges and card-sessions.
import Router from '@koa/router';
import { z } from 'zod';
import type { Db } from '../db.ts';
import { readJson } from '../http/body.ts';
import { idempotencyKey, respond, runIdempotent } from '../http/idempotency.ts';
import { Problem } from '../http/problems.ts';
import { PAYMENT_INTENT_ID } from '@mykey/contracts/challenge-text.ts';
import { MAX_POINTS } from '@mykey/contracts/limits.ts';
import { SHOP_STAFF, signedInStaff, staffWith } from '../staff/middleware.ts';
import { cancel, createIntent, day, intentView, refund, voidPayment } from './service.ts';
import { described } from '../http/described.ts';

const points = z.number().int().min(1).max(MAX_POINTS);
const intentBody = z.object({ amount: points }).strict();
const refundBody = z.object({ points }).strict();
const intentIdParam = z.object({ id: z.string().regex(PAYMENT_INTENT_ID).meta({ example: 'pi_AAAAAAAAAAAAAAAAAAAAAA' }) });
// The day's payments are asked for by its date in Japan; zod's ISO date is a day that exists (no 31 April).
const dayQuery = z.object({ date: z.iso.date().meta({ description: 'The day, YYYY-MM-DD (Japan time).', example: '2026-05-10' }) });

/** The intent id in the path; anything that cannot be one is as unknown as a missing one. */
function intentIdOf(value: string | undefined): string {
  if (!value || !PAYMENT_INTENT_ID.test(value)) throw new Problem('payment_intent_not_found');
  return value;
}

export interface PaymentRoutesDeps { db: Db; clock: () => Date; mykeySecret: Buffer }

export function paymentRoutes({ db, clock, mykeySecret }: PaymentRoutesDeps): Router {
  const router = new Router({ prefix: '/api/v1/merchant' });
  const merchantStaff = staffWith(db, ...SHOP_STAFF);

  router.post('/payment-intents', described({ summary: 'Open a payment intent at the register: the amount the resident\'s card will be asked to pay', caller: 'staff', body: intentBody, idempotent: true, example: { amount: 500 }, responses: { 201: 'The intent: its id for the card\'s challenge, and its expiry.' }, problems: ['merchant_not_approved'] }), ...merchantStaff, async (ctx) => {
    const staff = signedInStaff(ctx);
    const key = idempotencyKey(ctx);
    const { amount } = await readJson(ctx, intentBody);
    respond(ctx, await runIdempotent(db, { scope: `staff:${staff.id}`, key, request: { op: 'create-payment-intent', amount } },
      async (trx) => ({ status: 201, body: await createIntent(trx, staff, amount, clock()) })));
  });

  router.get('/payment-intents/:id', described({ summary: 'Whether an intent was paid, and by whom (the shop\'s pseudonym)', caller: 'staff', params: intentIdParam, responses: { 200: 'The intent and its payment, if any.' }, problems: ['payment_intent_not_found'] }), ...merchantStaff, async (ctx) => {
    ctx.body = await intentView(db, mykeySecret, signedInStaff(ctx), intentIdOf(ctx.params.id), clock());
  });

  router.post('/payment-intents/:id/cancellation', described({ summary: 'Cancel an open intent', caller: 'staff', params: intentIdParam, idempotent: true, responses: { 200: 'The intent, cancelled.' }, problems: ['payment_intent_not_found', 'payment_intent_not_open'] }), ...merchantStaff, async (ctx) => {
    const staff = signedInStaff(ctx);
    const key = idempotencyKey(ctx);
    const id = intentIdOf(ctx.params.id);
    respond(ctx, await runIdempotent(db, { scope: `staff:${staff.id}`, key, request: { op: 'cancel-payment-intent', id } },
      async (trx) => ({ status: 200, body: await cancel(trx, staff, id, clock()) })));
  });

  router.post('/payments/:id/refunds', described({ summary: 'Refund points of a payment, in part or whole', caller: 'staff', params: intentIdParam, body: refundBody, idempotent: true, example: { points: 200 }, responses: { 201: 'The refund.' }, problems: ['payment_not_found', 'refund_exceeds_payment', 'payment_already_reversed'] }), ...merchantStaff, async (ctx) => {
    const staff = signedInStaff(ctx);
    const key = idempotencyKey(ctx);
    const id = intentIdOf(ctx.params.id);
    const body = await readJson(ctx, refundBody);
    // A deadlock with a payment or refund touching the same accounts is run again, under the same key.
    respond(ctx, await runIdempotent(db, { scope: `staff:${staff.id}`, key, request: { op: 'refund-payment', id, points: body.points } },
      async (trx) => ({ status: 201, body: await refund(trx, mykeySecret, staff, id, body.points, key, clock()) })));
  });

  router.post('/payments/:id/void', described({ summary: 'Void a payment on the day it was made', caller: 'staff', params: intentIdParam, idempotent: true, responses: { 201: 'The void.' }, problems: ['payment_not_found', 'payment_already_reversed', 'void_window_closed'] }), ...merchantStaff, async (ctx) => {
    const staff = signedInStaff(ctx);
    const key = idempotencyKey(ctx);
    const id = intentIdOf(ctx.params.id);
    respond(ctx, await runIdempotent(db, { scope: `staff:${staff.id}`, key, request: { op: 'void-payment', id } },
      async (trx) => ({ status: 201, body: await voidPayment(trx, mykeySecret, staff, id, key, clock()) })));
  });

  router.get('/payments', described({ summary: 'A day\'s payments at this shop', caller: 'staff', query: dayQuery, responses: { 200: 'The day\'s payments, refunds and voids.' }, problems: ['request_invalid'] }), ...merchantStaff, async (ctx) => {
    const parsed = dayQuery.safeParse(ctx.query);
    if (!parsed.success) {
      throw new Problem('request_invalid', 'date must be a calendar date, YYYY-MM-DD (Japan time)', { errors: [{ path: 'date', message: 'must be YYYY-MM-DD' }] });
    }
    ctx.body = await day(db, mykeySecret, signedInStaff(ctx), parsed.data.date);
  });

  return router;
}
