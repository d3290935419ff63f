// Administrative points by municipal staff of the campaign's municipality: one grant under an
// Idempotency-Key, or a CSV file whose hash keeps a re-upload from granting twice.
import { Readable } from 'node:stream';
import Router from '@koa/router';
import type { Context } from 'koa';
import { z } from 'zod';
import { recordAudit } from '../audit/chain.ts';
import type { Db } from '../db.ts';
import { readJson } from '../http/body.ts';
import { idempotencyKey, respond, runIdempotent } from '../http/idempotency.ts';
import { Problem } from '../http/problems.ts';
import { parseMykeyId } from '../mykey/id.ts';
import { MUNICIPAL_READERS, signedInStaff, staffWith } from '../staff/middleware.ts';
import { organizationLabel } from '../staff/organization.ts';
import { staffReason } from '../staff/reason.ts';
import type { GrantCampaign } from '@mykey/contracts/grants.ts';
import { ledgerRepository } from '../ledger/repository.ts';
import { campaignsRepository } from '../campaigns/repository.ts';
import { grantsRepository as repo } from './repository.ts';
import { grantHistory, ownCategory } from '../events/records.ts';
import { eventsRepository } from '../events/repository.ts';
import { GRANT_FILE_LIMITS, grantOne, importGrantFile, resultFile, singleGrantReference, spoolGrantFile, uploadSummary } from './service.ts';
import { described } from '../http/described.ts';

const campaignKey = z.union([z.string().trim().min(1).max(64), z.number().int().positive()]);
const grantBody = z.object({
  mykeyId: z.string().max(64),
  campaign: campaignKey,
  // Any number: the ledger refuses what is not a whole number in range as points_out_of_range.
  points: z.number(),
  reason: staffReason,
  /** The town's event category the points are for (docs/events.md); without it, uncategorised. */
  category: z.number().int().positive().optional(),
}).strict();

const RECENT_GRANTS = 50;

/** How a grant was asked for, read from its ledger reference. */
const sourceOf = (reference: string) => (reference.startsWith('grant:file:') ? 'file' : reference.startsWith('event:') ? 'event' : 'single');

export interface GrantRoutesDeps { db: Db; clock: () => Date }

