// The town's campaigns (docs/campaigns.md): every municipal role reads them, the administrator
// creates, edits (while planned), starts, pauses, resumes and ends them, and funds and tops up
// their budgets. Every change runs under the caller's Idempotency-Key.
import Router from '@koa/router';
import type { Knex } from 'knex';
import type { Context } from 'koa';
import { z } from 'zod';
import type { Db } from '../db.ts';
import { readJson } from '../http/body.ts';
import { described } from '../http/described.ts';
import { idempotencyKey, respond, runIdempotent } from '../http/idempotency.ts';
import { Problem } from '../http/problems.ts';
import { LIMITS } from '../ledger/entries.ts';
import { isDate } from '../ledger/rules.ts';
import { MUNICIPAL_READERS, signedInStaff, staffWith } from '../staff/middleware.ts';
import type { SignedInStaff } from '../staff/repository.ts';
import { CAMPAIGN_ACTIONS, CAMPAIGN_KINDS, CAMPAIGN_MAX_VALID_MONTHS, CAMPAIGN_NAME_MAX, type CampaignAction } from '@mykey/contracts/campaigns.ts';
import { campaignOf, changeStatus, createCampaign, fund, listCampaigns, moneyReference, topUp, updateCampaign } from './service.ts';

const name = z.string().trim().min(1).max(CAMPAIGN_NAME_MAX).regex(/^[^\r\n]*$/, { error: 'must be one line of text' });
const date = z.string().refine(isDate, { error: 'must be a date, YYYY-MM-DD (Japan time)' });
const id = z.number().int().positive();
const ids = z.array(id).max(1000).nullable();
const points = (max: number) => z.number().int().min(0).max(max);

/** A campaign's terms, and the rules between them the database cannot say in one column. */
export const campaignTermsBody = z.object({
  kind: z.enum(CAMPAIGN_KINDS),
  nameJa: name,
  nameEn: name,
  startsOn: date,
  endsOn: date,
  premiumPercent: z.number().int().min(0).max(100),
  capPerResidentPoints: points(LIMITS.maxFundingPoints),
  budgetPoints: points(LIMITS.maxFundingPoints),
  validity: z.union([z.object({ until: date }).strict(), z.object({ months: z.number().int().min(1).max(CAMPAIGN_MAX_VALID_MONTHS) }).strict()]),
  merchantIds: ids,
  partnerIds: ids,
}).strict()
  .refine((t) => t.startsOn <= t.endsOn, { error: 'endsOn must not be before startsOn', path: ['endsOn'] })
  // Points granted on the last day must not be expired already.
  .refine((t) => !('until' in t.validity) || t.validity.until >= t.endsOn, { error: 'points must stay valid at least through the campaign\'s last day', path: ['validity'] })
  .refine((t) => t.kind === 'conversion_premium' ? t.premiumPercent > 0 : t.premiumPercent === 0, { error: 'a premium campaign has a premium above 0; other kinds have none', path: ['premiumPercent'] })
  .refine((t) => t.kind === 'conversion_premium' || t.partnerIds === null, { error: 'only a premium campaign names partners', path: ['partnerIds'] });

const editBody = z.object({ version: z.number().int().positive(), terms: campaignTermsBody }).strict();
const moneyBody = z.object({ points: z.number().int().min(1).max(LIMITS.maxFundingPoints) }).strict();
const statusBody = z.object({ action: z.enum(CAMPAIGN_ACTIONS) }).strict();

const EXAMPLE_TERMS = {
  kind: 'administrative', nameJa: '子育て応援ポイント 2027', nameEn: 'Child-rearing support points 2027', startsOn: '2027-04-01', endsOn: '2028-03-31',
  premiumPercent: 0, capPerResidentPoints: 10_000, budgetPoints: 5_000_000, validity: { months: 6 }, merchantIds: null, partnerIds: null,
};
const MEMBERS = ['merchant_not_found', 'partner_not_found'] as const;

/** A positive id in the path; anything else is as unknown as a missing campaign. */
function campaignId(ctx: Context): number {
  const value = ctx.params.id ?? '';
  if (!/^[1-9][0-9]{0,15}$/.test(value) || !Number.isSafeInteger(Number(value))) throw new Problem('campaign_not_found');
  return Number(value);
}

