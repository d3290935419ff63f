// Parties for ledger tests: each test makes a town of its own (municipality, shop, partner,
// campaign) and residents of its own, so tests in one file share a database without sharing
// a balance. MyKey IDs are inserted directly: the ledger only needs them to exist.
import { randomBytes, randomInt } from 'node:crypto';
import type { Knex } from 'knex';
import type { Db } from '../../src/db.ts';
import { creditConversions, fundCampaign, inLedgerTransaction, type CreditConversion, type Credited } from '../../src/ledger/ledger.ts';
import { addResident, agree } from './partners.ts';

/** A moment the tests call "now": 2026-11-22 12:00 in Japan. */
export const NOW = new Date('2026-11-22T03:00:00.000Z');

export const DAY = 86_400_000;

/** One conversion credited the one way the ledger credits them: as a batch of one. */
export async function creditConversion(trx: Knex.Transaction, request: CreditConversion): Promise<Credited> {
  return (await creditConversions(trx, [request]))[0]!;
}

export interface CampaignTerms { kind?: 'conversion_premium' | 'administrative' | 'event'; premiumPercent?: number; budgetPoints?: number; capPerResidentPoints?: number; startsOn?: string; endsOn?: string; funded?: number }

export interface Town { code: string; merchantId: number; partnerId: number; campaignId: number; campaign(terms?: CampaignTerms): Promise<number> }

const slug = (what: string) => `${what}-${randomBytes(5).toString('hex')}`;

/**
 * The columns of a campaign that runs, as campaigns did before they had a life of their own: a
 * premium campaign when it has a premium, else an administrative one, its points valid through its last day.
 */
export const campaignState = (premiumPercent: number, endsOn: string, kind = premiumPercent > 0 ? 'conversion_premium' : 'administrative') =>
  ({ kind, status: 'running', points_valid_until: endsOn });

/** A campaign in the town, funded with `funded` points (its whole budget unless told): a premium campaign of 20% unless told another kind. */
async function addCampaign(db: Db, code: string, terms: CampaignTerms): Promise<number> {
  const budget = terms.budgetPoints ?? 1_000_000;
  const kind = terms.kind ?? 'conversion_premium';
  const premium = kind === 'conversion_premium' ? terms.premiumPercent ?? 20 : 0;
  const [id] = await db('campaigns').insert({
    municipality_code: code, slug: slug('campaign'), name_ja: 'テスト', name_en: 'Test',
    premium_percent: premium, budget_points: budget, cap_per_resident_points: terms.capPerResidentPoints ?? 100_000,
    starts_on: terms.startsOn ?? '2026-04-01', ends_on: terms.endsOn ?? '2027-03-31', ...campaignState(premium, terms.endsOn ?? '2027-03-31', kind),
  });
  const funded = terms.funded ?? budget;
  if (funded > 0) await inLedgerTransaction(db, (trx) => fundCampaign(trx, { reference: slug('fund'), campaignId: Number(id), points: funded, now: NOW }));
  return Number(id);
}

/** A municipality with a 6-digit code no other test holds. */
async function municipality(db: Db): Promise<string> {
  for (;;) {
    const code = String(randomInt(100_000, 1_000_000));
    try {
      await db('municipalities').insert({ code, name_ja: 'テスト市', name_en: 'Test City' });
      return code;
    } catch (error) {
      if ((error as { code?: string }).code !== 'ER_DUP_ENTRY') throw error;
    }
  }
}

/** A municipality with a shop, a partner that has an agreement with it, and a funded campaign. */
export async function town(db: Db, terms: CampaignTerms = {}): Promise<Town> {
  const code = await municipality(db);
  const [merchantId] = await db('merchants').insert({ municipality_code: code, slug: slug('shop'), name_ja: '店', name_en: 'Shop', status: 'approved' });
  const partnerSlug = slug('partner');
  const [partnerId] = await db('partners').insert({ slug: partnerSlug, name_ja: '提携', name_en: 'Partner', kind: 'card_points', rate_units: 1, rate_points: 1 });
  await agree(db, partnerSlug, code);
  return {
    code, merchantId: Number(merchantId), partnerId: Number(partnerId),
    campaignId: await addCampaign(db, code, terms),
    campaign: (more = {}) => addCampaign(db, code, more),
  };
}

/** A resident: a MyKey ID that exists. */
export const resident = (db: Db): Promise<string> => addResident(db);

/** A reference no other test uses. */
export const ref = (what: string) => slug(what);

/** Runs one ledger operation in its own transaction, as callers do. */
export const run = <T>(db: Db, op: (trx: Knex.Transaction) => Promise<T>) => inLedgerTransaction(db, op);