export function grantRoutes({ db, clock }: GrantRoutesDeps): Router {
  const router = new Router({ prefix: '/api/v1/staff' });
  const reads = staffWith(db, ...MUNICIPAL_READERS);
  const operates = staffWith(db, 'operator');

  /** A campaign of the signed-in staff member's municipality, by id or slug; another municipality's is not found. */
  async function campaignOf(ctx: Context, key: unknown): Promise<GrantCampaign> {
    const parsed = campaignKey.safeParse(key);
    const campaign = parsed.success ? await campaignsRepository.campaignWithBudget(db, signedInStaff(ctx).organization.id, String(parsed.data), clock()) : undefined;
    if (!campaign) throw new Problem('campaign_not_found');
    return campaign;
  }

  /** A campaign to grant from: the town's, and administrative (an event's or a premium's pays nothing here). */
  async function grantingCampaign(ctx: Context, key: unknown): Promise<GrantCampaign> {
    const campaign = await campaignOf(ctx, key);
    if (campaign.kind !== 'administrative') throw new Problem('campaign_kind_mismatch', `campaign ${campaign.id} is ${campaign.kind}`);
    return campaign;
  }

  router.get('/grants/campaigns', described({ summary: 'The town\'s campaigns points can be granted from, with what each has left', caller: 'staff', responses: { 200: 'The campaigns with their budgets.' } }), ...reads, async (ctx) => {
    ctx.body = { campaigns: await campaignsRepository.campaignsWithBudget(db, signedInStaff(ctx).organization.id, clock()) };
  });

  router.post('/grants', described({
    summary: 'Grant administrative points to one resident', caller: 'staff', body: grantBody, idempotent: true,
    example: { mykeyId: 'C5T9-3LYW', campaign: 'kosodate-2026', points: 1000, reason: '子育て応援ポイント', category: 2 },
    responses: { 201: 'The ledger entry posted.' },
    problems: ['mykey_id_malformed', 'mykey_id_check_failed', 'mykey_not_found', 'campaign_not_found', 'campaign_kind_mismatch', 'campaign_not_running', 'campaign_budget_insufficient', 'campaign_cap_exceeded', 'points_out_of_range', 'event_category_not_found'],
  }), ...operates, async (ctx) => {
    const staff = signedInStaff(ctx);
    const key = idempotencyKey(ctx);
    const body = await readJson(ctx, grantBody);
    const id = parseMykeyId(body.mykeyId);
    if (!id.ok) throw new Problem(id.code, id.detail);
    const campaign = await grantingCampaign(ctx, body.campaign);
    const category = await ownCategory(db, staff.municipalityCode, body.category);
    // A request without a category is hashed as before categories, so an old retry still replays.
    const request = { op: 'grant-points', mykeyId: id.id, campaignId: campaign.id, points: body.points, reason: body.reason, ...(category && { categoryId: category.id }) };
    respond(ctx, await runIdempotent(db, { scope: `staff:${staff.id}`, key, request }, async (trx) => ({
      status: 201,
      body: await grantOne(trx, { staff, campaign, category, mykeyId: id.id, points: body.points, reason: body.reason, reference: singleGrantReference(staff.id, key), now: clock() }),
    })));
  });

  router.get('/grants', described({ summary: 'The campaign\'s most recent grants (50)', caller: 'staff', query: z.object({ campaign: campaignKey }), responses: { 200: 'The campaign and its recent grants.' }, problems: ['campaign_not_found'] }), ...reads, async (ctx) => {
    const campaign = await campaignOf(ctx, ctx.query.campaign);
    const grants = await ledgerRepository.recentGrants(db, campaign.id, RECENT_GRANTS);
    const records = await eventsRepository.recordsOf(db, grants.map((g) => g.entryId));
    ctx.body = {
      campaign,
      grants: grants.map((g) => {
        const record = records.get(g.entryId);
        return {
          entryId: g.entryId, postedAt: g.postedAt, mykeyId: g.mykeyId, points: g.points, source: sourceOf(g.reference),
          categoryId: record?.categoryId ?? null, eventId: record?.eventId ?? null, label: record?.labelJa ? { ja: record.labelJa, en: record.labelEn } : null,
        };
      }),
    };
  });

  // A resident's administrative points in this town, newest first, as their history shows them (docs/events.md).
  router.get('/grant-history', described({ summary: 'A resident\'s administrative points in this town, newest first', caller: 'staff', query: z.object({ mykeyId: z.string().max(64) }), responses: { 200: 'The resident\'s grants in this town.' }, problems: ['mykey_id_malformed', 'mykey_id_check_failed'] }), ...reads, async (ctx) => {
    const id = parseMykeyId(typeof ctx.query.mykeyId === 'string' ? ctx.query.mykeyId : '');
    if (!id.ok) throw new Problem(id.code, id.detail);
    ctx.body = await grantHistory(db, signedInStaff(ctx), id.id);
  });

  // The body is the CSV file itself (docs/ledger.md, "Grants"): header mykey_id,points,reason,category (or the older one without category).
  router.post('/grant-uploads', described({
    summary: 'Grant points from a CSV file (mykey_id,points,reason,category)', caller: 'staff', query: z.object({ campaign: campaignKey }),
    upload: { mediaType: 'text/csv', description: 'The grant file: header mykey_id,points,reason,category (docs/ledger.md, "Grants"). Its hash keeps a re-upload from granting twice.' },
    responses: { 201: 'The upload\'s summary: lines granted and refused.' },
    problems: ['grant_file_media_type', 'body_too_large', 'campaign_not_found', 'campaign_kind_mismatch', 'grant_file_header_invalid', 'grant_file_not_csv', 'grant_file_too_many_lines'],
  }), ...operates, async (ctx) => {
    const staff = signedInStaff(ctx);
    if (!ctx.is('text/csv')) throw new Problem('grant_file_media_type');
    if (Number(ctx.get('Content-Length') || 0) > GRANT_FILE_LIMITS.maxBytes) {
      throw new Problem('body_too_large', `A grant file may be at most ${GRANT_FILE_LIMITS.maxBytes} bytes.`);
    }
    const campaign = await grantingCampaign(ctx, ctx.query.campaign);
    const file = await spoolGrantFile(ctx.req);
    try {
      ctx.status = 201;
      ctx.body = await importGrantFile(db, { staff, campaign, file, now: clock() });
    } finally {
      await file.dispose();
    }
  });

  /** An upload of the signed-in staff member's municipality, or not found. */
  async function uploadOf(ctx: Context) {
    const id = /^[1-9][0-9]{0,15}$/.test(ctx.params.uploadId ?? '') ? Number(ctx.params.uploadId) : undefined;
    const upload = id === undefined ? undefined : await repo.upload(db, id);
    if (!upload || upload.municipalityCode !== signedInStaff(ctx).organization.id) throw new Problem('grant_upload_not_found');
    return upload;
  }

  router.get('/grant-uploads/:uploadId', described({ summary: 'A grant file\'s summary and state', caller: 'staff', responses: { 200: 'The upload\'s summary.' }, problems: ['grant_upload_not_found'] }), ...reads, async (ctx) => {
    const upload = await uploadOf(ctx);
    ctx.body = { ...uploadSummary(upload, (await campaignOf(ctx, upload.campaignId))), state: upload.state };
  });

  router.get('/grant-uploads/:uploadId/result.csv', described({ summary: 'A grant file\'s result, line by line, as CSV (audited)', caller: 'staff', responses: { 200: { description: 'The result file.', mediaType: 'text/csv' } }, problems: ['grant_upload_not_found'] }), ...reads, async (ctx) => {
    const upload = await uploadOf(ctx);
    const staff = signedInStaff(ctx);
    // Recorded before the file goes out: it names residents and what they were granted.
    await recordAudit(db, {
      action: 'grant_upload.result_downloaded', actor: { kind: 'staff', id: String(staff.id) }, subject: `grant-upload:${upload.id}`,
      details: { uploadId: upload.id, organization: organizationLabel(staff.organization) },
    });
    ctx.attachment(`grant-result-${upload.id}.csv`);
    ctx.type = 'text/csv; charset=utf-8';
    ctx.body = Readable.from(resultFile(db, upload.id));
  });

  return router;
}
