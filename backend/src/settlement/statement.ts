// Settlement statements (docs/settlement.md): for a period of Japanese calendar days, what the
// municipality owes each shop (points redeemed there, less refunds and voids) and what each
// partner owes the municipality (the points credited for its conversions), beside what the
// municipality's own campaigns paid out. Read from the ledger's postings, never written; every
// read goes through the owner of its table (ledger, partners, organizations).
import type { Knex } from 'knex';
import { z } from 'zod';
import { csvFile } from '../csv.ts';
import type { Db } from '../db.ts';
import { Problem } from '../http/problems.ts';
import type { EntryKind } from '../ledger/entries.ts';
import { ledgerRepository, type AccountKind, type EntrySet } from '../ledger/repository.ts';
import { endOfTokyoDay } from '../ledger/rules.ts';
import { organizationRepository } from '../organizations/repository.ts';
import { shopsRepository } from '../shops/repository.ts';
import { partnerRepository } from '../partners/repository.ts';
import { STATEMENT_KINDS, type CampaignLine, type Figure, type MerchantLine, type Named, type PartnerLine, type Statement, type StatementKind } from '@mykey/contracts/statement-shape.ts';

export { STATEMENT_KINDS, type Statement, type StatementKind };

type Conn = Db | Knex.Transaction;

const DAY_MS = 86_400_000;
/** A year, leap day included. */
const MAX_DAYS = 366;

export interface Period {
  /** Japanese calendar dates, both included. */
  from: string;
  to: string;
  /** The instants that bound it: from midnight Japan time starting `from` to midnight ending `to`. */
  startsAt: Date;
  endsBefore: Date;
}

/** A period's query parameters: parsePeriod checks them with this schema, and the API's document shows it. */
export const periodQuery = z.object({
  from: z.iso.date().meta({ description: 'The first day, YYYY-MM-DD (Japan time).', example: '2026-04-01' }),
  to: z.iso.date().meta({ description: 'The last day, YYYY-MM-DD (Japan time); the period is at most a year.', example: '2026-04-30' }),
});

/**
 * The period from and to (YYYY-MM-DD, Japan time, both included), or the problem `invalid`
 * (settlement's own unless told: the figures of service uses and of event grants name theirs).
 */
export function parsePeriod(from: unknown, to: unknown, invalid: 'settlement_period_invalid' | 'service_uses_period_invalid' | 'event_figures_period_invalid' | 'campaign_figures_period_invalid' = 'settlement_period_invalid'): Period {
  const parsed = periodQuery.safeParse({ from, to });
  if (!parsed.success) throw new Problem(invalid, 'from and to must be dates, YYYY-MM-DD');
  const { from: first, to: last } = parsed.data;
  const days = (Date.parse(last) - Date.parse(first)) / DAY_MS + 1;
  if (days < 1 || days > MAX_DAYS) throw new Problem(invalid, `from ${first} to ${last} is ${days} days; a period is 1 to ${MAX_DAYS} days`);
  return { from: first, to: last, startsAt: new Date(endOfTokyoDay(first).getTime() - DAY_MS), endsBefore: endOfTokyoDay(last) };
}

const zero = (): Figure => ({ count: 0, points: 0 });

/** The postings to accounts of this kind of the entries read, summed per owner and entry kind. */
const postingSums = (conn: Conn, code: string, entries: EntrySet, accountKind: AccountKind, entryKinds: EntryKind[], ownerId?: number) =>
  ledgerRepository.postingSums(conn, { municipalityCode: code, entries, accountKind, entryKinds, ownerId });

/** Lines per owner, built from the sums, in id order; `always` adds owners with nothing in the period. */
async function lines<L extends Named>(conn: Conn, names: (conn: Conn, ids: number[]) => Promise<Map<number, Named>>, sums: Awaited<ReturnType<typeof postingSums>>,
  build: (named: Named, of: (kind: EntryKind, sign: 1 | -1) => Figure) => L, always: number[] = []): Promise<L[]> {
  const ids = [...new Set([...sums.map((s) => s.owner), ...always])].sort((a, b) => a - b);
  const named = await names(conn, ids);
  return ids.map((id) => build(named.get(id)!, (kind, sign) => {
    const sum = sums.find((s) => s.owner === id && s.kind === kind);
    return sum ? { count: sum.count, points: sign * sum.total } : zero();
  }));
}

const add = (a: Figure, b: Figure): Figure => ({ count: a.count + b.count, points: a.points + b.points });

export interface StatementScope {
  /** Narrows it to one shop (a merchant's own statement), which is listed even with nothing in the period. */
  merchantId?: number;
  /** The entries a closed period covers (settlement/periods.ts); without them, those posted in the period. */
  entryIds?: (conn: Conn) => Knex.QueryBuilder;
}

/** The statement of one municipality for the period, read in one consistent snapshot. */
export async function settlementStatement(db: Db, code: string, period: Period, scope: StatementScope = {}): Promise<Statement> {
  return db.transaction((trx) => statementIn(trx, code, period, scope), { isolationLevel: 'repeatable read' });
}

