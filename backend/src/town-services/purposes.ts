// What a card is tapped for at a town service's devices (registered in app.ts, one line each).
// Only the town's own devices ask, and a service's device only for that service: the handlers
// find the service through the device.
import { MEMBERSHIP_TERMS, type MembershipTerms } from '@mykey/contracts/challenge-text.ts';
import type { MembershipAction } from '@mykey/contracts/services.ts';
import { plannedPurpose, type Purpose } from '../card-taps/purposes.ts';
import { insertLookups, link, planLookup, requestTerms, unlinkByCard, type LookupRows } from './service.ts';

const membershipPurpose = (name: string, action: MembershipAction, handle: Purpose<MembershipTerms>['handle']): Purpose<MembershipTerms> => ({
  // Consent to a link is the card's signature over what the resident was shown: never PIN-less.
  // A link binds the identity like a relink does, so it is refused too when revocation is unknown under fail-closed.
  name, proofs: ['pin'], deviceKinds: ['municipality'], valueMoving: true,
  terms: { text: MEMBERSHIP_TERMS, bind: (trx, device, requested, now) => requestTerms(trx, device, action, requested, now) },
  handle,
});

/** The resident links the member number the clerk typed, as the request shows it. */
export const serviceLinkPurpose = (secret: Buffer) => membershipPurpose('service_link', 'link', (trx, tap) => link(trx, secret, tap));

/** The resident unlinks their own membership, as the request shows it. */
export const serviceUnlinkPurpose = membershipPurpose('service_unlink', 'unlink', unlinkByCard);

/**
 * A tap at a service's counter or gate: with the PIN, or PIN-less where the service's tap policy
 * allows (the handler checks the policy; docs/services.md says what a PIN-less tap proves).
 */
export const serviceLookupPurpose = (secret: Buffer): Purpose => plannedPurpose<LookupRows>(
  { name: 'service_lookup', proofs: ['pin', 'tap'], deviceKinds: ['municipality'], valueMoving: false },
  { plan: (conn, tap) => planLookup(conn, secret, tap), insert: insertLookups },
);
