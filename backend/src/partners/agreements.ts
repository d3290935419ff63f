// Partner agreements: a partner credits points only in a municipality that has an agreement
// with it in force (docs/partner-api.md#agreements). An agreement is in force from starts_on
// to ends_on (Japan dates, both included; no ends_on: open-ended) while it is active; an
// operator's `end` stops it at once. Every SQL statement on partner_agreements lives here.
import type { Knex } from 'knex';
import { appendAudit } from '../audit/chain.ts';
import type { Db } from '../db.ts';
import { tokyoDate } from '../ledger/rules.ts';

type Conn = Db | Knex.Transaction;

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

export class AgreementRefused extends Error {
  constructor(readonly code: 'partner_not_found' | 'municipality_not_found' | 'agreement_exists' | 'agreement_not_found', message: string) {
    super(message);
  }
}

/** Of these municipality codes, those where the partner has an agreement in force on `now`'s Japanese date. */
export async function municipalitiesInForce(conn: Conn, partnerId: number, codes: string[], now: Date): Promise<Set<string>> {
  if (codes.length === 0) return new Set();
  const today = tokyoDate(now);
  const rows = await conn('partner_agreements').where({ partner_id: partnerId, status: 'active' }).whereIn('municipality_code', codes)
    .andWhere('starts_on', '<=', today).andWhere((q) => q.whereNull('ends_on').orWhere('ends_on', '>=', today))
    .distinct('municipality_code');
  return new Set(rows.map((row: { municipality_code: string }) => row.municipality_code));
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

/** Agreements, newest first, optionally of one partner and/or one municipality. */
export async function listAgreements(db: Db, filter: { partner?: string; municipality?: string } = {}): Promise<Agreement[]> {
  const query = selectAgreements(db).orderBy('a.id', 'desc');
  if (filter.partner) query.where('p.slug', filter.partner);
  if (filter.municipality) query.where('a.municipality_code', filter.municipality);
  return (await query).map(toAgreement);
}

/** Who changed an agreement, for the audit log: an operator's command, or a test. */
const OPERATOR = { kind: 'system', id: 'partner-agreement' } as const;

/**
 * Records a new agreement (audited in the same transaction). Refused when the partner or the
 * municipality does not exist, or the pair already has an active agreement.
 */
export async function addAgreement(db: Db, change: { partner: string; municipality: string; startsOn: string; endsOn?: string | null; now: Date }): Promise<Agreement> {
  return db.transaction(async (trx) => {
    const partner = await trx('partners').where({ slug: change.partner }).first('id');
    if (!partner) throw new AgreementRefused('partner_not_found', `no partner ${JSON.stringify(change.partner)}`);
    const municipality = await trx('municipalities').where({ code: change.municipality }).first('code');
    if (!municipality) throw new AgreementRefused('municipality_not_found', `no municipality ${JSON.stringify(change.municipality)}`);
    let id: number;
    try {
      const [inserted] = await trx('partner_agreements').insert({
        partner_id: partner.id, municipality_code: change.municipality, status: 'active',
        starts_on: change.startsOn, ends_on: change.endsOn ?? null, created_at: change.now,
      });
      id = Number(inserted);
    } catch (error) {
      if ((error as { code?: string }).code !== 'ER_DUP_ENTRY') throw error;
      throw new AgreementRefused('agreement_exists', `${change.partner} already has an active agreement with ${change.municipality}; end it first`);
    }
    await appendAudit(trx, { action: 'partner.agreement_added', actor: OPERATOR, subject: `partner-agreement:${id}`,
      details: { partnerId: Number(partner.id), municipality: change.municipality, startsOn: change.startsOn, endsOn: change.endsOn ?? null } });
    return toAgreement((await selectAgreements(trx).where('a.id', id).first())!);
  });
}

/** Ends the pair's active agreement now (audited); agreement_not_found when it has none. */
export async function endAgreement(db: Db, change: { partner: string; municipality: string; now: Date }): Promise<Agreement> {
  return db.transaction(async (trx) => {
    const row = await trx('partner_agreements as a').join('partners as p', 'p.id', 'a.partner_id')
      .where({ 'p.slug': change.partner, 'a.municipality_code': change.municipality, 'a.status': 'active' }).forUpdate().first('a.id', 'a.partner_id');
    if (!row) throw new AgreementRefused('agreement_not_found', `${change.partner} has no active agreement with ${change.municipality}`);
    await trx('partner_agreements').where({ id: row.id }).update({ status: 'ended', ended_at: change.now });
    await appendAudit(trx, { action: 'partner.agreement_ended', actor: OPERATOR, subject: `partner-agreement:${row.id}`,
      details: { partnerId: Number(row.partner_id), municipality: change.municipality } });
    return toAgreement((await selectAgreements(trx).where('a.id', row.id).first())!);
  });
}
