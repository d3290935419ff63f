// Settlement periods the municipality closes (docs/settlement.md#closed-periods). Closing records
// the ledger entries the period covers — those posted before its end that no earlier period
// took, late ones included — and what it pays each shop; both are fixed from then on, so a
// refund or void made after closing falls into the next period, whatever its posted time.
import type { Knex } from 'knex';
import { appendAudit } from '../audit/chain.ts';
import { csvFile } from '../csv.ts';
import type { Db } from '../db.ts';
import { Problem } from '../http/problems.ts';
import type { EntryKind } from '../ledger/entries.ts';
import { ledgerRepository } from '../ledger/repository.ts';
import { isDate, tokyoDate } from '../ledger/rules.ts';
import type { SignedInStaff } from '../staff/repository.ts';
import { organizationLabel } from '../staff/organization.ts';
import type { ClosedPeriod, ClosedPeriodDetail, MerchantClosedPeriod, PartnerInvoices, Payout } from '@mykey/contracts/settlement-periods.ts';
import type { Figure } from '@mykey/contracts/statement-shape.ts';
import { settlementRepository as repo, type PeriodRow } from './repository.ts';
import { parsePeriod, settlementStatement, statementIn, type Period, type Statement } from './statement.ts';

/** The entries a settlement covers: what shops are owed, what partners owe, what campaigns paid. */
const SETTLED_KINDS: EntryKind[] = ['payment', 'refund', 'void', 'conversion', 'grant'];

const DAY_MS = 86_400_000;
const dayAfter = (date: string) => new Date(Date.parse(`${date}T00:00:00.000Z`) + DAY_MS).toISOString().slice(0, 10);

/** The period's bounds from its stored dates. */
const boundsOf = (row: Pick<PeriodRow, 'from' | 'to'>): Period => parsePeriod(row.from, row.to);

/** The statement of a closed period: the entries it recorded, never those posted since. */
const closedStatementIn = (trx: Knex.Transaction, row: PeriodRow, merchantId?: number) =>
  statementIn(trx, row.municipalityCode, boundsOf(row), { merchantId, entryIds: (conn) => repo.entryIdsOf(conn, row.id) });

export const closedStatement = (db: Db, row: PeriodRow, merchantId?: number): Promise<Statement> =>
  settlementStatement(db, row.municipalityCode, boundsOf(row), { merchantId, entryIds: (conn) => repo.entryIdsOf(conn, row.id) });

/**
 * What the period pays each shop: its net, less what it still owed from the period before
 * (a negative amount is not transferred; it carries on until payments cover it).
 */
export function payoutsOf(statement: Statement, previous: Payout[]): Payout[] {
  const carried = new Map(previous.map((p) => [p.merchantId, Math.min(0, p.netPoints + p.carriedPoints)]));
  const nets = new Map(statement.merchants.map((m) => [m.id, m.netPoints]));
  const ids = [...new Set([...nets.keys(), ...[...carried].filter(([, points]) => points < 0).map(([id]) => id)])].sort((a, b) => a - b);
  return ids.map((merchantId) => {
    const netPoints = nets.get(merchantId) ?? 0;
    const carriedPoints = carried.get(merchantId) ?? 0;
    return { merchantId, netPoints, carriedPoints, transferPoints: Math.max(0, netPoints + carriedPoints) };
  });
}

const transfersOf = (payouts: Payout[]): Figure => ({ count: payouts.filter((p) => p.transferPoints > 0).length, points: payouts.reduce((sum, p) => sum + p.transferPoints, 0) });

const closedPeriod = (row: PeriodRow, transfers: Figure): ClosedPeriod => ({
  id: row.id, from: row.from, to: row.to, payOn: row.payOn, closedAt: row.closedAt.toISOString(), closedBy: row.closedBy, transfers,
});

/** A period of the municipality, or not found (another municipality's too). */
export async function periodOf(db: Db | Knex.Transaction, municipalityCode: string, id: unknown): Promise<PeriodRow> {
  const number = Number(id);
  const row = Number.isSafeInteger(number) && number > 0 ? await repo.period(db, municipalityCode, number) : undefined;
  if (!row) throw new Problem('settlement_period_not_found');
  return row;
}

export interface CloseRequest { from: string; to: string; payOn: string }

