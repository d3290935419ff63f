// Every SQL statement of the partners' tables: partners as API clients (their sealed secret,
// webhook URL, status and rate), as statements and conversions name them, and their agreements
// with municipalities (partner_agreements).
import type { Knex } from 'knex';
import type { Db } from '../db.ts';
import { tokyoDate } from '../ledger/rules.ts';
import { NAMED_COLUMNS, namedById } from '../organizations/repository.ts';
import type { Named } from '@mykey/contracts/statement-shape.ts';
import { unsealPartnerSecret } from './credentials.ts';

type Conn = Db | Knex.Transaction;

export interface PartnerCredentials {
  id: number;
  slug: string;
  status: 'active' | 'suspended';
  /** The rate as an exact fraction: ratePoints municipal points per rateUnits partner units. */
  rateUnits: number;
  ratePoints: number;
  /** The HMAC secret in clear (64 hex characters as issued). */
  apiSecret: string;
  webhookUrl: string | null;
}

/** What a partner slug may be. */
export const PARTNER_SLUG = /^[A-Za-z0-9_-]{1,64}$/;

export const PARTNER_KINDS = ['card_points', 'airline_miles', 'other'] as const;

export interface NewPartner {
  slug: string; nameJa: string; nameEn: string; kind: typeof PARTNER_KINDS[number];
  /** rate_points municipal points per rate_units of the partner's own points or miles. */
  rateUnits: number; ratePoints: number; createdAt: Date;
}

/** What processing a conversion needs of its partner: whether it is active, where its webhooks go. */
export interface PartnerState { active: boolean; webhookUrl: string | null }

export interface Agreement {
  id: number;
  partner: string;
  municipality: string;
  status: 'active' | 'ended';
  startsOn: string;
  endsOn: string | null;
  createdAt: string;
  endedAt: string | null;
}

function toAgreement(row: Record<string, any>): Agreement {
  return {
    id: Number(row.id), partner: row.slug, municipality: row.municipality_code, status: row.status,
    startsOn: row.starts_on, endsOn: row.ends_on,
    createdAt: row.created_at.toISOString(), endedAt: row.ended_at?.toISOString() ?? null,
  };
}

function selectAgreements(conn: Conn) {
  return conn('partner_agreements as a').join('partners as p', 'p.id', 'a.partner_id')
    .select('a.id', 'p.slug', 'a.municipality_code', 'a.status', 'a.created_at', 'a.ended_at',
      conn.raw("DATE_FORMAT(a.starts_on, '%Y-%m-%d') AS starts_on"), conn.raw("DATE_FORMAT(a.ends_on, '%Y-%m-%d') AS ends_on"));
}

