// The register's side of counter redemption, for a shop's staff signed in to the merchant
// console: open and cancel payment intents, see whether one was paid, refund or void a payment,
// and list a day's payments. Every answer names the payer by the shop's pseudonym of them, made
// from the MyKey secret (`mykeySecret`), never by the MyKey ID. The card's side is
// POST /api/v1/auth/challenges and card-sessions.
import Router from '@koa/router';
import { z } from 'zod';
import { retryTransient, type Db } from '../db.ts';
import { readJson } from '../http/body.ts';
import { idempotencyKey, respond, runIdempotent } from '../http/idempotency.ts';
import { Problem } from '../http/problems.ts';
import { PAYMENT_INTENT_ID } from '@mykey/contracts/challenge-text.ts';
import { MAX_POINTS } from '@mykey/contracts/limits.ts';
import { SHOP_STAFF, signedInStaff, staffWith } from '../staff/middleware.ts';
import { cancel, createIntent, day, intentView, refund, voidPayment } from './service.ts';

const points = z.number().int().min(1).max(MAX_POINTS);
const intentBody = z.object({ amount: points }).strict();
const refundBody = z.object({ points }).strict();
const DATE = /^\d{4}-(0[1-9]|1[0-2])-(0[1-9]|[12]\d|3[01])$/;

/** YYYY-MM-DD naming a day that exists (no 31 April). */
function isCalendarDate(value: string): boolean {
  const at = Date.parse(`${value}T00:00:00Z`);
  return DATE.test(value) && !Number.isNaN(at) && new Date(at).toISOString().slice(0, 10) === value;
}

/** The intent id in the path; anything that cannot be one is as unknown as a missing one. */
function intentIdOf(value: string | undefined): string {
  if (!value || !PAYMENT_INTENT_ID.test(value)) throw new Problem('payment_intent_not_found');
  return value;
}

export interface PaymentRoutesDeps { db: Db; clock: () => Date; mykeySecret: Buffer }

export function paymentRoutes({ db, clock, mykeySecret }: PaymentRoutesDeps): Router {
  const router = new Router({ prefix: '/api/v1/merchant' });
  const merchantStaff = staffWith(db, ...SHOP_STAFF);

  router.post('/payment-intents', ...merchantStaff, async (ctx) => {
    const staff = signedInStaff(ctx);
    const key = idempotencyKey(ctx);
    const { amount } = await readJson(ctx, intentBody);
    respond(ctx, await runIdempotent(db, { scope: `staff:${staff.id}`, key, request: { op: 'create-payment-intent', amount } },
      async (trx) => ({ status: 201, body: await createIntent(trx, staff, amount, clock()) })));
  });

  router.get('/payment-intents/:id', ...merchantStaff, async (ctx) => {
    ctx.body = await intentView(db, mykeySecret, signedInStaff(ctx), intentIdOf(ctx.params.id), clock());
  });

  router.post('/payment-intents/:id/cancellation', ...merchantStaff, async (ctx) => {
    const staff = signedInStaff(ctx);
    const key = idempotencyKey(ctx);
    const id = intentIdOf(ctx.params.id);
    respond(ctx, await runIdempotent(db, { scope: `staff:${staff.id}`, key, request: { op: 'cancel-payment-intent', id } },
      async (trx) => ({ status: 200, body: await cancel(trx, staff, id, clock()) })));
  });

  router.post('/payments/:id/refunds', ...merchantStaff, async (ctx) => {
    const staff = signedInStaff(ctx);
    const key = idempotencyKey(ctx);
    const id = intentIdOf(ctx.params.id);
    const body = await readJson(ctx, refundBody);
    // A deadlock with a payment or refund touching the same accounts is run again, under the same key.
    respond(ctx, await retryTransient(() => runIdempotent(db, { scope: `staff:${staff.id}`, key, request: { op: 'refund-payment', id, points: body.points } },
      async (trx) => ({ status: 201, body: await refund(trx, mykeySecret, staff, id, body.points, key, clock()) }))));
  });

  router.post('/payments/:id/void', ...merchantStaff, async (ctx) => {
    const staff = signedInStaff(ctx);
    const key = idempotencyKey(ctx);
    const id = intentIdOf(ctx.params.id);
    respond(ctx, await retryTransient(() => runIdempotent(db, { scope: `staff:${staff.id}`, key, request: { op: 'void-payment', id } },
      async (trx) => ({ status: 201, body: await voidPayment(trx, mykeySecret, staff, id, key, clock()) }))));
  });

  router.get('/payments', ...merchantStaff, async (ctx) => {
    const date = ctx.query.date;
    if (typeof date !== 'string' || !isCalendarDate(date)) {
      throw new Problem('request_invalid', 'date must be a calendar date, YYYY-MM-DD (Japan time)', { errors: [{ path: 'date', message: 'must be YYYY-MM-DD' }] });
    }
    ctx.body = await day(db, mykeySecret, signedInStaff(ctx), date);
  });

  return router;
}
