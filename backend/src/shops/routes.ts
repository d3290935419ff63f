// Shops: the public application form's two calls (no sign-in: size-limited, counted per address,
// idempotent), and the town's administrator's list, review and decisions (docs/shops.md).
import Router from '@koa/router';
import type { Knex } from 'knex';
import type { Context } from 'koa';
import type { Redis } from 'ioredis';
import { z } from 'zod';
import type { Db } from '../db.ts';
import { readJson } from '../http/body.ts';
import { described } from '../http/described.ts';
import { idempotencyKey, respond, runIdempotent } from '../http/idempotency.ts';
import { idOf, Problem } from '../http/problems.ts';
import { MUNICIPAL_READERS, signedInStaff, staffWith } from '../staff/middleware.ts';
import { staffReason } from '../staff/reason.ts';
import type { SignedInStaff } from '../staff/repository.ts';
import { SERVICE_NAME } from '@mykey/contracts/services.ts';
import { SHOP_ADDRESS_MAX, SHOP_CATEGORIES, SHOP_EMAIL_MAX, SHOP_NAME_MAX, SHOP_PERSON_MAX, SHOP_PHONE } from '@mykey/contracts/shops.ts';
import { ACCOUNT_NUMBER, BANK_CODE, BRANCH_CODE, ZENGIN_NAME_MAX, zenginText } from '@mykey/contracts/zengin.ts';
import { applicationLimit } from './application-limit.ts';
import { applicationTowns, apply, decide, listShops, setBankAccount, shopOf, type ShopDecision } from './service.ts';

// An application is a few hundred characters; 8 KiB leaves room for any honest one.
const APPLICATION_BODY_LIMIT = 8 * 1024;

const line = (max: number) => z.string().trim().min(1).max(max).regex(SERVICE_NAME, { error: 'must be one line of text' });

/** A name as the Zengin file writes it: normalised to half-width kana, or refused naming the characters it cannot write. */
const zenginName = (max: number) => z.string().max(max * 4).transform((text, ctx) => {
  const written = zenginText(text, max);
  if (written.ok) return written.value;
  const message = written.reason === 'invalid_characters' ? `cannot be written in the transfer file: ${written.invalid.join(' ')}`
    : written.reason === 'empty' ? 'is required' : `is longer than ${max} half-width characters`;
  ctx.addIssue({ code: 'custom', message });
  return z.NEVER;
});

export const bankAccountBody = z.object({
  bankCode: z.string().regex(BANK_CODE, { error: 'must be 4 digits' }),
  bankNameKana: zenginName(ZENGIN_NAME_MAX.bank),
  branchCode: z.string().regex(BRANCH_CODE, { error: 'must be 3 digits' }),
  branchNameKana: zenginName(ZENGIN_NAME_MAX.branch),
  accountType: z.enum(['ordinary', 'current', 'savings']),
  accountNumber: z.string().regex(ACCOUNT_NUMBER, { error: 'must be 7 digits' }),
  holderKana: zenginName(ZENGIN_NAME_MAX.holder),
}).strict();

const applicationBody = z.object({
  municipalityCode: z.string().regex(/^\d{6}$/, { error: 'must be a 6-digit municipality code' }),
  nameJa: line(SHOP_NAME_MAX), nameEn: line(SHOP_NAME_MAX), address: line(SHOP_ADDRESS_MAX),
  category: z.enum(SHOP_CATEGORIES), representative: line(SHOP_PERSON_MAX),
  phone: z.string().trim().regex(SHOP_PHONE, { error: 'must be a Japanese telephone number' }),
  email: z.email().max(SHOP_EMAIL_MAX),
  bankAccount: bankAccountBody,
}).strict();

const reasonBody = z.object({ reason: staffReason }).strict();
const noBody = z.object({}).strict();
const listQuery = z.object({ status: z.enum(['pending', 'approved', 'rejected', 'suspended']).optional() });

const BANK_ACCOUNT_EXAMPLE = { bankCode: '0001', bankNameKana: 'みらいぎんこう', branchCode: '123', branchNameKana: 'ホンテン', accountType: 'ordinary', accountNumber: '1234567', holderKana: 'マメダ　イチロウ' };
const APPLICATION_EXAMPLE = {
  municipalityCode: '139998', nameJa: 'みらい豆腐店', nameEn: 'Mirai Tofu', address: 'みらい市本町2-3-4', category: 'grocery', representative: '豆田 一郎',
  phone: '03-1234-5678', email: 'tofu@example.jp', bankAccount: BANK_ACCOUNT_EXAMPLE,
};

const shopId = (value: string | undefined) => idOf(value, 'shop_not_found');

export interface ShopRoutesDeps { db: Db; redis: Redis; keyPrefix: string; clock: () => Date }

