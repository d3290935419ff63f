// The text a card signs for a challenge, per purpose, shared by the backend, which rebuilds it
// from its own row to check a signature, and the reader agent, which rebuilds it from the
// challenge it was given and refuses to have the card sign anything else. Free of server imports on purpose.

import { FAMILY_CODE, FAMILY_LABEL, FAMILY_REQUEST_ID, familyConsentLines, type FamilyTerms } from './family.ts';
import { MEMBER_NUMBER, SERVICE_NAME, SERVICE_NAME_MAX } from './services.ts';

/**
 * What a purpose adds to "this card, with its PIN, here, now": terms bound when the challenge
 * is made (payment: this intent, this amount, this shop), which the card signs too.
 */
export interface PurposeTerms<Terms extends object = object> {
  /** The challenge request's field naming what the terms are of (payment: the intent's id), and its form. */
  readonly requestField: string;
  readonly requestPattern: RegExp;
  readonly requestError: string;
  /** The challenge answer's field repeating the terms, for the agent to rebuild the text from. */
  readonly answerField: string;
  /** The terms as an answer gives them, if well-formed: the agent trusts nothing it is sent. */
  parse(value: unknown): Terms | undefined;
  /** Why the terms are not those of what the request named (the agent's check), or undefined. */
  mismatch(terms: Terms, requested: string): string | undefined;
  /** The lines the card signs after the common ones. */
  lines(terms: Terms): string[];
}

/** A payment intent's id: `pi_` and 16 random bytes in base64url. */
export const PAYMENT_INTENT_ID = /^pi_[A-Za-z0-9_-]{22}$/;

/** What a payment challenge binds the card's signature to: this intent, this amount, this shop. */
export interface PaymentTerms { intentId: string; amount: number; merchantId: number }

const positiveInteger = (value: unknown): value is number => Number.isSafeInteger(value) && (value as number) >= 1;

export const PAYMENT_TERMS: PurposeTerms<PaymentTerms> = {
  requestField: 'paymentIntentId',
  requestPattern: PAYMENT_INTENT_ID,
  requestError: 'must be a payment intent id (pi_…)',
  answerField: 'payment',
  parse(value) {
    if (typeof value !== 'object' || value === null) return undefined;
    const { intentId, amount, merchantId } = value as Record<string, unknown>;
    if (typeof intentId !== 'string' || !positiveInteger(amount) || !positiveInteger(merchantId)) return undefined;
    return { intentId, amount, merchantId };
  },
  mismatch: (terms, requested) => (terms.intentId === requested ? undefined : `payment intent ${terms.intentId}`),
  // The card signs what it pays: which intent, how many points (= yen), to which shop.
  lines: (terms) => [`payment-intent: ${terms.intentId}`, `amount-points: ${terms.amount}`, `merchant: ${terms.merchantId}`],
};

/** A membership request's id: `mr_` and 16 random bytes in base64url. */
export const MEMBERSHIP_REQUEST_ID = /^mr_[A-Za-z0-9_-]{22}$/;

/** What a link or an unlink binds the card's signature to: this request, this service (its id and name as shown), this member number. */
export interface MembershipTerms { requestId: string; serviceId: number; serviceName: string; memberNumber: string }


export const MEMBERSHIP_TERMS: PurposeTerms<MembershipTerms> = {
  requestField: 'membershipRequestId',
  requestPattern: MEMBERSHIP_REQUEST_ID,
  requestError: 'must be a membership request id (mr_…)',
  answerField: 'membership',
  parse(value) {
    if (typeof value !== 'object' || value === null) return undefined;
    const { requestId, serviceId, serviceName, memberNumber } = value as Record<string, unknown>;
    if (typeof requestId !== 'string' || !MEMBERSHIP_REQUEST_ID.test(requestId) || !positiveInteger(serviceId)) return undefined;
    if (typeof serviceName !== 'string' || !SERVICE_NAME.test(serviceName) || serviceName.length > SERVICE_NAME_MAX) return undefined;
    if (typeof memberNumber !== 'string' || !MEMBER_NUMBER.test(memberNumber)) return undefined;
    return { requestId, serviceId, serviceName, memberNumber };
  },
  mismatch: (terms, requested) => (terms.requestId === requested ? undefined : `membership request ${terms.requestId}`),
  // The card signs what the resident was shown: which service, which member number.
  lines: (terms) => [`membership-request: ${terms.requestId}`, `service: ${terms.serviceId} ${terms.serviceName}`, `member-number: ${terms.memberNumber}`],
};

export type { FamilyTerms } from './family.ts';

