// A campaign's life, from plan to closing (docs/campaigns.md): created and edited while planned,
// started, paused, resumed and ended by the town's administrators; its budget funded, topped up
// and, at the end, what is left of it returned to the town's funding, each a ledger entry. Every
// change locks the campaign's row, raises its version and keeps that version's values, so an
// edit made from an older version is refused with what changed since, field by field.
import { createHash, randomBytes } from 'node:crypto';
import { isDeepStrictEqual } from 'node:util';
import type { Knex } from 'knex';
import { appendAudit, towns } from '../audit/chain.ts';
import type { Db } from '../db.ts';
import { Problem } from '../http/problems.ts';
import { fundCampaign, returnBudget } from '../ledger/ledger.ts';
import { ledgerRepository } from '../ledger/repository.ts';
import { campaignPays } from '../ledger/rules.ts';
import { partnerRepository } from '../partners/repository.ts';
import { shopsRepository } from '../shops/repository.ts';
import type { SignedInStaff } from '../staff/repository.ts';
import {
  CAMPAIGN_FIELDS, CAMPAIGN_MAX_LISTED, CAMPAIGN_TRANSITIONS,
  type CampaignAction, type CampaignChange, type CampaignChoices, type CampaignTerms, type CampaignView,
} from '@mykey/contracts/campaigns.ts';
import { campaignsRepository as repo, type StoredCampaign } from './repository.ts';

type Conn = Db | Knex.Transaction;
type Trx = Knex.Transaction;

const actor = (staff: SignedInStaff) => ({ kind: 'staff' as const, id: String(staff.id) });

/** What a version holds: the fields a conflict compares. */
const versionOf = (c: StoredCampaign): Record<string, unknown> => Object.fromEntries(CAMPAIGN_FIELDS.map((field) => [field, c[field]]));

async function viewsOf(conn: Conn, campaigns: StoredCampaign[], now: Date): Promise<CampaignView[]> {
  const budgets = await ledgerRepository.campaignBudgets(conn, campaigns.map((c) => c.id));
  return campaigns.map(({ municipalityCode: _town, ...c }) => {
    const budget = budgets.get(c.id)!;
    return { ...c, paying: campaignPays(c, now), fundedPoints: budget.funded, budgetLeftPoints: budget.left, returnedPoints: budget.returned };
  });
}

export async function listCampaigns(db: Db, staff: SignedInStaff, now: Date): Promise<{ campaigns: CampaignView[]; choices: CampaignChoices }> {
  const campaigns = await viewsOf(db, await repo.list(db, staff.municipalityCode, CAMPAIGN_MAX_LISTED), now);
  return { campaigns, choices: await choicesOf(db, staff.municipalityCode) };
}

/**
 * The town's shops and the partners it has agreements with: whom a campaign may name. A shop
 * still applying, or refused, is no shop of the town yet; a suspended one stays, as it may be reinstated.
 */
async function choicesOf(conn: Conn, municipalityCode: string): Promise<CampaignChoices> {
  return {
    merchants: (await shopsRepository.listOfTown(conn, municipalityCode, ['approved', 'suspended'])).map(({ id, nameJa, nameEn }) => ({ id, name: { ja: nameJa, en: nameEn } })),
    partners: (await partnerRepository.partnersOf(conn, municipalityCode)).map(({ id, name }) => ({ id, name })),
  };
}

/** A campaign of the staff member's town, or campaign_not_found (another town's answers the same). */
async function own(conn: Conn, staff: SignedInStaff, id: number, options: { lock?: boolean } = {}): Promise<StoredCampaign> {
  const campaign = await repo.one(conn, staff.municipalityCode, id, options);
  if (!campaign) throw new Problem('campaign_not_found');
  return campaign;
}

export async function campaignOf(db: Db, staff: SignedInStaff, id: number, now: Date): Promise<CampaignView> {
  return (await viewsOf(db, [await own(db, staff, id)], now))[0]!;
}

/** The shops and partners named are the town's own (which one is not, not said: another town's answers as none). */
async function checkMembers(conn: Conn, municipalityCode: string, terms: CampaignTerms): Promise<void> {
  const choices = await choicesOf(conn, municipalityCode);
  const known = (list: Array<{ id: number }>, ids: number[] | null) => (ids ?? []).every((id) => list.some((item) => item.id === id));
  if (!known(choices.merchants, terms.merchantIds)) throw new Problem('merchant_not_found');
  if (!known(choices.partners, terms.partnerIds)) throw new Problem('partner_not_found');
}

/** Lists kept sorted and once each, so two versions naming the same shops compare equal. */
const normalized = (terms: CampaignTerms): CampaignTerms => {
  const list = (ids: number[] | null) => (ids === null ? null : [...new Set(ids)].sort((a, b) => a - b));
  return { ...terms, merchantIds: list(terms.merchantIds), partnerIds: list(terms.partnerIds) };
};

export async function createCampaign(trx: Trx, staff: SignedInStaff, input: CampaignTerms, now: Date): Promise<CampaignView> {
  const terms = normalized(input);
  await checkMembers(trx, staff.municipalityCode, terms);
  const id = await repo.insert(trx, staff.municipalityCode, `campaign-${randomBytes(6).toString('hex')}`, terms, now);
  const stored = (await repo.one(trx, staff.municipalityCode, id))!;
  await repo.keepVersion(trx, id, stored.version, versionOf(stored), staff.id, now);
  await appendAudit(trx, { action: 'campaign.created', actor: actor(staff), subject: `campaign:${id}`, details: { ...versionOf(stored), ...towns(staff.municipalityCode) } });
  return (await viewsOf(trx, [stored], now))[0]!;
}

