// Settlement statements (docs/settlement.md): for a period of Japanese calendar days, what the
// municipality owes each shop (points redeemed there, less refunds and voids) and what each
// partner owes the municipality (the points credited for its conversions), beside what the
// municipality's own campaigns paid out. Read from the ledger's postings, never written.
import type { Knex } from 'knex';
import { csvFile } from '../csv.ts';
import type { Db } from '../db.ts';
import { Problem } from '../http/problems.ts';
import { endOfTokyoDay } from '../ledger/rules.ts';
import { STATEMENT_KINDS, type CampaignLine, type Figure, type MerchantLine, type Named, type PartnerLine, type Statement, type StatementKind } from '@mykey/contracts/statement-shape.ts';

export { STATEMENT_KINDS, type Statement, type StatementKind };

type Conn = Db | Knex.Transaction;

const DATE = /^(\d{4})-(\d{2})-(\d{2})$/;
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

/** YYYY-MM-DD naming a day that exists (no 31 April). */
export const isDate = (text: string) => {
  const match = DATE.exec(text);
  if (!match) return false;
  const date = new Date(Date.UTC(Number(match[1]), Number(match[2]) - 1, Number(match[3])));
  return date.toISOString().slice(0, 10) === text;
};

/** The period from and to (YYYY-MM-DD, Japan time, both included), or settlement_period_invalid. */
export function parsePeriod(from: unknown, to: unknown): Period {
  if (typeof from !== 'string' || typeof to !== 'string' || !isDate(from) || !isDate(to)) {
    throw new Problem('settlement_period_invalid', 'from and to must be dates, YYYY-MM-DD');
  }
  const days = (Date.parse(to) - Date.parse(from)) / DAY_MS + 1;
  if (days < 1 || days > MAX_DAYS) throw new Problem('settlement_period_invalid', `from ${from} to ${to} is ${days} days; a period is 1 to ${MAX_DAYS} days`);
  return { from, to, startsAt: new Date(endOfTokyoDay(from).getTime() - DAY_MS), endsBefore: endOfTokyoDay(to) };
}

const zero = (): Figure => ({ count: 0, points: 0 });

/** BIGINT sums arrive as strings or numbers; a figure past 2^53 would not be exact. */
function exact(value: unknown): number {
  const n = Number(value ?? 0);
  if (!Number.isSafeInteger(n)) throw new Error(`settlement figure ${String(value)} is not an exact integer`);
  return n;
}

/**
 * Each (owner, entry kind) of the postings of `accountKind` in the period: how many entries and
 * the sum of their postings on those accounts.
 */
async function postingSums(conn: Conn, code: string, period: Period, accountKind: string, ownerColumn: string, entryKinds: string[], ownerId?: number) {
  const query = conn('ledger_entries as e')
    .join('ledger_postings as p', 'p.entry_id', 'e.id')
    .join('ledger_accounts as a', 'a.id', 'p.account_id')
    .where('e.municipality_code', code).where('e.posted_at', '>=', period.startsAt).where('e.posted_at', '<', period.endsBefore)
    .whereIn('e.kind', entryKinds).where('a.kind', accountKind)
    .groupBy(`a.${ownerColumn}`, 'e.kind')
    .select({ owner: `a.${ownerColumn}`, kind: 'e.kind' }, conn.raw('COUNT(*) AS n'), conn.raw('SUM(p.amount) AS total'));
  if (ownerId !== undefined) query.where(`a.${ownerColumn}`, ownerId);
  const rows = await query;
  return rows.map((row) => ({ owner: Number(row.owner), kind: String(row.kind), count: exact(row.n), total: exact(row.total) }));
}

async function names(conn: Conn, table: 'merchants' | 'partners' | 'campaigns', ids: number[]): Promise<Map<number, Named>> {
  if (ids.length === 0) return new Map();
  const rows = await conn(table).whereIn('id', ids).select('id', 'slug', 'name_ja', 'name_en');
  return new Map(rows.map((row) => [Number(row.id), { id: Number(row.id), slug: row.slug, name: { ja: row.name_ja, en: row.name_en } }]));
}

/** Lines per owner, built from the sums, in id order; `always` adds owners with nothing in the period. */
async function lines<L extends Named>(conn: Conn, table: 'merchants' | 'partners' | 'campaigns', sums: Awaited<ReturnType<typeof postingSums>>,
  build: (named: Named, of: (kind: string, sign: 1 | -1) => Figure) => L, always: number[] = []): Promise<L[]> {
  const ids = [...new Set([...sums.map((s) => s.owner), ...always])].sort((a, b) => a - b);
  const named = await names(conn, table, ids);
  return ids.map((id) => build(named.get(id)!, (kind, sign) => {
    const sum = sums.find((s) => s.owner === id && s.kind === kind);
    return sum ? { count: sum.count, points: sign * sum.total } : zero();
  }));
}

const add = (a: Figure, b: Figure): Figure => ({ count: a.count + b.count, points: a.points + b.points });

/**
 * The statement of one municipality for the period, read in one consistent snapshot.
 * `merchantId` narrows it to one shop (a merchant's own statement), which is listed even with
 * nothing in the period.
 */
export async function settlementStatement(db: Db, code: string, period: Period, { merchantId }: { merchantId?: number } = {}): Promise<Statement> {
  return db.transaction(async (trx) => {
    const municipality = await trx('municipalities').where({ code }).first('name_ja', 'name_en');
    if (!municipality) throw new Problem('municipality_not_found');
    const merchantSums = await postingSums(trx, code, period, 'merchant_payable', 'merchant_id', ['payment', 'refund', 'void'], merchantId);
    // Postings to a shop: + for a payment, − for a refund or void.
    const merchants = await lines(trx, 'merchants', merchantSums, (named, of) => {
      const payments = of('payment', 1);
      const refunds = of('refund', -1);
      const voids = of('void', -1);
      return { ...named, payments, refunds, voids, netPoints: payments.points - refunds.points - voids.points };
    }, merchantId === undefined ? [] : [merchantId]);
    const forMerchant = merchantId !== undefined;
    // Postings to a partner's clearing account and a campaign's budget are − for what they gave.
    const partners = forMerchant ? [] : await lines(trx, 'partners',
      await postingSums(trx, code, period, 'partner_clearing', 'partner_id', ['conversion']), (named, of) => ({ ...named, conversions: of('conversion', -1) }));
    const campaigns = forMerchant ? [] : await lines(trx, 'campaigns',
      await postingSums(trx, code, period, 'campaign_budget', 'campaign_id', ['conversion', 'grant']), (named, of) => {
        const premiums = of('conversion', -1);
        const grants = of('grant', -1);
        return { ...named, premiums, grants, totalPoints: premiums.points + grants.points };
      });
    return {
      municipality: { code, name: { ja: municipality.name_ja, en: municipality.name_en } },
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
  }, { isolationLevel: 'repeatable read' });
}

// --- CSV files ------------------------------------------------------------------------------

/** The columns of each file (docs/settlement.md); every row starts with the municipality and the period. */
export const STATEMENT_COLUMNS: Record<StatementKind, string[]> = {
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