export const FAMILY_TERMS: PurposeTerms<FamilyTerms> = {
  requestField: 'familyRequestId',
  requestPattern: FAMILY_REQUEST_ID,
  requestError: 'must be a family request id (fr_…)',
  answerField: 'family',
  parse(value) {
    if (typeof value !== 'object' || value === null) return undefined;
    const { requestId, action, code, label, offererLabel } = value as Record<string, unknown>;
    if (typeof requestId !== 'string' || !FAMILY_REQUEST_ID.test(requestId) || (action !== 'offer' && action !== 'accept')) return undefined;
    if (typeof code !== 'string' || !FAMILY_CODE.test(code) || typeof label !== 'string' || !FAMILY_LABEL.test(label)) return undefined;
    // An offer names nobody yet; an acceptance names whom it consents to.
    const offerer = action === 'accept' && typeof offererLabel === 'string' && FAMILY_LABEL.test(offererLabel) ? offererLabel : null;
    if ((action === 'accept') !== (offerer !== null) || (action === 'offer' && offererLabel !== null)) return undefined;
    return { requestId, action, code, label, offererLabel: offerer };
  },
  mismatch: (terms, requested) => (terms.requestId === requested ? undefined : `family request ${terms.requestId}`),
  lines: familyConsentLines,
};

/**
 * Today's purposes, each with its terms (null: the card signs the common lines only).
 * home_move: the resident makes this device's municipality the home of their MyKey ID.
 * service_link / service_unlink: a membership of a town service joins or leaves the MyKey ID;
 * service_lookup: a tap at a service's counter or gate (docs/services.md);
 * shelter_check_in / shelter_check_out: at a shelter's desk, PIN-less by design or with the PIN (docs/shelters.md);
 * event_attendance: a tap at an event's reception, granting its points once (docs/events.md);
 * family_offer / family_accept / family_withdraw: consent between two residents to learn each other's shelter;
 * family_whereabouts: where the consented family are, at a shelter's desk (docs/family.md);
 * resident_page: the resident opens their own page at a town's device (docs/resident.md).
 */
export const PURPOSE_TERMS = {
  login: null, relink: null, counter_relink: null, payment: PAYMENT_TERMS, home_move: null,
  service_link: MEMBERSHIP_TERMS, service_unlink: MEMBERSHIP_TERMS, service_lookup: null,
  shelter_check_in: null, shelter_check_out: null, event_attendance: null,
  family_offer: FAMILY_TERMS, family_accept: FAMILY_TERMS, family_withdraw: null, family_whereabouts: null,
  resident_page: null,
} as const satisfies Record<string, PurposeTerms | null>;

export type ChallengePurpose = keyof typeof PURPOSE_TERMS;
export const CHALLENGE_PURPOSES = Object.keys(PURPOSE_TERMS) as ChallengePurpose[];

/** A purpose by name, with its terms (null: none). */
export type PurposeText = readonly [purpose: string, terms: PurposeTerms | null];

/** Today's purposes with their terms, as termsFieldProblem takes them. */
export const PURPOSE_TEXTS: readonly PurposeText[] = Object.entries(PURPOSE_TERMS);

/**
 * Why a challenge request's terms field does not fit its purpose, or undefined: a purpose with
 * terms wants its field, and no field of terms it does not have is taken.
 */
export function termsFieldProblem(purposes: Iterable<PurposeText>, purpose: string, body: Record<string, unknown>): { path: string; message: string } | undefined {
  const all = [...purposes];
  const own = all.find(([name]) => name === purpose)?.[1] ?? null;
  const wrong = all.find(([, terms]) => terms && (terms === own) !== (body[terms.requestField] !== undefined))?.[1];
  if (!wrong) return undefined;
  const names = all.filter(([, terms]) => terms === wrong).map(([name]) => name);
  const whose = names.length === 1 ? `the purpose ${names[0]}, and only for it` : `the purposes ${names.join(', ')}, and only for them`;
  return { path: wrong.requestField, message: `${wrong.requestField} is required for ${whose}` };
}

export interface Challenge {
  id: string;
  deviceId: number;
  purpose: string;
  expiresAt: Date;
}

/** The exact bytes the card signs (as a SHA-256 DigestInfo): the common lines, then the purpose's terms lines. */
export function canonicalChallenge(challenge: Challenge, termLines: readonly string[] = []): Buffer {
  return Buffer.from([
    'MyKey challenge v1',
    `id: ${challenge.id}`,
    `purpose: ${challenge.purpose}`,
    `device: ${challenge.deviceId}`,
    `expires: ${challenge.expiresAt.toISOString()}`,
    ...termLines,
    '',
  ].join('\n'), 'utf8');
}