/** Closes the next period of the staff member's municipality, in the caller's transaction; audited. */
export async function closePeriod(trx: Knex.Transaction, staff: SignedInStaff, request: CloseRequest, now: Date): Promise<ClosedPeriodDetail> {
  const code = staff.municipalityCode;
  const bounds = parsePeriod(request.from, request.to);
  if (!isDate(request.payOn) || request.payOn <= request.to) throw new Problem('settlement_pay_date_invalid', `payOn ${request.payOn} must be a date after ${request.to}`);
  if (request.to >= tokyoDate(now)) throw new Problem('settlement_period_not_over', `${request.to} is not over yet in Japan`);
  const { firstFrom, lastTo, lastId } = await repo.lastAndFirstForClosing(trx, code);
  if (lastTo !== undefined && request.from !== dayAfter(lastTo)) {
    throw new Problem('settlement_period_not_next', `the next period starts on ${dayAfter(lastTo)}`, { nextFrom: dayAfter(lastTo) });
  }
  const id = await repo.insertPeriod(trx, { municipalityCode: code, from: request.from, to: request.to, payOn: request.payOn, closedBy: staff.id, closedAt: now });
  // From the first period's start: what was posted before the town began closing periods is not settled here.
  const { startsAt } = firstFrom ? parsePeriod(firstFrom, firstFrom) : bounds;
  await repo.recordEntries(trx, id, ledgerRepository.entryIdsBefore(trx, {
    municipalityCode: code, entryKinds: SETTLED_KINDS, startsAt, endsBefore: bounds.endsBefore, excluding: repo.settledEntryIds(trx, code),
  }));
  const row = (await repo.period(trx, code, id))!;
  const statement = await closedStatementIn(trx, row);
  const payouts = payoutsOf(statement, lastId === undefined ? [] : await repo.payouts(trx, lastId));
  await repo.insertPayouts(trx, id, payouts);
  await appendAudit(trx, {
    action: 'settlement.period_closed', actor: { kind: 'staff', id: String(staff.id) }, subject: `settlement:municipality:${code}`,
    details: { organization: organizationLabel(staff.organization), periodId: id, from: row.from, to: row.to, payOn: row.payOn, transfers: transfersOf(payouts) },
  });
  return { period: closedPeriod(row, transfersOf(payouts)), statement, payouts };
}

export async function closedPeriods(db: Db, municipalityCode: string): Promise<ClosedPeriod[]> {
  const rows = await repo.periods(db, municipalityCode);
  const totals = await repo.transferTotals(db, rows.map((row) => row.id));
  return rows.map((row) => closedPeriod(row, totals.get(row.id) ?? { count: 0, points: 0 }));
}

export async function closedPeriodDetail(db: Db, row: PeriodRow): Promise<ClosedPeriodDetail> {
  const payouts = await repo.payouts(db, row.id);
  return { period: closedPeriod(row, transfersOf(payouts)), statement: await closedStatement(db, row), payouts };
}

/** A shop's own line and payout in each closed period that paid or charged it, latest first. */
export async function merchantClosedPeriods(db: Db, merchantId: number): Promise<MerchantClosedPeriod[]> {
  const rows = await repo.periodsOfMerchant(db, merchantId);
  return Promise.all(rows.map((row) => merchantClosedPeriod(db, row, merchantId)));
}

export async function merchantClosedPeriod(db: Db, row: PeriodRow, merchantId: number): Promise<MerchantClosedPeriod> {
  const statement = await closedStatement(db, row, merchantId);
  const [payout] = await repo.payouts(db, row.id, merchantId);
  return {
    period: { id: row.id, from: row.from, to: row.to, payOn: row.payOn, closedAt: row.closedAt.toISOString() },
    line: statement.merchants[0]!,
    payout: payout ?? { merchantId, netPoints: 0, carriedPoints: 0, transferPoints: 0 },
  };
}

/**
 * What each partner owes the municipality for the period: the base points its conversions
 * credited, 1 point = 1 yen. Premiums are not the partner's: the town's campaign paid them.
 */
export function partnerInvoices(row: PeriodRow, statement: Statement): PartnerInvoices {
  const invoices = statement.partners.map(({ id, slug, name, conversions }) => ({ partner: { id, slug, name }, conversions, amountYen: conversions.points }));
  return { municipality: statement.municipality, period: { id: row.id, from: row.from, to: row.to }, invoices, totalYen: invoices.reduce((sum, i) => sum + i.amountYen, 0) };
}

const INVOICE_COLUMNS = ['municipality_code', 'period_from', 'period_to', 'partner_id', 'partner_slug', 'partner_name_ja', 'partner_name_en', 'conversions', 'converted_points', 'amount_yen'];

/** The invoices as a CSV file of the statement files' kind: a row per partner, the total last. */
export function partnerInvoicesCsv(invoices: PartnerInvoices): string {
  const head = [invoices.municipality.code, invoices.period.from, invoices.period.to];
  const rows = invoices.invoices.map((i) => [...head, i.partner.id, i.partner.slug, i.partner.name.ja, i.partner.name.en, i.conversions.count, i.conversions.points, i.amountYen]);
  const count = invoices.invoices.reduce((sum, i) => sum + i.conversions.count, 0);
  return csvFile([INVOICE_COLUMNS, ...rows, [...head, null, '', '合計', 'Total', count, invoices.totalYen, invoices.totalYen]]);
}
