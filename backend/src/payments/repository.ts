// Every SQL statement about payment intents and their refunds and voids. The points themselves
// move in the ledger (ledger.ts); these rows say which register asked, which card paid, and
// which ledger entries belong to the intent.
import type { Knex } from 'knex';
import type { Db } from '../db.ts';
import type { Merchant } from '../shops/repository.ts';

type Conn = Db | Knex.Transaction;

export type IntentStatus = 'open' | 'paid' | 'cancelled';

export interface Intent {
  id: string;
  merchantId: number;
  amount: number;
  status: IntentStatus;
  createdAt: Date;
  expiresAt: Date;
  /** Set when paid. */
  paid: { at: Date; mykeyId: string; entryId: number; balanceAfter: number } | null;
}

export interface Reversal { intentId: string; kind: 'refund' | 'void'; points: number; entryId: number; staffId: number; at: Date }

const INTENT_COLUMNS = ['pi.id', 'pi.merchant_id', 'pi.amount_points', 'pi.status', 'pi.created_at', 'pi.expires_at', 'pi.paid_at', 'pi.ledger_entry_id', 'pi.balance_after_points', 'mk.mykey_id'];

interface IntentRow {
  id: string; merchant_id: number; amount_points: number; status: IntentStatus; created_at: Date; expires_at: Date;
  paid_at: Date | null; ledger_entry_id: number | null; balance_after_points: number | null; mykey_id: string | null;
}

function toIntent(row: IntentRow): Intent {
  return {
    id: row.id, merchantId: Number(row.merchant_id), amount: Number(row.amount_points), status: row.status, createdAt: row.created_at, expiresAt: row.expires_at,
    paid: row.paid_at === null ? null : { at: row.paid_at, mykeyId: row.mykey_id!, entryId: Number(row.ledger_entry_id), balanceAfter: Number(row.balance_after_points) },
  };
}

const intents = (conn: Conn) => conn('payment_intents as pi').leftJoin('mykeys as mk', 'mk.id', 'pi.mykey_pk');

export const paymentsRepository = {
  async insertIntent(trx: Knex.Transaction, row: { id: string; merchantId: number; amount: number; staffId: number; createdAt: Date; expiresAt: Date }): Promise<void> {
    await trx('payment_intents').insert({
      id: row.id, merchant_id: row.merchantId, amount_points: row.amount, created_by_staff_id: row.staffId, created_at: row.createdAt, expires_at: row.expiresAt,
    });
  },

  /** The intent; with `lock`, its row stays locked (FOR UPDATE) until the transaction ends. Only its own row is locked. */
  async intent(conn: Conn, id: string, { lock = false } = {}): Promise<Intent | undefined> {
    if (lock) return (await paymentsRepository.lockIntentWithMerchant(conn, id))?.intent;
    const row: IntentRow | undefined = await intents(conn).where('pi.id', id).first(INTENT_COLUMNS);
    return row && toIntent(row);
  },

  /**
   * The intent locked (FOR UPDATE) with its shop, in one statement. The shop and the MyKey ID
   * are read by scalar subqueries, which a locking read does not lock: only the intent's row is.
   */
  async lockIntentWithMerchant(conn: Conn, id: string): Promise<{ intent: Intent; merchant: Merchant } | undefined> {
    const ofMerchant = (column: string) => conn('merchants as m').whereRaw('m.id = pi.merchant_id').select(`m.${column}`).as(`merchant_${column}`);
    const row = await conn('payment_intents as pi').where('pi.id', id).forUpdate().first([
      'pi.id', 'pi.merchant_id', 'pi.amount_points', 'pi.status', 'pi.created_at', 'pi.expires_at', 'pi.paid_at', 'pi.ledger_entry_id', 'pi.balance_after_points',
      conn('mykeys as mk').whereRaw('mk.id = pi.mykey_pk').select('mk.mykey_id').as('mykey_id'),
      ofMerchant('name_ja'), ofMerchant('name_en'), ofMerchant('status'),
    ]);
    return row && {
      intent: toIntent(row),
      merchant: { id: Number(row.merchant_id), nameJa: row.merchant_name_ja, nameEn: row.merchant_name_en, status: row.merchant_status },
    };
  },

  /** The intent (not locked) with its shop, in one read. */
  async intentWithMerchant(conn: Conn, id: string): Promise<{ intent: Intent; merchant: Merchant } | undefined> {
    const row = await intents(conn).join('merchants as m', 'm.id', 'pi.merchant_id').where('pi.id', id)
      .first([...INTENT_COLUMNS, 'm.name_ja', 'm.name_en', 'm.status as merchant_status']);
    return row && { intent: toIntent(row), merchant: { id: Number(row.merchant_id), nameJa: row.name_ja, nameEn: row.name_en, status: row.merchant_status } };
  },

  async markPaid(trx: Knex.Transaction, id: string, paid: { at: Date; mykeyId: string; entryId: number; deviceId: number; balanceAfter: number }): Promise<void> {
    const updated = await trx('payment_intents').where({ id, status: 'open' }).update({
      status: 'paid', paid_at: paid.at, ledger_entry_id: paid.entryId, paid_device_id: paid.deviceId, balance_after_points: paid.balanceAfter,
      mykey_pk: trx('mykeys').where({ mykey_id: paid.mykeyId }).select('id'),
    });
    if (updated !== 1) throw new Error(`payment intent ${id} was not open under its lock`);
  },

  async markCancelled(trx: Knex.Transaction, id: string, staffId: number, at: Date): Promise<void> {
    await trx('payment_intents').where({ id, status: 'open' }).update({ status: 'cancelled', cancelled_at: at, cancelled_by_staff_id: staffId });
  },

  async insertReversal(trx: Knex.Transaction, reversal: Reversal): Promise<void> {
    await trx('payment_reversals').insert({
      intent_id: reversal.intentId, kind: reversal.kind, points: reversal.points, ledger_entry_id: reversal.entryId, staff_id: reversal.staffId, created_at: reversal.at,
    });
  },

  /** Refunds and voids of these intents, oldest first. */
  async reversalsOf(conn: Conn, intentIds: string[]): Promise<Reversal[]> {
    if (intentIds.length === 0) return [];
    const rows = await conn('payment_reversals').whereIn('intent_id', intentIds).orderBy('id')
      .select('intent_id', 'kind', 'points', 'ledger_entry_id', 'staff_id', 'created_at');
    return rows.map((row) => ({ intentId: row.intent_id, kind: row.kind, points: Number(row.points), entryId: Number(row.ledger_entry_id), staffId: Number(row.staff_id), at: row.created_at }));
  },

  /** The shop's payments made in [from, to), in the order they were paid. */
  async paidBetween(conn: Conn, merchantId: number, from: Date, to: Date): Promise<Intent[]> {
    const rows = await intents(conn).where('pi.merchant_id', merchantId).where('pi.paid_at', '>=', from).where('pi.paid_at', '<', to)
      .orderBy('pi.paid_at').select(INTENT_COLUMNS);
    return (rows as IntentRow[]).map(toIntent);
  },
};