/**
 * Locks the campaign and checks the version the staff member's change was made from: a stale
 * one is refused with each field changed since, as it was then and as it is now.
 */
async function atVersion(trx: Trx, staff: SignedInStaff, id: number, version: number, now: Date): Promise<StoredCampaign> {
  const current = await own(trx, staff, id, { lock: true });
  // A campaign seeded before versions were kept gets its current values kept the first time it is read for a change.
  await repo.keepVersion(trx, id, current.version, versionOf(current), null, now);
  if (version === current.version) return current;
  const was = version < current.version ? await repo.version(trx, id, version) as Record<string, unknown> | undefined : undefined;
  const nowValues = versionOf(current);
  const changes: CampaignChange[] = CAMPAIGN_FIELDS.filter((field) => !was || !isDeepStrictEqual(was[field], nowValues[field]))
    .map((field) => ({ field, was: was ? was[field] : null, now: nowValues[field] }));
  throw new Problem('campaign_version_conflict', `the edit was made from version ${version}; the campaign is at version ${current.version}`,
    { currentVersion: current.version, changes });
}

/** New terms for a planned campaign, from the version the staff member saw. */
export async function updateCampaign(trx: Trx, staff: SignedInStaff, id: number, version: number, input: CampaignTerms, now: Date): Promise<CampaignView> {
  const current = await atVersion(trx, staff, id, version, now);
  if (current.status !== 'planned') throw new Problem('campaign_not_planned');
  const terms = normalized(input);
  await checkMembers(trx, staff.municipalityCode, terms);
  return changed(trx, staff, current, 'campaign.updated', now, () => repo.updateTerms(trx, current, terms));
}

/** Runs `change`, keeps the new version's values and audits them with `action`. */
async function changed(trx: Trx, staff: SignedInStaff, before: StoredCampaign, action: string, now: Date, change: () => Promise<void>, details: Record<string, unknown> = {}): Promise<CampaignView> {
  await change();
  const after = (await repo.one(trx, staff.municipalityCode, before.id))!;
  await repo.keepVersion(trx, after.id, after.version, versionOf(after), staff.id, now);
  const fields = CAMPAIGN_FIELDS.filter((field) => !isDeepStrictEqual(before[field], after[field]));
  await appendAudit(trx, {
    action, actor: actor(staff), subject: `campaign:${after.id}`,
    details: { version: after.version, fields, ...Object.fromEntries(fields.map((field) => [field, after[field]])), ...details, ...towns(staff.municipalityCode) },
  });
  return (await viewsOf(trx, [after], now))[0]!;
}

const AUDITED: Record<CampaignAction, string> = { start: 'campaign.started', pause: 'campaign.paused', resume: 'campaign.resumed', end: 'campaign.ended' };

/** Start, pause, resume or end. Ending returns what is left of the budget to the town's funding. */
export async function changeStatus(trx: Trx, staff: SignedInStaff, id: number, action: CampaignAction, now: Date): Promise<CampaignView> {
  const current = await own(trx, staff, id, { lock: true });
  await repo.keepVersion(trx, id, current.version, versionOf(current), null, now);
  const transition = CAMPAIGN_TRANSITIONS[action];
  if (!transition.from.includes(current.status)) throw new Problem('campaign_status_invalid', `a ${current.status} campaign cannot ${action}`);
  let returned = 0;
  return changed(trx, staff, current, AUDITED[action], now, async () => {
    await repo.setStatus(trx, current, transition.to);
    if (action === 'end') returned = (await returnBudget(trx, { reference: `campaign:${id}:return`, campaignId: id, now }))?.postings.find((p) => p.amount > 0)?.amount ?? 0;
  }, action === 'end' ? { returnedPoints: returned } : {});
}

/** The ledger reference of a funding or top-up: the campaign, the staff member and (a hash of) their Idempotency-Key. */
export function moneyReference(kind: 'funding' | 'top-up', campaignId: number, staffId: number, idempotencyKey: string): string {
  return `campaign:${campaignId}:${kind}:${createHash('sha256').update(`${staffId}:${idempotencyKey}`).digest('hex').slice(0, 40)}`;
}

/** Municipality funding → the budget, up to the budget's total (campaign_funding_exceeds_budget beyond it). */
export async function fund(trx: Trx, staff: SignedInStaff, id: number, points: number, reference: string, now: Date): Promise<CampaignView> {
  const current = await own(trx, staff, id, { lock: true });
  if (current.status === 'ended') throw new Problem('campaign_status_invalid', 'an ended campaign takes no funding');
  await fundCampaign(trx, { reference, campaignId: id, points, now });
  await appendAudit(trx, { action: 'campaign.funded', actor: actor(staff), subject: `campaign:${id}`, details: { points, reference, ...towns(staff.municipalityCode) } });
  return (await viewsOf(trx, [current], now))[0]!;
}

/** A larger budget, funded at once: the total rises by `points` and the town's funding pays them in. */
export async function topUp(trx: Trx, staff: SignedInStaff, id: number, points: number, reference: string, now: Date): Promise<CampaignView> {
  const current = await own(trx, staff, id, { lock: true });
  await repo.keepVersion(trx, id, current.version, versionOf(current), null, now);
  if (current.status === 'ended') throw new Problem('campaign_status_invalid', 'an ended campaign takes no top-up');
  return changed(trx, staff, current, 'campaign.topped_up', now, async () => {
    await repo.raiseBudget(trx, current, points);
    await fundCampaign(trx, { reference, campaignId: id, points, now });
  }, { points, reference });
}