/** The statement read in the caller's transaction. */
export async function statementIn(trx: Knex.Transaction, code: string, period: Period, { merchantId, entryIds }: StatementScope = {}): Promise<Statement> {
  const municipality = await organizationRepository.municipalityName(trx, code);
  if (!municipality) throw new Problem('municipality_not_found');
  const entries: EntrySet = entryIds ? { ids: entryIds(trx) } : period;
  const merchantSums = await postingSums(trx, code, entries, 'merchant_payable', ['payment', 'refund', 'void'], merchantId);
  // Postings to a shop: + for a payment, − for a refund or void.
  const merchants = await lines(trx, shopsRepository.merchantNames, merchantSums, (named, of) => {
    const payments = of('payment', 1);
    const refunds = of('refund', -1);
    const voids = of('void', -1);
    return { ...named, payments, refunds, voids, netPoints: payments.points - refunds.points - voids.points };
  }, merchantId === undefined ? [] : [merchantId]);
  const forMerchant = merchantId !== undefined;
  // Postings to a partner's clearing account and a campaign's budget are − for what they gave.
  const partners = forMerchant ? [] : await lines(trx, partnerRepository.names,
    await postingSums(trx, code, entries, 'partner_clearing', ['conversion']), (named, of) => ({ ...named, conversions: of('conversion', -1) }));
  const campaigns = forMerchant ? [] : await lines(trx, ledgerRepository.campaignNames,
    await postingSums(trx, code, entries, 'campaign_budget', ['conversion', 'grant']), (named, of) => {
      const premiums = of('conversion', -1);
      const grants = of('grant', -1);
      return { ...named, premiums, grants, totalPoints: premiums.points + grants.points };
    });
  return {
    municipality: { code, name: municipality },
    period: { from: period.from, to: period.to, timeZone: 'Asia/Tokyo', startsAt: period.startsAt.toISOString(), endsBefore: period.endsBefore.toISOString() },
    merchants,
    merchantTotals: merchants.reduce((t, m) => ({
      payments: add(t.payments, m.payments), refunds: add(t.refunds, m.refunds), voids: add(t.voids, m.voids), netPoints: t.netPoints + m.netPoints,
    }), { payments: zero(), refunds: zero(), voids: zero(), netPoints: 0 }),
    partners,
    partnerTotals: { conversions: partners.reduce((t, p) => add(t, p.conversions), zero()) },
    campaigns,
    campaignTotals: campaigns.reduce((t, c) => ({ premiums: add(t.premiums, c.premiums), grants: add(t.grants, c.grants), totalPoints: t.totalPoints + c.totalPoints }),
      { premiums: zero(), grants: zero(), totalPoints: 0 }),
  };
}

// --- CSV files ------------------------------------------------------------------------------

/** The columns of each file (docs/settlement.md); every row starts with the municipality and the period. */
const STATEMENT_COLUMNS: Record<StatementKind, string[]> = {
  merchants: ['municipality_code', 'period_from', 'period_to', 'merchant_id', 'merchant_slug', 'merchant_name_ja', 'merchant_name_en',
    'payments', 'payment_points', 'refunds', 'refund_points', 'voids', 'void_points', 'net_points'],
  partners: ['municipality_code', 'period_from', 'period_to', 'partner_id', 'partner_slug', 'partner_name_ja', 'partner_name_en', 'conversions', 'converted_points'],
  campaigns: ['municipality_code', 'period_from', 'period_to', 'campaign_id', 'campaign_slug', 'campaign_name_ja', 'campaign_name_en',
    'premiums', 'premium_points', 'grants', 'grant_points', 'total_points'],
};

/** The totals row names no one: its id and slug are empty, its names 合計 and Total. */
const TOTAL: Named = { id: 0, slug: '', name: { ja: '合計', en: 'Total' } };

/**
 * One statement file: a BOM so Excel reads the Japanese names as UTF-8, the header, a row per
 * shop, partner or campaign, and a totals row last.
 */
export function statementCsv(statement: Statement, kind: StatementKind): string {
  const head = (n: Named) => [statement.municipality.code, statement.period.from, statement.period.to, n.id || null, n.slug, n.name.ja, n.name.en];
  const rows: Array<Array<string | number | null>> = [];
  if (kind === 'merchants') {
    const row = (n: Named, m: Omit<MerchantLine, keyof Named>) => [...head(n), m.payments.count, m.payments.points, m.refunds.count, m.refunds.points, m.voids.count, m.voids.points, m.netPoints];
    rows.push(...statement.merchants.map((m) => row(m, m)), row(TOTAL, statement.merchantTotals));
  } else if (kind === 'partners') {
    const row = (n: Named, p: Omit<PartnerLine, keyof Named>) => [...head(n), p.conversions.count, p.conversions.points];
    rows.push(...statement.partners.map((p) => row(p, p)), row(TOTAL, statement.partnerTotals));
  } else {
    const row = (n: Named, c: Omit<CampaignLine, keyof Named>) => [...head(n), c.premiums.count, c.premiums.points, c.grants.count, c.grants.points, c.totalPoints];
    rows.push(...statement.campaigns.map((c) => row(c, c)), row(TOTAL, statement.campaignTotals));
  }
  return csvFile([STATEMENT_COLUMNS[kind], ...rows]);
}

/** The file's name: what, whose and which period. */
export const statementFileName = (statement: Statement, kind: StatementKind) =>
  `settlement-${kind}-${statement.municipality.code}-${statement.period.from}-${statement.period.to}.csv`;
