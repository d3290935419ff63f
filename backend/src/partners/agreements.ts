// Partner agreements: a partner credits points only in a municipality that has an agreement
// with it in force (docs/partner-api.md#agreements). An agreement is in force from starts_on
// to ends_on (Japan dates, both included; no ends_on: open-ended) while it is active; an
// operator's `end` stops it at once. Their SQL is in repository.ts.
import { appendAudit, towns, type AuditEvent } from '../audit/chain.ts';
import type { Db } from '../db.ts';
import { organizationRepository } from '../organizations/repository.ts';
import { partnerRepository as repo, type Agreement } from './repository.ts';

export class AgreementRefused extends Error {
  constructor(readonly code: 'partner_not_found' | 'municipality_not_found' | 'agreement_exists' | 'agreement_not_found', message: string) {
    super(message);
  }
}

/** Who changed an agreement, for the audit log: the operators' command (or a test) unless a town's administrator did in the console. */
const OPERATOR = { kind: 'system', id: 'partner-agreement' } as const;
type Actor = AuditEvent['actor'];

/**
 * Records a new agreement (audited in the same transaction). Refused when the partner or the
 * municipality does not exist, or the pair already has an active agreement.
 */
export async function addAgreement(db: Db, change: { partner: string; municipality: string; startsOn: string; endsOn?: string | null; now: Date; actor?: Actor }): Promise<Agreement> {
  return db.transaction(async (trx) => {
    const partnerId = await repo.idOf(trx, change.partner);
    if (partnerId === undefined) throw new AgreementRefused('partner_not_found', `no partner ${JSON.stringify(change.partner)}`);
    if ((await organizationRepository.existingMunicipalities(trx, [change.municipality])).size === 0) throw new AgreementRefused('municipality_not_found', `no municipality ${JSON.stringify(change.municipality)}`);
    const id = await repo.insertAgreement(trx, {
      partnerId, municipalityCode: change.municipality, startsOn: change.startsOn, endsOn: change.endsOn ?? null, createdAt: change.now,
    });
    if (id === undefined) {
      throw new AgreementRefused('agreement_exists', `${change.partner} already has an active agreement with ${change.municipality}; end it first`);
    }
    await appendAudit(trx, { action: 'partner.agreement_added', actor: change.actor ?? OPERATOR, subject: `partner-agreement:${id}`,
      details: { partnerId, municipality: change.municipality, startsOn: change.startsOn, endsOn: change.endsOn ?? null, ...towns(change.municipality) } });
    return (await repo.agreements(trx, { id }))[0]!;
  });
}

/** Ends the pair's active agreement now (audited); agreement_not_found when it has none. */
export async function endAgreement(db: Db, change: { partner: string; municipality: string; now: Date; actor?: Actor }): Promise<Agreement> {
  return db.transaction(async (trx) => {
    const row = await repo.lockActiveAgreement(trx, change.partner, change.municipality);
    if (!row) throw new AgreementRefused('agreement_not_found', `${change.partner} has no active agreement with ${change.municipality}`);
    await repo.endAgreement(trx, row.id, change.now);
    await appendAudit(trx, { action: 'partner.agreement_ended', actor: change.actor ?? OPERATOR, subject: `partner-agreement:${row.id}`,
      details: { partnerId: row.partnerId, municipality: change.municipality, ...towns(change.municipality) } });
    return (await repo.agreements(trx, { id: row.id }))[0]!;
  });
}