export const partnerRepository = {
  /**
   * A partner with API access, or undefined when there is no such partner or it has no secret.
   * Not cached: it is one lookup on a unique key and an AES-GCM open of 64 bytes, and reading
   * it every time means a new secret, webhook URL or suspension counts from the next request.
   */
  async credentials(conn: Conn, mykeySecret: Buffer, partnerSlug: string): Promise<PartnerCredentials | undefined> {
    if (!PARTNER_SLUG.test(partnerSlug)) return undefined;
    const row = await conn('partners').where({ slug: partnerSlug })
      .first('id', 'slug', 'status', 'rate_units', 'rate_points', 'api_secret_sealed', 'webhook_url');
    if (!row?.api_secret_sealed) return undefined;
    const id = Number(row.id);
    return {
      id, slug: row.slug, status: row.status, rateUnits: row.rate_units, ratePoints: row.rate_points,
      apiSecret: unsealPartnerSecret(mykeySecret, id, Buffer.from(row.api_secret_sealed)),
      webhookUrl: row.webhook_url,
    };
  },

  /** The partner by slug, locked until the transaction ends, with its webhook URL and whether it has a secret. */
  async lockBySlug(trx: Knex.Transaction, partnerSlug: string): Promise<{ id: number; webhookUrl: string | null; hasSecret: boolean } | undefined> {
    const row = await trx('partners').where({ slug: partnerSlug }).forUpdate().first('id', 'webhook_url', 'api_secret_sealed');
    return row && { id: Number(row.id), webhookUrl: row.webhook_url, hasSecret: Boolean(row.api_secret_sealed) };
  },

  async storeSecret(trx: Knex.Transaction, partnerId: number, sealedSecret: Buffer, webhookUrl: string | null): Promise<void> {
    await trx('partners').where({ id: partnerId }).update({ api_secret_sealed: sealedSecret, webhook_url: webhookUrl });
  },

  /** The id of the partner with this slug. */
  /** A new partner's id, or undefined when its slug is taken. */
  async insertPartner(trx: Knex.Transaction, partner: NewPartner): Promise<number | undefined> {
    const [id] = await trx('partners').insert({
      slug: partner.slug, name_ja: partner.nameJa, name_en: partner.nameEn, kind: partner.kind, rate_units: partner.rateUnits, rate_points: partner.ratePoints, created_at: partner.createdAt,
    }).onConflict('slug').ignore();
    return id ? Number(id) : undefined;
  },

  async idOf(conn: Conn, partnerSlug: string): Promise<number | undefined> {
    const row = await conn('partners').where({ slug: partnerSlug }).first('id');
    return row && Number(row.id);
  },

  async names(conn: Conn, ids: number[]): Promise<Map<number, Named>> {
    return namedById(ids.length === 0 ? [] : await conn('partners').whereIn('id', ids).select(NAMED_COLUMNS));
  },

  /** The partners with an active agreement with the town (in force or to come), by name: a premium campaign names those taking part from these. */
  async partnersOf(conn: Conn, municipalityCode: string): Promise<Named[]> {
    const rows = await conn('partners as p').whereExists(conn('partner_agreements as a').whereRaw('a.partner_id = p.id')
      .where({ 'a.municipality_code': municipalityCode, 'a.status': 'active' }).select(conn.raw('1')))
      .orderBy(['p.name_ja', 'p.id']).select(NAMED_COLUMNS.map((column) => `p.${column}`));
    return [...namedById(rows).values()];
  },

  async states(conn: Conn, partnerIds: number[]): Promise<Map<number, PartnerState>> {
    const rows = await conn('partners').whereIn('id', [...new Set(partnerIds)]).select('id', 'status', 'webhook_url');
    return new Map(rows.map((row) => [Number(row.id), { active: row.status === 'active', webhookUrl: row.webhook_url ?? null }]));
  },

  // --- agreements -------------------------------------------------------------------------

  /** Of these municipality codes, those where the partner has an agreement in force on `now`'s Japanese date. */
  async municipalitiesInForce(conn: Conn, partnerId: number, codes: string[], now: Date): Promise<Set<string>> {
    if (codes.length === 0) return new Set();
    const today = tokyoDate(now);
    const rows = await conn('partner_agreements').where({ partner_id: partnerId, status: 'active' }).whereIn('municipality_code', codes)
      .andWhere('starts_on', '<=', today).andWhere((q) => q.whereNull('ends_on').orWhere('ends_on', '>=', today))
      .distinct('municipality_code');
    return new Set(rows.map((row: { municipality_code: string }) => row.municipality_code));
  },

  /** Agreements, newest first, optionally of one partner and/or one municipality. */
  async agreements(conn: Conn, filter: { partner?: string; municipality?: string; id?: number } = {}): Promise<Agreement[]> {
    const query = selectAgreements(conn).orderBy('a.id', 'desc');
    if (filter.partner) query.where('p.slug', filter.partner);
    if (filter.municipality) query.where('a.municipality_code', filter.municipality);
    if (filter.id !== undefined) query.where('a.id', filter.id);
    return (await query).map(toAgreement);
  },

  /** Inserts an active agreement; undefined when the pair has one already. */
  async insertAgreement(trx: Knex.Transaction, agreement: { partnerId: number; municipalityCode: string; startsOn: string; endsOn: string | null; createdAt: Date }): Promise<number | undefined> {
    try {
      const [id] = await trx('partner_agreements').insert({
        partner_id: agreement.partnerId, municipality_code: agreement.municipalityCode, status: 'active',
        starts_on: agreement.startsOn, ends_on: agreement.endsOn, created_at: agreement.createdAt,
      });
      return Number(id);
    } catch (error) {
      if ((error as { code?: string }).code === 'ER_DUP_ENTRY') return undefined;
      throw error;
    }
  },

  /** The pair's active agreement, locked until the transaction ends. */
  async lockActiveAgreement(trx: Knex.Transaction, partnerSlug: string, municipalityCode: string): Promise<{ id: number; partnerId: number } | undefined> {
    const row = await trx('partner_agreements as a').join('partners as p', 'p.id', 'a.partner_id')
      .where({ 'p.slug': partnerSlug, 'a.municipality_code': municipalityCode, 'a.status': 'active' }).forUpdate().first('a.id', 'a.partner_id');
    return row && { id: Number(row.id), partnerId: Number(row.partner_id) };
  },

  async endAgreement(trx: Knex.Transaction, id: number, at: Date): Promise<void> {
    await trx('partner_agreements').where({ id }).update({ status: 'ended', ended_at: at });
  },
};
