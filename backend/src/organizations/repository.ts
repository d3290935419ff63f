// Every SQL statement of the organizations the platform serves: municipalities and their shops
// (merchants). Their rows come from seeds and operations; features read them through here.
import type { Knex } from 'knex';
import type { Db } from '../db.ts';
import type { Named } from '@mykey/contracts/statement-shape.ts';

type Conn = Db | Knex.Transaction;

export interface Names { ja: string; en: string }

/** A shop as the register and its receipts show it. */
export interface Merchant { id: number; nameJa: string; nameEn: string; status: 'pending' | 'approved' | 'suspended' }

export const organizationRepository = {
  /** Those of these codes that name a municipality. */
  async existingMunicipalities(conn: Conn, codes: string[]): Promise<Set<string>> {
    if (codes.length === 0) return new Set();
    const rows = await conn('municipalities').whereIn('code', [...new Set(codes)]).select('code');
    return new Set(rows.map((row) => String(row.code)));
  },

  async municipalityName(conn: Conn, code: string): Promise<Names | undefined> {
    const row = await conn('municipalities').where({ code }).first('name_ja', 'name_en');
    return row && { ja: row.name_ja, en: row.name_en };
  },

  async insertMunicipality(trx: Knex.Transaction, municipality: { code: string; name: Names; now: Date }): Promise<void> {
    await trx('municipalities').insert({ code: municipality.code, name_ja: municipality.name.ja, name_en: municipality.name.en, created_at: municipality.now });
  },

  /** Every municipality's code, in order. */
  async municipalityCodes(conn: Conn): Promise<string[]> {
    return (await conn('municipalities').orderBy('code').select('code')).map((row) => String(row.code));
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

  /** A shop's or a municipality's name. */
  async organizationName(conn: Conn, organization: { kind: 'merchant' | 'municipality'; id: string }): Promise<Names> {
    const table = organization.kind === 'merchant' ? conn('merchants').where({ id: organization.id }) : conn('municipalities').where({ code: organization.id });
    const row = await table.first('name_ja', 'name_en');
    return { ja: row.name_ja, en: row.name_en };
  },
};

/** The columns of a row named by slug and name in both languages: a shop, a partner, a campaign. */
export const NAMED_COLUMNS = ['id', 'slug', 'name_ja', 'name_en'];

const toNamed = (row: Record<string, any>): Named => ({ id: Number(row.id), slug: row.slug, name: { ja: row.name_ja, en: row.name_en } });

/** The named rows by id (each owner reads its own table). */
export const namedById = (rows: Array<Record<string, any>>): Map<number, Named> => new Map(rows.map((row) => [Number(row.id), toNamed(row)]));
