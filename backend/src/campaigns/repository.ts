// Every SQL statement of campaigns, campaign_merchants, campaign_partners and campaign_versions
// but the two reads the ledger makes itself to enforce a campaign's terms (ledger/repository.ts:
// campaign(), and the shops taking part when a payment picks its lots). docs/campaigns.md.
import type { Knex } from 'knex';
import type { Db } from '../db.ts';
import { validityOf } from '../ledger/repository.ts';
import { campaignPays } from '../ledger/rules.ts';
import { NAMED_COLUMNS, namedById } from '../organizations/repository.ts';
import type { CampaignStatus, CampaignTerms } from '@mykey/contracts/campaigns.ts';
import type { GrantCampaign } from '@mykey/contracts/grants.ts';
import type { Named } from '@mykey/contracts/statement-shape.ts';

type Conn = Db | Knex.Transaction;

/** A campaign row with the shops and partners taking part. */
export interface StoredCampaign extends CampaignTerms {
  id: number; slug: string; municipalityCode: string; status: CampaignStatus; version: number;
}

const COLUMNS = (conn: Conn) => ['c.id', 'c.slug', 'c.municipality_code', 'c.kind', 'c.status', 'c.version', 'c.name_ja', 'c.name_en', 'c.premium_percent',
  'c.budget_points', 'c.cap_per_resident_points', 'c.points_valid_months', 'c.all_merchants', 'c.all_partners',
  conn.raw("DATE_FORMAT(c.starts_on, '%Y-%m-%d') AS starts_on"), conn.raw("DATE_FORMAT(c.ends_on, '%Y-%m-%d') AS ends_on"),
  conn.raw("DATE_FORMAT(c.points_valid_until, '%Y-%m-%d') AS points_valid_until")];

/** The row's columns from terms; the lists of shops and partners are tables of their own. */
const termColumns = (terms: CampaignTerms) => ({
  kind: terms.kind, name_ja: terms.nameJa, name_en: terms.nameEn, starts_on: terms.startsOn, ends_on: terms.endsOn,
  premium_percent: terms.premiumPercent, cap_per_resident_points: terms.capPerResidentPoints, budget_points: terms.budgetPoints,
  points_valid_until: 'until' in terms.validity ? terms.validity.until : null, points_valid_months: 'months' in terms.validity ? terms.validity.months : null,
  all_merchants: terms.merchantIds === null, all_partners: terms.partnerIds === null,
});

async function withMembers(conn: Conn, rows: Array<Record<string, any>>): Promise<StoredCampaign[]> {
  const ids = rows.map((row) => Number(row.id));
  const merchants = ids.length === 0 ? [] : await conn('campaign_merchants').whereIn('campaign_id', ids).orderBy('merchant_id').select('campaign_id', 'merchant_id');
  const partners = ids.length === 0 ? [] : await conn('campaign_partners').whereIn('campaign_id', ids).orderBy('partner_id').select('campaign_id', 'partner_id');
  const of = (list: Array<Record<string, any>>, id: number, column: string) => list.filter((m) => Number(m.campaign_id) === id).map((m) => Number(m[column]));
  return rows.map((row) => {
    const id = Number(row.id);
    return {
      id, slug: row.slug, municipalityCode: row.municipality_code, kind: row.kind, status: row.status, version: Number(row.version),
      nameJa: row.name_ja, nameEn: row.name_en, startsOn: row.starts_on, endsOn: row.ends_on, premiumPercent: Number(row.premium_percent),
      capPerResidentPoints: Number(row.cap_per_resident_points), budgetPoints: Number(row.budget_points), validity: validityOf(row as { points_valid_until: string | null; points_valid_months: number | null }),
      merchantIds: row.all_merchants ? null : of(merchants, id, 'merchant_id'), partnerIds: row.all_partners ? null : of(partners, id, 'partner_id'),
    };
  });
}

