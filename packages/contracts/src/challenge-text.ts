// The text a card signs for a challenge, shared by the backend, which rebuilds it from its own
// row to check a signature, and the reader agent, which rebuilds it from the challenge it was
// given and refuses to have the card sign anything else. Free of server imports on purpose.

// home_move: the resident makes this device's municipality the home of their MyKey ID.
export const CHALLENGE_PURPOSES = ['login', 'relink', 'counter_relink', 'payment', 'home_move'] as const;
export type ChallengePurpose = (typeof CHALLENGE_PURPOSES)[number];

/** A payment intent's id: `pi_` and 16 random bytes in base64url. */
export const PAYMENT_INTENT_ID = /^pi_[A-Za-z0-9_-]{22}$/;

/** What a payment challenge binds the card's signature to: this intent, this amount, this shop. */
export interface PaymentTerms { intentId: string; amount: number; merchantId: number }

export interface Challenge {
  id: string;
  deviceId: number;
  purpose: ChallengePurpose;
  expiresAt: Date;
  /** Present exactly when the purpose is `payment`. */
  payment?: PaymentTerms;
}

/** The exact bytes the card signs (as a SHA-256 DigestInfo). */
export function canonicalChallenge(challenge: Challenge): Buffer {
  if ((challenge.purpose === 'payment') !== (challenge.payment !== undefined)) {
    throw new Error('a challenge names payment terms exactly when its purpose is payment');
  }
  const { payment } = challenge;
  return Buffer.from([
    'MyKey challenge v1',
    `id: ${challenge.id}`,
    `purpose: ${challenge.purpose}`,
    `device: ${challenge.deviceId}`,
    `expires: ${challenge.expiresAt.toISOString()}`,
    // The card signs what it pays: which intent, how many points (= yen), to which shop.
    ...(payment ? [`payment-intent: ${payment.intentId}`, `amount-points: ${payment.amount}`, `merchant: ${payment.merchantId}`] : []),
    '',
  ].join('\n'), 'utf8');
}
