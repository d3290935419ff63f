// The municipality console's grant screen: campaigns to grant from, one grant (with the category
// it is for), a CSV file of grants with its summary, and a campaign's latest grants (docs/ledger.md,
// "Grants"; docs/events.md). The backend decides every figure.
import type { GrantCampaign, GrantedPoints, GrantFileSummary, RecentGrant } from '@mykey/contracts/grants.ts';
import type { CampaignKind } from '@mykey/contracts/campaigns.ts';
import { isRecord, newIdempotencyKey, request } from './api.ts';
import type { Bilingual } from './i18n.svelte.ts';

/** What the screen says of a grant done. */
export type Granted = Pick<GrantedPoints, 'entryId' | 'mykeyId' | 'points' | 'balanceAfter' | 'category'>;

export type { RecentGrant };

/** What the screen shows of a file's grants. */
export type UploadSummary = Pick<GrantFileSummary, 'uploadId' | 'records' | 'granted' | 'alreadyGranted' | 'refused' | 'pointsGranted' | 'resultPath'>;

const isNumber = (value: unknown): value is number => typeof value === 'number';
const isBilingual = (value: unknown): value is Bilingual => isRecord(value) && typeof value.ja === 'string' && typeof value.en === 'string';

function isCampaign(value: unknown): value is GrantCampaign {
  return isRecord(value) && isNumber(value.id) && typeof value.slug === 'string' && typeof value.kind === 'string' && isBilingual(value.name) && typeof value.running === 'boolean'
    && typeof value.startsOn === 'string' && typeof value.endsOn === 'string' && isNumber(value.budgetLeftPoints) && isNumber(value.capPerResidentPoints);
}

const parseCampaigns = (body: unknown) => (isRecord(body) && Array.isArray(body.campaigns) && body.campaigns.every(isCampaign) ? body.campaigns : null);

const parseGranted = (body: unknown) => (isRecord(body) && isNumber(body.entryId) && typeof body.mykeyId === 'string' && isNumber(body.points)
  && isNumber(body.balanceAfter) && isRecord(body.campaign) && isBilingual(body.campaign.name) ? (body as unknown as Granted) : null);

const SOURCES = new Set(['single', 'file', 'event']);
const isIdOrNull = (value: unknown) => value === null || isNumber(value);
const isRecent = (value: unknown): value is RecentGrant => isRecord(value) && isNumber(value.entryId) && typeof value.postedAt === 'string'
  && typeof value.mykeyId === 'string' && isNumber(value.points) && SOURCES.has(value.source as string) && isIdOrNull(value.categoryId)
  && isIdOrNull(value.eventId) && (value.label === null || isBilingual(value.label));
const parseRecent = (body: unknown) => (isRecord(body) && Array.isArray(body.grants) && body.grants.every(isRecent) ? body.grants : null);

const parseSummary = (body: unknown) => (isRecord(body) && isNumber(body.uploadId) && isNumber(body.records) && isNumber(body.granted)
  && isNumber(body.alreadyGranted) && isNumber(body.refused) && isNumber(body.pointsGranted) && typeof body.resultPath === 'string'
  ? (body as unknown as UploadSummary) : null);

/** The town's campaigns of one kind: administrative ones to grant from, event ones to pay an event (docs/campaigns.md). */
export async function listCampaigns(kind: CampaignKind): Promise<GrantCampaign[]> {
  return (await request('/api/v1/staff/grants/campaigns', parseCampaigns)).filter((campaign) => campaign.kind === kind);
}

/**
 * `key`: one Idempotency-Key per confirmation dialog, so pressing 付与する again after a lost
 * answer cannot grant twice.
 */
export function grantPoints(grant: { mykeyId: string; campaign: number; points: number; reason: string; category?: number }, key: string): Promise<Granted> {
  return request('/api/v1/staff/grants', parseGranted, { method: 'POST', body: grant, idempotencyKey: key });
}

/** The campaign's latest grants, newest first, with their category or event. */
export function recentGrants(campaign: number): Promise<RecentGrant[]> {
  return request(`/api/v1/staff/grants?campaign=${campaign}`, parseRecent);
}

// A file of 100,000 lines takes a while; the backend grants it a batch at a time.
const UPLOAD_TIMEOUT_MS = 30 * 60_000;

export function uploadGrantFile(campaign: number, file: File): Promise<UploadSummary> {
  return request(`/api/v1/staff/grant-uploads?campaign=${campaign}`, parseSummary, {
    method: 'POST', file: { data: file, type: 'text/csv' }, timeoutMs: UPLOAD_TIMEOUT_MS,
  });
}

export const GRANT_FILE_HEADER = 'mykey_id,points,reason';