/** A campaign as staff choose it for a grant or an event: its terms, whether it pays now, and what is left of its budget. */
const GRANT_COLUMNS = (conn: Conn) => ['c.id', 'c.slug', 'c.kind', 'c.name_ja', 'c.name_en', 'c.cap_per_resident_points', 'c.status',
  conn.raw("DATE_FORMAT(c.starts_on, '%Y-%m-%d') AS starts_on"), conn.raw("DATE_FORMAT(c.ends_on, '%Y-%m-%d') AS ends_on"), conn.raw('COALESCE(a.balance, 0) AS budget_left')];

function withBudget(conn: Conn, municipalityCode: string) {
  return conn('campaigns as c')
    .leftJoin('ledger_accounts as a', function budget() {
      this.on('a.campaign_id', '=', 'c.id').andOn('a.municipality_code', '=', 'c.municipality_code').andOn('a.kind', '=', conn.raw('?', ['campaign_budget']));
    })
    .where('c.municipality_code', municipalityCode);
}

const toGrantCampaign = (row: Record<string, any>, now: Date): GrantCampaign => ({
  id: Number(row.id), slug: row.slug, kind: row.kind, name: { ja: row.name_ja, en: row.name_en }, startsOn: row.starts_on, endsOn: row.ends_on,
  running: campaignPays({ status: row.status, startsOn: row.starts_on, endsOn: row.ends_on }, now),
  capPerResidentPoints: Number(row.cap_per_resident_points), budgetLeftPoints: Number(row.budget_left),
});

async function setMembers(trx: Knex.Transaction, campaignId: number, municipalityCode: string, terms: CampaignTerms): Promise<void> {
  if (terms.merchantIds?.length) {
    await trx('campaign_merchants').insert(terms.merchantIds.map((merchantId) => ({ campaign_id: campaignId, merchant_id: merchantId, municipality_code: municipalityCode })));
  }
  if (terms.partnerIds?.length) await trx('campaign_partners').insert(terms.partnerIds.map((partnerId) => ({ campaign_id: campaignId, partner_id: partnerId })));
}