export function campaignRoutes({ db, clock }: { db: Db; clock: () => Date }): Router {
  const router = new Router({ prefix: '/api/v1' });
  const reads = staffWith(db, ...MUNICIPAL_READERS);
  const administers = staffWith(db, 'administrator');

  /** A change under the caller's Idempotency-Key, in one transaction (run again after a deadlock). */
  async function change(ctx: Context, request: Record<string, unknown>, status: number,
    effect: (trx: Knex.Transaction, staff: SignedInStaff, key: string) => Promise<unknown>): Promise<void> {
    const staff = signedInStaff(ctx);
    const key = idempotencyKey(ctx);
    respond(ctx, await runIdempotent(db, { scope: `staff:${staff.id}`, key, request }, async (trx) => ({ status, body: await effect(trx, staff, key) })));
  }

  router.get('/campaigns', described({ summary: 'The town\'s campaigns, and the shops and partners a campaign may name', caller: 'staff', responses: { 200: 'The campaigns with their status and budget figures, and the choices.' } }), ...reads, async (ctx) => {
    ctx.body = await listCampaigns(db, signedInStaff(ctx), clock());
  });

  router.post('/campaigns', described({
    summary: 'Plan a campaign', description: 'docs/campaigns.md', caller: 'staff', body: campaignTermsBody, idempotent: true, example: EXAMPLE_TERMS,
    responses: { 201: 'The campaign, planned, at version 1.' }, problems: [...MEMBERS],
  }), ...administers, async (ctx) => {
    const terms = await readJson(ctx, campaignTermsBody);
    await change(ctx, { op: 'create-campaign', terms }, 201, (trx, staff) => createCampaign(trx, staff, terms, clock()));
  });

  router.get('/campaigns/:id', described({ summary: 'One campaign of the town', caller: 'staff', responses: { 200: 'The campaign.' }, problems: ['campaign_not_found'] }), ...reads, async (ctx) => {
    ctx.body = await campaignOf(db, signedInStaff(ctx), campaignId(ctx), clock());
  });

  router.put('/campaigns/:id', described({
    summary: 'Change a planned campaign\'s terms, from the version they were read at', description: 'A stale version is refused with each field changed since (docs/campaigns.md#two-staff-edits-at-once).',
    caller: 'staff', body: editBody, idempotent: true, example: { version: 1, terms: EXAMPLE_TERMS },
    responses: { 200: 'The campaign at its next version.' }, problems: ['campaign_not_found', 'campaign_version_conflict', 'campaign_not_planned', ...MEMBERS],
  }), ...administers, async (ctx) => {
    const id = campaignId(ctx);
    const body = await readJson(ctx, editBody);
    await change(ctx, { op: 'edit-campaign', id, ...body }, 200, (trx, staff) => updateCampaign(trx, staff, id, body.version, body.terms, clock()));
  });

  router.post('/campaigns/:id/status', described({
    summary: 'Start, pause, resume or end a campaign', description: 'Ending returns what is left of its budget to the town\'s funding (a budget_return entry).',
    caller: 'staff', body: statusBody, idempotent: true, example: { action: 'start' },
    responses: { 200: 'The campaign in its new status.' }, problems: ['campaign_not_found', 'campaign_status_invalid'],
  }), ...administers, async (ctx) => {
    const id = campaignId(ctx);
    const { action } = await readJson(ctx, statusBody);
    await change(ctx, { op: 'campaign-status', id, action }, 200, (trx, staff) => changeStatus(trx, staff, id, action as CampaignAction, clock()));
  });

  router.post('/campaigns/:id/funding', described({
    summary: 'Fund a campaign\'s budget from the town\'s funding, up to its total', caller: 'staff', body: moneyBody, idempotent: true, example: { points: 1_000_000 },
    responses: { 200: 'The campaign with its budget figures.' }, problems: ['campaign_not_found', 'campaign_status_invalid', 'campaign_funding_exceeds_budget'],
  }), ...administers, async (ctx) => {
    const id = campaignId(ctx);
    const body = await readJson(ctx, moneyBody);
    await change(ctx, { op: 'fund-campaign', id, ...body }, 200, (trx, staff, key) => fund(trx, staff, id, body.points, moneyReference('funding', id, staff.id, key), clock()));
  });

  router.post('/campaigns/:id/top-ups', described({
    summary: 'Raise a campaign\'s budget and fund the difference', caller: 'staff', body: moneyBody, idempotent: true, example: { points: 500_000 },
    responses: { 200: 'The campaign at its next version.' }, problems: ['campaign_not_found', 'campaign_status_invalid'],
  }), ...administers, async (ctx) => {
    const id = campaignId(ctx);
    const body = await readJson(ctx, moneyBody);
    await change(ctx, { op: 'top-up-campaign', id, ...body }, 200, (trx, staff, key) => topUp(trx, staff, id, body.points, moneyReference('top-up', id, staff.id, key), clock()));
  });

  return router;
}
