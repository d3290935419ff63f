// Every SQL statement of the municipalities the platform serves. Their rows come from seeds and
// operations; features read them through here. Their shops are shops/ (the merchants table),
// whose names only are read here too: an organization (a staff account's, a device's) is a shop
// or a town, and its names are answered in one place, withOrganizationNames.
import type { Knex } from 'knex';
import type { Db } from '../db.ts';
import type { Named } from '@mykey/contracts/statement-shape.ts';

type Conn = Db | Knex.Transaction;

export interface Names { ja: string; en: string }

/**
 * Joins to `query`, whose rows (aliased `alias`) belong to a shop or a town (merchant_id and
 * municipality_code, exactly one of them set), their organization's names as org_name_ja and
 * org_name_en (read them with namesOfOrganization), and its municipality as town (a shop's town).
 */
export function withOrganizationNames(conn: Conn, query: Knex.QueryBuilder, alias: string): Knex.QueryBuilder {
  return query
    .leftJoin('municipalities as org_town', 'org_town.code', `${alias}.municipality_code`)
    .leftJoin('merchants as org_shop', 'org_shop.id', `${alias}.merchant_id`)
    .select(conn.raw('COALESCE(org_shop.name_ja, org_town.name_ja) AS org_name_ja'), conn.raw('COALESCE(org_shop.name_en, org_town.name_en) AS org_name_en'),
      conn.raw('COALESCE(org_shop.municipality_code, ??) AS town', [`${alias}.municipality_code`]));
}

/** The names withOrganizationNames joined to a row. */
export function namesOfOrganization(row: { org_name_ja: string; org_name_en: string }): Names {
  return { ja: row.org_name_ja, en: row.org_name_en };
}

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

  /** Every municipality with its names, in order of code. */
  async municipalities(conn: Conn): Promise<Array<{ code: string; names: Names }>> {
    const rows = await conn('municipalities').orderBy('code').select('code', 'name_ja', 'name_en');
    return rows.map((row) => ({ code: String(row.code), names: { ja: row.name_ja, en: row.name_en } }));
  },
};

/** The columns of a row named by slug and name in both languages: a shop, a partner, a campaign. */
export const NAMED_COLUMNS = ['id', 'slug', 'name_ja', 'name_en'];

const toNamed = (row: Record<string, any>): Named => ({ id: Number(row.id), slug: row.slug, name: { ja: row.name_ja, en: row.name_en } });

/** The named rows by id (each owner reads its own table). */
export const namedById = (rows: Array<Record<string, any>>): Map<number, Named> => new Map(rows.map((row) => [Number(row.id), toNamed(row)]));
