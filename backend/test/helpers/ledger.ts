// Parties for ledger tests: each test makes a town of its own (municipality, shop, partner,
// campaign) and residents of its own, so tests in one file share a database without sharing
// a balance. MyKey IDs are inserted directly: the ledger only needs them to exist.
import { randomBytes, randomInt } from 'node:crypto';
import type { Knex } from 'knex';
import type { Db } from '../../src/db.ts';
import { MYKEY_ALPHABET } from '../../src/mykey/id-check.ts';
import { fundCampaign, inLedgerTransaction } from '../../src/ledger/ledger.ts';
import { addAgreement } from '../../src/partners/agreements.ts';

/** A moment the tests call "now": 2026-11-22 12:00 in Japan. */
export const NOW = new Date('2026-11-22T03:00:00.000Z');

export const DAY = 86_400_000;

export interface CampaignTerms { premiumPercent?: number; budgetPoints?: number; capPerResidentPoints?: number; startsOn?: string; endsOn?: string; funded?: number }

export interface Town { code: string; merchantId: number; partnerId: number; campaignId: number; campaign(terms?: CampaignTerms): Promise<number> }

const slug = (what: string) => `${what}-${randomBytes(5).toString('hex')}`;

/** A campaign in the town, funded with `funded` points (its whole budget unless told). */
async function addCampaign(db: Db, code: string, terms: CampaignTerms): Promise<number> {
  const budget = terms.budgetPoints ?? 1_000_000;
  const [id] = await db('campaigns').insert({
    municipality_code: code, slug: slug('campaign'), name_ja: 'テスト', name_en: 'Test',
    premium_percent: terms.premiumPercent ?? 20, budget_points: budget, cap_per_resident_points: terms.capPerResidentPoints ?? 100_000,
    starts_on: terms.startsOn ?? '2026-04-01', ends_on: terms.endsOn ?? '2027-03-31',
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
  await addAgreement(db, { partner: partnerSlug, municipality: code, startsOn: '2000-01-01', now: NOW });
  return {
    code, merchantId: Number(merchantId), partnerId: Number(partnerId),
    campaignId: await addCampaign(db, code, terms),
    campaign: (more = {}) => addCampaign(db, code, more),
  };
}

/** 99999 with its check digit: the home town of residents made directly in the database. */
const RESIDENTS_HOME = { code: '999997', name_ja: 'テスト市（住民の所属）', name_en: 'Test City (residents\' home)' };
const homes = new WeakMap<Db, Promise<string>>();

/**
 * The municipality code to give a MyKey ID inserted directly: a home it must have. Made once per
 * database. (Insert-or-ignore swallows a missing home as a warning, so the row would never come.)
 */
export function residentsHome(db: Db): Promise<string> {
  let home = homes.get(db);
  if (!home) {
    home = db('municipalities').insert(RESIDENTS_HOME).onConflict('code').ignore().then(() => RESIDENTS_HOME.code);
    homes.set(db, home);
  }
  return home;
}

/** A resident: a MyKey ID that exists (its spelling is not checked by the ledger). */
export async function resident(db: Db): Promise<string> {
  const home = await residentsHome(db);
  for (;;) {
    const id = Array.from({ length: 8 }, () => MYKEY_ALPHABET[randomInt(MYKEY_ALPHABET.length)]).join('');
    const [inserted] = await db('mykeys').insert({ mykey_id: id, home_municipality_code: home }).onConflict('mykey_id').ignore();
    if (inserted) return id;
  }
}

/** A reference no other test uses. */
export const ref = (what: string) => slug(what);

/** Runs one ledger operation in its own transaction, as callers do. */
export const run = <T>(db: Db, op: (trx: Knex.Transaction) => Promise<T>) => inLedgerTransaction(db, op);