export function shopRoutes({ db, redis, keyPrefix, clock }: ShopRoutesDeps): Router {
  const router = new Router({ prefix: '/api/v1' });
  const limit = applicationLimit(redis, keyPrefix);
  const reads = staffWith(db, ...MUNICIPAL_READERS);
  const administers = staffWith(db, 'administrator');

  /** A staff change under the caller's Idempotency-Key, in one transaction; a deadlock is run again under the same key. */
  async function change(ctx: Context, request: Record<string, unknown>, effect: (trx: Knex.Transaction, staff: SignedInStaff) => Promise<unknown>): Promise<void> {
    const staff = signedInStaff(ctx);
    const key = idempotencyKey(ctx);
    respond(ctx, await runIdempotent(db, { scope: `staff:${staff.id}`, key, request }, async (trx) => ({ status: 200, body: await effect(trx, staff) })));
  }

  // Public: which towns take applications (their names are public anyway).
  router.get('/shop-applications/towns', described({ summary: 'The towns that take shop applications (the public form\'s list)', caller: 'anyone', responses: { 200: 'Every town\'s code and names.' } }), async (ctx) => {
    ctx.body = { towns: await applicationTowns(db) };
  });

  // Public: no session. The key is per address, so another client's key answers nothing of theirs.
  router.post('/shop-applications', described({
    summary: 'A shop applies to a town (the public form: no sign-in, limited per address)', description: 'The bank names are normalised as the Zengin transfer file writes them (docs/shops.md).',
    caller: 'anyone', body: applicationBody, idempotent: true, example: APPLICATION_EXAMPLE,
    responses: { 201: 'The application\'s number and the bank account as the transfer file will write it.' }, problems: ['shop_application_rate_limited'],
  }), async (ctx) => {
    const key = idempotencyKey(ctx);
    const application = await readJson(ctx, applicationBody, APPLICATION_BODY_LIMIT);
    const wait = await limit.take(ctx.ip);
    if (wait > 0) {
      ctx.state.log.warn({ address: ctx.ip }, 'shop application refused: too many from this address');
      ctx.set('Retry-After', String(wait));
      throw new Problem('shop_application_rate_limited', `Try again in ${wait} s.`, { retryAfterSeconds: wait });
    }
    ctx.set('Cache-Control', 'no-store');
    respond(ctx, await runIdempotent(db, { scope: `shop-application:${ctx.ip}`, key, request: { op: 'apply', ...application } },
      async (trx) => ({ status: 201, body: await apply(trx, application, clock()) })));
  });

  router.get('/staff/shops', described({ summary: 'The town\'s shops and applications, those waiting first', caller: 'staff', query: listQuery, responses: { 200: 'The shops.' } }), ...reads, async (ctx) => {
    const query = listQuery.safeParse({ status: ctx.query.status || undefined });
    if (!query.success) throw new Problem('request_invalid', 'status must be pending, approved, rejected or suspended');
    ctx.body = { shops: await listShops(db, signedInStaff(ctx), query.data.status) };
  });

  router.get('/staff/shops/:id', described({ summary: 'A shop or an application in full', caller: 'staff', responses: { 200: 'The shop.' }, problems: ['shop_not_found'] }), ...reads, async (ctx) => {
    ctx.body = await shopOf(db, signedInStaff(ctx), shopId(ctx.params.id));
  });

  const decisions: Array<[path: string, decision: ShopDecision, needsReason: boolean, summary: string]> = [
    ['approval', 'approve', false, 'Approve an application'], ['rejection', 'reject', true, 'Reject an application, with a reason'],
    ['suspension', 'suspend', true, 'Suspend a shop, with a reason: its registers stop at once'], ['reinstatement', 'reinstate', false, 'Reinstate a suspended shop'],
  ];
  for (const [path, decision, needsReason, summary] of decisions) {
    router.post(`/staff/shops/:id/${path}`, described({
      summary, caller: 'staff', body: needsReason ? reasonBody : noBody, idempotent: true, example: needsReason ? { reason: '登録内容の確認のため' } : {},
      responses: { 200: 'The shop, in its new status.' }, problems: ['shop_not_found', 'shop_status_conflict'],
    }), ...administers, async (ctx) => {
      const id = shopId(ctx.params.id);
      const reason = needsReason ? (await readJson(ctx, reasonBody)).reason : (await readJson(ctx, noBody), null);
      await change(ctx, { op: `shop-${decision}`, id, reason }, (trx, staff) => decide(trx, staff, id, decision, reason, clock()));
    });
  }

  router.put('/staff/shops/:id/bank-account', described({
    summary: 'Correct a shop\'s bank account (audited by field, never the account)', caller: 'staff', body: bankAccountBody, idempotent: true, example: BANK_ACCOUNT_EXAMPLE,
    responses: { 200: 'The shop with its account as the transfer file will write it.' }, problems: ['shop_not_found'],
  }), ...administers, async (ctx) => {
    const id = shopId(ctx.params.id);
    const account = await readJson(ctx, bankAccountBody);
    await change(ctx, { op: 'shop-bank-account', id, ...account }, (trx, staff) => setBankAccount(trx, staff, id, account));
  });

  return router;
}