export const campaignsRepository = {
  /** The town's campaigns, newest start first, at most `limit`. */
  async list(conn: Conn, municipalityCode: string, limit: number): Promise<StoredCampaign[]> {
    const rows = await conn('campaigns as c').where('c.municipality_code', municipalityCode).orderBy([{ column: 'c.starts_on', order: 'desc' }, { column: 'c.id', order: 'desc' }])
      .limit(limit).select(COLUMNS(conn));
    return withMembers(conn, rows);
  },

  /** A campaign of this town; undefined for another town's. `lock` locks it for update: every change to a campaign holds it. */
  async one(conn: Conn, municipalityCode: string, id: number, { lock = false } = {}): Promise<StoredCampaign | undefined> {
    const query = conn('campaigns as c').where({ 'c.id': id, 'c.municipality_code': municipalityCode });
    const row = await (lock ? query.forUpdate() : query).first(COLUMNS(conn));
    return row ? (await withMembers(conn, [row]))[0] : undefined;
  },

  async insert(trx: Knex.Transaction, municipalityCode: string, slug: string, terms: CampaignTerms, now: Date): Promise<number> {
    const [id] = await trx('campaigns').insert({ municipality_code: municipalityCode, slug, status: 'planned', version: 1, created_at: now, ...termColumns(terms) });
    await setMembers(trx, Number(id), municipalityCode, terms);
    return Number(id);
  },

  /** New terms and the next version; the shops and partners taking part replaced by the terms' lists. */
  async updateTerms(trx: Knex.Transaction, campaign: StoredCampaign, terms: CampaignTerms): Promise<void> {
    await trx('campaigns').where({ id: campaign.id }).update({ ...termColumns(terms), version: campaign.version + 1 });
    await trx('campaign_merchants').where({ campaign_id: campaign.id }).delete();
    await trx('campaign_partners').where({ campaign_id: campaign.id }).delete();
    await setMembers(trx, campaign.id, campaign.municipalityCode, terms);
  },

  async setStatus(trx: Knex.Transaction, campaign: StoredCampaign, status: CampaignStatus): Promise<void> {
    await trx('campaigns').where({ id: campaign.id }).update({ status, version: campaign.version + 1 });
  },

  async raiseBudget(trx: Knex.Transaction, campaign: StoredCampaign, points: number): Promise<void> {
    await trx('campaigns').where({ id: campaign.id }).update({ budget_points: campaign.budgetPoints + points, version: campaign.version + 1 });
  },

  /** Keeps a version's values; a version kept before (a campaign seeded without one) is left as it is. */
  async keepVersion(trx: Knex.Transaction, campaignId: number, version: number, terms: unknown, staffId: number | null, now: Date): Promise<void> {
    await trx('campaign_versions').insert({ campaign_id: campaignId, version, terms: JSON.stringify(terms), staff_id: staffId, created_at: now }).onConflict().ignore();
  },

  async version(conn: Conn, campaignId: number, version: number): Promise<unknown> {
    const row = await conn('campaign_versions').where({ campaign_id: campaignId, version }).first('terms');
    return row && JSON.parse(row.terms);
  },

  /**
   * The campaign that adds its premium to a conversion of this partner in this municipality on
   * this Japanese date: a running premium campaign of that day the partner takes part in, the
   * one ending soonest, the lowest id among those (docs/partner-api.md#outcomes-and-webhooks).
   */
  async premiumCampaign(conn: Conn, municipalityCode: string, tokyoDate: string, partnerId: number): Promise<number | undefined> {
    const row = await conn('campaigns as c').where({ 'c.municipality_code': municipalityCode, 'c.kind': 'conversion_premium', 'c.status': 'running' })
      .where('c.premium_percent', '>', 0).where('c.starts_on', '<=', tokyoDate).where('c.ends_on', '>=', tokyoDate)
      .where((q) => q.where('c.all_partners', true).orWhereExists(conn('campaign_partners as cp').whereRaw('cp.campaign_id = c.id').where('cp.partner_id', partnerId).select(conn.raw('1'))))
      .orderBy([{ column: 'c.ends_on' }, { column: 'c.id' }]).first('c.id');
    return row && Number(row.id);
  },

  /** The municipality's campaigns, newest first, with what is left of each budget. */
  async campaignsWithBudget(conn: Conn, municipalityCode: string, now: Date): Promise<GrantCampaign[]> {
    const rows = await withBudget(conn, municipalityCode).orderBy('c.starts_on', 'desc').orderBy('c.id', 'desc').select(GRANT_COLUMNS(conn));
    return rows.map((row) => toGrantCampaign(row, now));
  },

  /** A campaign of this municipality by its id (digits) or its slug, with what is left of its budget; undefined for another municipality's. */
  async campaignWithBudget(conn: Conn, municipalityCode: string, idOrSlug: string, now: Date): Promise<GrantCampaign | undefined> {
    const query = withBudget(conn, municipalityCode);
    if (/^[1-9][0-9]{0,18}$/.test(idOrSlug)) query.where('c.id', idOrSlug);
    else query.where('c.slug', idOrSlug);
    const row = await query.first(GRANT_COLUMNS(conn));
    return row && toGrantCampaign(row, now);
  },

  /** The town's campaigns (or the one of these ids), with their terms, in start order: the campaign figures' scope. */
  async figuresCampaigns(conn: Conn, municipalityCode: string, campaignId?: number): Promise<Array<Named & { status: CampaignStatus; startsOn: string; endsOn: string; budgetPoints: number }>> {
    const query = conn('campaigns').where('municipality_code', municipalityCode);
    if (campaignId !== undefined) query.where('id', campaignId);
    const rows = await query.orderBy([{ column: 'starts_on' }, { column: 'id' }]).select(...NAMED_COLUMNS, 'status', 'budget_points',
      conn.raw("DATE_FORMAT(starts_on, '%Y-%m-%d') AS starts_on"), conn.raw("DATE_FORMAT(ends_on, '%Y-%m-%d') AS ends_on"));
    const named = namedById(rows);
    return rows.map((row) => ({ ...named.get(Number(row.id))!, status: row.status, startsOn: row.starts_on, endsOn: row.ends_on, budgetPoints: Number(row.budget_points) }));
  },

  async campaignNames(conn: Conn, ids: number[]): Promise<Map<number, Named>> {
    return namedById(ids.length === 0 ? [] : await conn('campaigns').whereIn('id', ids).select(NAMED_COLUMNS));
  },
};
