// What is linked to the resident's card, on their own page (docs/resident.md#whats-linked-to-the-card):
// the memberships of town services, the family consents for shelters, the home municipality.
// Each change is the owning feature's own code (town-services' unlink, family's withdrawal,
// mykey's home move) run for the page's session: the MyKey ID is the session's, never the
// browser's word. As for every act of the card, the kiosk's device is the actor; the events say
// `via: 'resident_page'`.
import type { Knex } from 'knex';
import type { Db } from '../db.ts';
import { Problem } from '../http/problems.ts';
import { challengeRepository } from '../card-taps/repository.ts';
import { consentsOf, withdrawOne } from '../family/service.ts';
import { mykeyRepository } from '../mykey/repository.ts';
import { moveHome } from '../mykey/service.ts';
import { townServicesRepository } from '../town-services/repository.ts';
import { unlinkByResident } from '../town-services/service.ts';
import type { ResidentHome, ResidentLinks } from '@mykey/contracts/resident-links.ts';
import type { ResidentSession } from './repository.ts';
import type { OpenSession } from './service.ts';
import { municipalityNames } from './service.ts';

type Conn = Db | Knex.Transaction;

/** The purpose the card signs, after its PIN, to move the MyKey ID's home (mykey/purposes.ts). */
const HOME_MOVE = 'home_move';

const kioskOf = (session: ResidentSession) => ({ deviceId: session.deviceId, town: session.municipalityCode });

/** The home town, and whether it can move to the kiosk's town (it cannot when it is there already). */
async function homeOf(conn: Conn, session: ResidentSession): Promise<ResidentHome> {
  const { homeMunicipalityCode: code } = await mykeyRepository.home(conn, session.mykeyPk);
  return { municipality: { code, name: (await municipalityNames(conn, [code])).get(code)! }, movableHere: code !== session.municipalityCode };
}

/** The session's memberships, consents and waiting offers, and home; nobody else's. */
export async function linksOf(db: Db, session: ResidentSession, now: Date): Promise<ResidentLinks> {
  const [memberships, family, home] = await Promise.all([townServicesRepository.membershipsOf(db, session.mykeyPk), consentsOf(db, session.mykeyPk, now), homeOf(db, session)]);
  const names = await municipalityNames(db, [...new Set(memberships.map((m) => m.service.municipalityCode))]);
  return {
    memberships: memberships.map((m) => ({
      id: m.id, service: { nameJa: m.service.nameJa, nameEn: m.service.nameEn },
      municipality: { code: m.service.municipalityCode, name: names.get(m.service.municipalityCode)! }, memberNumber: m.memberNumber, linkedAt: m.linkedAt.toISOString(),
    })),
    family,
    home,
  };
}

/** The resident unlinks one of their memberships: the card no longer opens that service; the member number stays the service's. */
export async function unlinkMembership(trx: Knex.Transaction, session: OpenSession, membershipId: number) {
  return unlinkByResident(trx, session, kioskOf(session), membershipId);
}

/** The resident withdraws one family consent (or a waiting offer): it ends for both residents. */
export async function withdrawConsent(trx: Knex.Transaction, session: OpenSession, pairingId: number, now: Date) {
  return withdrawOne(trx, session, kioskOf(session), pairingId, now);
}

/**
 * The card signed home_move after its PIN at the kiosk the page was opened at; `proof` is that
 * signed challenge, used once. The MyKey ID's home becomes the kiosk's town.
 */
export async function moveHomeHere(trx: Knex.Transaction, session: OpenSession, proof: string, now: Date): Promise<{ home: ResidentHome }> {
  const certKey = await challengeRepository.consumeSigned(trx, proof, [session.deviceId], HOME_MOVE, now);
  const moved = await moveHome(trx, certKey, { id: session.deviceId, municipalityCode: session.municipalityCode }, { via: 'resident_page' });
  // Only the page's own resident moves their home: another card's signature is refused, its move rolled back with the refusal.
  if (moved !== session.mykeyId) throw new Problem('resident_card_mismatch');
  return { home: await homeOf(trx, session) };
}
