// Every SQL statement of the merchants table: the town's shops, from application to suspension,
// and what the register, the receipts and the settlement read of them (docs/shops.md).
import type { Knex } from 'knex';
import type { Db } from '../db.ts';
import type { Named } from '@mykey/contracts/statement-shape.ts';
import type { ShopCategory, ShopStatus, ShopSummary, ShopView } from '@mykey/contracts/shops.ts';
import type { AccountType, BankAccount } from '@mykey/contracts/zengin.ts';
import { NAMED_COLUMNS, namedById } from '../organizations/repository.ts';

type Conn = Db | Knex.Transaction;

/** A shop as the register and its receipts show it. */
export interface Merchant { id: number; nameJa: string; nameEn: string; status: ShopStatus }

/** A new application's row: the form's fields, the bank names already in Zengin text. */
export interface NewApplication {
  municipalityCode: string; slug: string; nameJa: string; nameEn: string; address: string; category: ShopCategory;
  representative: string; phone: string; email: string; bankAccount: BankAccount; appliedAt: Date;
}

const BANK_COLUMNS = {
  bank_code: 'bankCode', bank_name_kana: 'bankNameKana', branch_code: 'branchCode', branch_name_kana: 'branchNameKana',
  account_type: 'accountType', account_number: 'accountNumber', account_holder_kana: 'holderKana',
} as const satisfies Record<string, keyof BankAccount>;

const SUMMARY_COLUMNS = ['id', 'slug', 'name_ja', 'name_en', 'status', 'category', 'applied_at'];
const VIEW_COLUMNS = [...SUMMARY_COLUMNS, 'address', 'representative', 'contact_phone', 'contact_email', 'status_reason', 'decided_at', ...Object.keys(BANK_COLUMNS)];

const iso = (value: Date | null): string | null => value?.toISOString() ?? null;

function toSummary(row: Record<string, any>): ShopSummary {
  return { id: Number(row.id), slug: row.slug, nameJa: row.name_ja, nameEn: row.name_en, status: row.status, category: row.category, appliedAt: iso(row.applied_at) };
}

function bankAccountOf(row: Record<string, any>): BankAccount | null {
  if (row.bank_code === null) return null;
  return {
    bankCode: row.bank_code, bankNameKana: row.bank_name_kana, branchCode: row.branch_code, branchNameKana: row.branch_name_kana,
    accountType: row.account_type as AccountType, accountNumber: row.account_number, holderKana: row.account_holder_kana,
  };
}

function bankColumns(account: BankAccount): Record<string, string> {
  return Object.fromEntries(Object.entries(BANK_COLUMNS).map(([column, field]) => [column, account[field]]));
}

function toView(row: Record<string, any>): ShopView {
  return {
    ...toSummary(row), address: row.address, representative: row.representative, phone: row.contact_phone, email: row.contact_email,
    bankAccount: bankAccountOf(row), statusReason: row.status_reason, decidedAt: iso(row.decided_at),
  };
}

export const shopsRepository = {
  async insertApplication(trx: Knex.Transaction, a: NewApplication): Promise<number> {
    const [id] = await trx('merchants').insert({
      municipality_code: a.municipalityCode, slug: a.slug, name_ja: a.nameJa, name_en: a.nameEn, status: 'pending', address: a.address, category: a.category,
      representative: a.representative, contact_phone: a.phone, contact_email: a.email, applied_at: a.appliedAt, ...bankColumns(a.bankAccount),
    });
    return Number(id);
  },

  /** The town's shops and applications, those waiting first, then by name. */
  async listOfTown(conn: Conn, municipalityCode: string, statuses?: readonly ShopStatus[]): Promise<ShopSummary[]> {
    const query = conn('merchants').where({ municipality_code: municipalityCode });
    if (statuses) query.whereIn('status', statuses);
    const rows = await query.orderByRaw("status = 'pending' DESC").orderBy('applied_at', 'desc').orderBy('name_ja').orderBy('id').select(SUMMARY_COLUMNS);
    return rows.map(toSummary);
  },

  /** The town's shop in full; another town's is as unknown as none. `lock` holds it until the transaction ends. */
  async ofTown(conn: Conn, municipalityCode: string, id: number, { lock = false } = {}): Promise<ShopView | undefined> {
    const query = conn('merchants').where({ id, municipality_code: municipalityCode });
    const row = await (lock ? query.forUpdate() : query).first(VIEW_COLUMNS);
    return row && toView(row);
  },

  async setStatus(trx: Knex.Transaction, id: number, status: ShopStatus, reason: string | null, at: Date): Promise<void> {
    await trx('merchants').where({ id }).update({ status, status_reason: reason, decided_at: at });
  },

  async setBankAccount(trx: Knex.Transaction, id: number, account: BankAccount): Promise<void> {
    await trx('merchants').where({ id }).update(bankColumns(account));
  },

  async merchant(conn: Conn, merchantId: number): Promise<Merchant | undefined> {
    const row = await conn('merchants').where({ id: merchantId }).first('id', 'name_ja', 'name_en', 'status');
    return row && { id: Number(row.id), nameJa: row.name_ja, nameEn: row.name_en, status: row.status };
  },

  /** The municipality a shop belongs to; undefined for no such shop. */
  async merchantMunicipality(conn: Conn, merchantId: number): Promise<string | undefined> {
    const row = await conn('merchants').where({ id: merchantId }).first('municipality_code');
    return row?.municipality_code;
  },

  async merchantNames(conn: Conn, ids: number[]): Promise<Map<number, Named>> {
    return namedById(ids.length === 0 ? [] : await conn('merchants').whereIn('id', ids).select(NAMED_COLUMNS));
  },

  /** The bank accounts of these shops; a shop that gave none maps to null. */
  async bankAccounts(conn: Conn, ids: number[]): Promise<Map<number, BankAccount | null>> {
    const rows = ids.length === 0 ? [] : await conn('merchants').whereIn('id', ids).select('id', ...Object.keys(BANK_COLUMNS));
    return new Map(rows.map((row: Record<string, any>) => [Number(row.id), bankAccountOf(row)]));
  },
};
