// Paying at a shop's register is a purpose of the card-tap service (registered in app.ts): only
// the shop's own devices ask, the card signs the intent, its amount and the shop (the shared
// contract's PAYMENT_TERMS), and the verified card pays at once. The receipt names the payer by
// the shop's pseudonym of them, made from the MyKey secret (`secret`).
import { PAYMENT_TERMS, type PaymentTerms } from '@mykey/contracts/challenge-text.ts';
import type { Purpose } from '../card-taps/purposes.ts';
import { challengeTerms, pay } from './service.ts';

export const paymentPurpose = (secret: Buffer): Purpose<PaymentTerms> => ({
  name: 'payment', proofs: ['pin'], deviceKinds: ['merchant'], valueMoving: true,
  // To any other device an intent is as good as unknown, as it is to another shop's.
  deviceRefusal: 'payment_intent_not_found',
  terms: { text: PAYMENT_TERMS, bind: challengeTerms },
  handle: (trx, { card, device, now, terms }) => pay(trx, secret, { terms: terms!, certKey: card.certKey, device, now }),
});
