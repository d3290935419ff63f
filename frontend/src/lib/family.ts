// Families find each other (docs/family.md), as the console reads it: the request a counter's
// device opened (through the reader agent: staff have no family route), the text the card will
// sign, and the answers the agent passes on — consent given, withdrawn, and where the resident's
// consented family are (at a shelter's desk, after a check-in or a whereabouts tap).
import type { FamilyAcceptAnswer, FamilyInside, FamilyOfferAnswer, FamilyRequestView, FamilyWhereabouts, FamilyWithdrawAnswer } from '@mykey/contracts/family.ts';
import { isRecord } from './api.ts';

export type { FamilyAcceptAnswer, FamilyInside, FamilyOfferAnswer, FamilyRequestView, FamilyWhereabouts, FamilyWithdrawAnswer };
// familyConsentLines: the lines the card will sign beyond the common ones, the same the agent checks.
export { FAMILY_CODE, FAMILY_LABEL, FAMILY_LABEL_MAX, familyConsentLines, normalizeFamilyCode } from '@mykey/contracts/family.ts';

const isString = (value: unknown): value is string => typeof value === 'string';
const isCount = (value: unknown): value is number => typeof value === 'number' && Number.isSafeInteger(value) && value >= 0;
const isMessages = (value: unknown) => isRecord(value) && isString(value.ja) && isString(value.en);

/** The request the device opened, or null when the agent passed on something else. */
export function parseFamilyRequest(body: unknown): FamilyRequestView | null {
  if (!isRecord(body) || (body.action !== 'offer' && body.action !== 'accept')) return null;
  const ok = isString(body.requestId) && isString(body.code) && isString(body.label) && isString(body.expiresAt)
    && (body.action === 'offer' ? body.offererLabel === null : isString(body.offererLabel));
  return ok ? (body as unknown as FamilyRequestView) : null;
}

function isInside(value: unknown): value is FamilyInside {
  return isRecord(value) && isString(value.label) && isString(value.since) && isRecord(value.shelter)
    && isString(value.shelter.nameJa) && isString(value.shelter.nameEn) && isString(value.shelter.place);
}

/** Where the resident's consented family are, as an answer carries it under `family`; null when it does not. */
export function familyOf(body: unknown): FamilyWhereabouts | null {
  const family = isRecord(body) ? body.family : undefined;
  return isRecord(family) && isCount(family.linked) && Array.isArray(family.inside) && family.inside.every(isInside) && isMessages(family.messages)
    ? (family as unknown as FamilyWhereabouts) : null;
}

export function parseOffered(body: unknown): FamilyOfferAnswer | null {
  return isRecord(body) && body.purpose === 'family_offer' && isString(body.code) && isString(body.label) && isString(body.acceptBy) && isMessages(body.messages)
    ? (body as unknown as FamilyOfferAnswer) : null;
}

export function parseAccepted(body: unknown): FamilyAcceptAnswer | null {
  return isRecord(body) && body.purpose === 'family_accept' && isString(body.offererLabel) && isString(body.label) && familyOf(body) !== null && isMessages(body.messages)
    ? (body as unknown as FamilyAcceptAnswer) : null;
}

export function parseWithdrawn(body: unknown): FamilyWithdrawAnswer | null {
  return isRecord(body) && body.purpose === 'family_withdraw' && isCount(body.ended) && isMessages(body.messages) ? (body as unknown as FamilyWithdrawAnswer) : null;
}

/** A whereabouts tap's answer: the family, or null. */
export function parseWhereabouts(body: unknown): FamilyWhereabouts | null {
  return isRecord(body) && body.purpose === 'family_whereabouts' ? familyOf(body) : null;
}
