// The municipality console's campaigns (docs/campaigns.md): the town's campaigns with their
// status and budget, whom they may name, and the administrator's changes, each under an
// Idempotency-Key the screen keeps per attempt.
import {
  CAMPAIGN_FIELDS, CAMPAIGN_KINDS, CAMPAIGN_STATUSES,
  type CampaignAction, type CampaignChange, type CampaignChoices, type CampaignTerms, type CampaignView,
} from '@mykey/contracts/campaigns.ts';
import { isRecord, request, type ApiError } from './api.ts';

export type { CampaignAction, CampaignChange, CampaignChoices, CampaignTerms, CampaignView };
export { CAMPAIGN_ACTIONS, CAMPAIGN_KINDS, CAMPAIGN_MAX_VALID_MONTHS, CAMPAIGN_NAME_MAX, CAMPAIGN_TRANSITIONS } from '@mykey/contracts/campaigns.ts';

const isString = (value: unknown): value is string => typeof value === 'string';
const isCount = (value: unknown): value is number => typeof value === 'number' && Number.isSafeInteger(value) && value >= 0;
const isIds = (value: unknown) => value === null || (Array.isArray(value) && value.every(isCount));
const isValidity = (value: unknown) => isRecord(value) && (isString(value.until) || isCount(value.months));
const isNamed = (value: unknown) => isRecord(value) && isCount(value.id) && isRecord(value.name) && isString(value.name.ja) && isString(value.name.en);

function isCampaign(value: unknown): value is CampaignView {
  return isRecord(value) && isCount(value.id) && isCount(value.version) && CAMPAIGN_KINDS.some((kind) => kind === value.kind)
    && CAMPAIGN_STATUSES.some((status) => status === value.status) && isString(value.nameJa) && isString(value.nameEn)
    && isString(value.startsOn) && isString(value.endsOn) && isCount(value.premiumPercent) && isCount(value.capPerResidentPoints)
    && isCount(value.budgetPoints) && isValidity(value.validity) && isIds(value.merchantIds) && isIds(value.partnerIds)
    && typeof value.paying === 'boolean' && isCount(value.fundedPoints) && isCount(value.budgetLeftPoints) && isCount(value.returnedPoints);
}

const parseCampaign = (body: unknown) => (isCampaign(body) ? body : null);
const parseList = (body: unknown) => (isRecord(body) && Array.isArray(body.campaigns) && body.campaigns.every(isCampaign) && isRecord(body.choices)
  && Array.isArray(body.choices.merchants) && body.choices.merchants.every(isNamed) && Array.isArray(body.choices.partners) && body.choices.partners.every(isNamed)
  ? body as unknown as { campaigns: CampaignView[]; choices: CampaignChoices } : null);

export function loadCampaigns(): Promise<{ campaigns: CampaignView[]; choices: CampaignChoices }> {
  return request('/api/v1/campaigns', parseList);
}

export function createCampaign(terms: CampaignTerms, key: string): Promise<CampaignView> {
  return request('/api/v1/campaigns', parseCampaign, { method: 'POST', body: terms, idempotencyKey: key });
}

/** `version`: the campaign's version the form was filled from; a later one answers campaign_version_conflict. */
export function updateCampaign(id: number, version: number, terms: CampaignTerms, key: string): Promise<CampaignView> {
  return request(`/api/v1/campaigns/${id}`, parseCampaign, { method: 'PUT', body: { version, terms }, idempotencyKey: key });
}

export function changeCampaignStatus(id: number, action: CampaignAction, key: string): Promise<CampaignView> {
  return request(`/api/v1/campaigns/${id}/status`, parseCampaign, { method: 'POST', body: { action }, idempotencyKey: key });
}

/** `topUp`: raise the budget by the points and fund them; else fund up to the budget. */
export function addCampaignMoney(id: number, kind: 'funding' | 'top-ups', points: number, key: string): Promise<CampaignView> {
  return request(`/api/v1/campaigns/${id}/${kind}`, parseCampaign, { method: 'POST', body: { points }, idempotencyKey: key });
}

/** What another staff member changed, from a refused edit's problem; null for any other problem. */
export function conflictOf(problem: ApiError | null): { currentVersion: number; changes: CampaignChange[] } | null {
  if (problem?.code !== 'campaign_version_conflict') return null;
  const { currentVersion, changes } = problem.members;
  const valid = isCount(currentVersion) && Array.isArray(changes)
    && changes.every((change) => isRecord(change) && CAMPAIGN_FIELDS.some((field) => field === change.field));
  return valid ? { currentVersion, changes: changes as CampaignChange[] } : null;
}
