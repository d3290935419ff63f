// What a card is tapped for to let family find each other (registered in app.ts, one line each;
// docs/family.md). Consent and its withdrawal are the card's signature after its PIN, over what
// the resident was shown; asking where the family are takes a PIN-less tap at a shelter's desk.
import { FAMILY_TERMS, type FamilyTerms } from '@mykey/contracts/challenge-text.ts';
import type { Purpose } from '../card-taps/purposes.ts';
import { accept, offer, requestTerms, whereabouts, withdraw, withWhereabouts } from './service.ts';

const consentPurpose = (name: string, action: FamilyTerms['action'], handle: Purpose<FamilyTerms>['handle']): Purpose<FamilyTerms> => ({
  name, proofs: ['pin'], deviceKinds: ['municipality'], valueMoving: false,
  terms: { text: FAMILY_TERMS, bind: (trx, device, requested, now) => requestTerms(trx, device, action, requested, now) },
  handle,
});

/** The resident offers to share shelters with whoever accepts the code next. */
export const familyOfferPurpose = consentPurpose('family_offer', 'offer', offer);

/** The resident accepts a family member's offer, as the request shows it. */
export const familyAcceptPurpose = consentPurpose('family_accept', 'accept', accept);

/** The resident withdraws every family consent of their card, for both sides at once. */
export const familyWithdrawPurpose: Purpose = { name: 'family_withdraw', proofs: ['pin'], deviceKinds: ['municipality'], valueMoving: false, handle: withdraw };

/** Where the consented family are, at a shelter's desk: PIN-less like the check-in (docs/family.md says why). */
export const familyWhereaboutsPurpose: Purpose = { name: 'family_whereabouts', proofs: ['pin', 'tap'], deviceKinds: ['municipality'], valueMoving: false, handle: whereabouts };

/** The shelter check-in, answering where the family are too. */
export function withFamily(checkIn: Purpose): Purpose {
  // A planned purpose's taps and card sessions skip handle (group commit): the family would go missing unseen.
  if (checkIn.planned) throw new Error(`withFamily wraps a handler, and ${checkIn.name} is planned`);
  return { ...checkIn, handle: async (trx, tap) => withWhereabouts(trx, tap, await checkIn.handle(trx, tap)) };
}
