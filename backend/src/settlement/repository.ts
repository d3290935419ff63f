// Every SQL statement of closed settlement periods (settlement_periods, the entries each covers,
// what each pays a shop) and of the municipality as the transfer file's payer.
import type { Knex } from 'knex';
import type { Db } from '../db.ts';
import type { Payer, Payout } from '@mykey/contracts/settlement-periods.ts';

type Conn = Db | Knex.Transaction;

export interface PeriodRow { id: number; municipalityCode: string; from: string; to: string; payOn: string; closedAt: Date; closedBy: string }

/** A DATE column as YYYY-MM-DD (mysql2 would make it a Date at midnight UTC). */
const date = (conn: Conn, column: string, as: string) => conn.raw(`DATE_FORMAT(??, '%Y-%m-%d') AS ??`, [column, as]);

const PERIOD_COLUMNS = (conn: Conn) => ['p.id', 'p.municipality_code', date(conn, 'p.starts_on', 'starts_on'), date(conn, 'p.ends_on', 'ends_on'),
  date(conn, 'p.pay_on', 'pay_on'), 'p.closed_at', 's.display_name'];

const toPeriod = (row: Record<string, any>): PeriodRow => ({
  id: Number(row.id), municipalityCode: row.municipality_code, from: row.starts_on, to: row.ends_on, payOn: row.pay_on, closedAt: row.closed_at, closedBy: row.display_name,
});

const periods = (conn: Conn) => conn('settlement_periods as p').join('staff_accounts as s', 's.id', 'p.closed_by');

const toPayout = (row: Record<string, any>): Payout => ({
  merchantId: Number(row.merchant_id), netPoints: Number(row.net_points), carriedPoints: Number(row.carried_points), transferPoints: Number(row.transfer_points),
});

export const settlementRepository = {
  /** The municipality's closed periods, latest first. */
  async periods(conn: Conn, municipalityCode: string): Promise<PeriodRow[]> {
    return (await periods(conn).where('p.municipality_code', municipalityCode).orderBy('p.starts_on', 'desc').select(PERIOD_COLUMNS(conn))).map(toPeriod);
  },

  /** One closed period of the municipality; another municipality's is not found. */
  async period(conn: Conn, municipalityCode: string, id: number): Promise<PeriodRow | undefined> {
    const row = await periods(conn).where({ 'p.municipality_code': municipalityCode, 'p.id': id }).first(PERIOD_COLUMNS(conn));
    return row && toPeriod(row);
  },

  /**
   * The first period's start and the latest period, locked: two closings of one municipality
   * take turns here, so each sees the other's period.
   */
  async lastAndFirstForClosing(trx: Knex.Transaction, municipalityCode: string): Promise<{ firstFrom?: string; lastTo?: string; lastId?: number }> {
    const rows = await trx('settlement_periods').where({ municipality_code: municipalityCode }).orderBy('starts_on').forUpdate()
      .select('id', date(trx, 'starts_on', 'starts_on'), date(trx, 'ends_on', 'ends_on'));
    const last = rows.at(-1);
    return { firstFrom: rows[0]?.starts_on, lastTo: last?.ends_on, lastId: last && Number(last.id) };
  },

  async insertPeriod(trx: Knex.Transaction, row: { municipalityCode: string; from: string; to: string; payOn: string; closedBy: number; closedAt: Date }): Promise<number> {
    const [id] = await trx('settlement_periods').insert({
      municipality_code: row.municipalityCode, starts_on: row.from, ends_on: row.to, pay_on: row.payOn, closed_by: row.closedBy, closed_at: row.closedAt,
    });
    return Number(id);
  },

  /** Every entry the municipality's periods settled: a closing leaves them out (a subquery for the ledger's). */
  settledEntryIds(conn: Conn, municipalityCode: string): Knex.QueryBuilder {
    return conn('settlement_period_entries as s').join('settlement_periods as p', 'p.id', 's.period_id').where('p.municipality_code', municipalityCode).select('s.entry_id');
  },

  /** Records the entries named by `entryIds` (a subquery) as the period's. */
  async recordEntries(trx: Knex.Transaction, periodId: number, entryIds: Knex.QueryBuilder): Promise<void> {
    await trx.raw('INSERT INTO settlement_period_entries (entry_id, period_id) SELECT covered.id, ? FROM (?) AS covered', [periodId, entryIds]);
  },

  /** The entries the period covers (a subquery for the ledger's sums). */
  entryIdsOf(conn: Conn, periodId: number): Knex.QueryBuilder {
    return conn('settlement_period_entries').where({ period_id: periodId }).select('entry_id');
  },

  async insertPayouts(trx: Knex.Transaction, periodId: number, payouts: Payout[]): Promise<void> {
    if (payouts.length === 0) return;
    await trx('settlement_period_payouts').insert(payouts.map((p) => ({
      period_id: periodId, merchant_id: p.merchantId, net_points: p.netPoints, carried_points: p.carriedPoints, transfer_points: p.transferPoints,
    })));
  },

  /** What the period pays each shop (or the one shop), in shop order. */
  async payouts(conn: Conn, periodId: number, merchantId?: number): Promise<Payout[]> {
    const query = conn('settlement_period_payouts').where({ period_id: periodId }).orderBy('merchant_id').select('merchant_id', 'net_points', 'carried_points', 'transfer_points');
    if (merchantId !== undefined) query.where({ merchant_id: merchantId });
    return (await query).map(toPayout);
  },

  /** What each of these periods transfers: to how many shops, how many points in all. */
  async transferTotals(conn: Conn, periodIds: number[]): Promise<Map<number, { count: number; points: number }>> {
    const rows = periodIds.length === 0 ? [] : await conn('settlement_period_payouts').whereIn('period_id', periodIds).groupBy('period_id')
      .select('period_id', conn.raw('SUM(transfer_points > 0) AS n'), conn.raw('SUM(transfer_points) AS points'));
    return new Map(rows.map((row) => [Number(row.period_id), { count: Number(row.n), points: Number(row.points) }]));
  },

  /** The closed periods that hold a payout to the shop, latest first. */
  async periodsOfMerchant(conn: Conn, merchantId: number): Promise<PeriodRow[]> {
    return (await periods(conn).join('settlement_period_payouts as o', 'o.period_id', 'p.id').where('o.merchant_id', merchantId)
      .orderBy('p.starts_on', 'desc').select(PERIOD_COLUMNS(conn))).map(toPeriod);
  },

  async payer(conn: Conn, municipalityCode: string): Promise<Payer | undefined> {
    const row = await conn('municipality_payers').where({ municipality_code: municipalityCode }).first();
    return row && {
      requesterCode: row.requester_code, requesterNameKana: row.requester_name_kana, bankCode: row.bank_code, bankNameKana: row.bank_name_kana,
      branchCode: row.branch_code, branchNameKana: row.branch_name_kana, accountType: row.account_type, accountNumber: row.account_number,
    };
  },

  async savePayer(conn: Conn, municipalityCode: string, payer: Payer, now: Date): Promise<void> {
    await conn('municipality_payers').insert({
      municipality_code: municipalityCode, requester_code: payer.requesterCode, requester_name_kana: payer.requesterNameKana, bank_code: payer.bankCode,
      bank_name_kana: payer.bankNameKana, branch_code: payer.branchCode, branch_name_kana: payer.branchNameKana, account_type: payer.accountType,
      account_number: payer.accountNumber, updated_at: now,
    }).onConflict('municipality_code').merge();
  },
};
