// Families find each other (家族の避難先確認): two residents consent, each with card and PIN, to
// learn which shelter the other checked into (docs/family.md). What the backend answers and the
// reader agent shows. Free of server imports: challenge-text.ts builds the signed text from it.
import type { Messages } from './problem-kinds.ts';
import type { ShelterNames, ShelterTapAnswer } from './shelters.ts';

/** A family request's id: `fr_` and 16 random bytes in base64url. */
export const FAMILY_REQUEST_ID = /^fr_[A-Za-z0-9_-]{22}$/;
/** The code an offer is accepted by: 8 letters and digits that cannot be misread (no 0/O, 1/I/L). */
export const FAMILY_CODE_ALPHABET = 'ABCDEFGHJKMNPQRSTUVWXYZ23456789';
export const FAMILY_CODE = /^[ABCDEFGHJKMNPQRSTUVWXYZ2-9]{8}$/;
/** The code as the family member read it out, in FAMILY_CODE's spelling: spaces, hyphens and lower case forgiven. */
export const normalizeFamilyCode = (typed: string) => typed.replace(/[\s-]/g, '').toUpperCase();
/** The label a resident chooses for themself, as their family will see it: one line, 1 to 30 characters, no controls. */
export const FAMILY_LABEL_MAX = 30;
export const FAMILY_LABEL = /^[^\p{Cc}\p{Cf}\p{Zl}\p{Zp}]{1,30}$/u;

/**
 * What a family consent binds the card's signature to. An offer: this request, the code the other
 * will type, the label the resident chose for themself. An acceptance: this request, the code
 * typed, the label the offerer chose (who the resident consents to) and their own.
 */
export interface FamilyTerms { requestId: string; action: 'offer' | 'accept'; code: string; label: string; offererLabel: string | null }

/**
 * The lines the card signs after the common ones (FAMILY_TERMS in challenge-text.ts): what it
 * consents to, in words, with the code and labels the resident was shown. Here, free of Node,
 * so that the counter's screen shows the resident these very lines before the PIN.
 */
export function familyConsentLines(terms: FamilyTerms): string[] {
  return terms.action === 'offer'
    ? [`family-request: ${terms.requestId}`, `family-offer: the holder of the card that accepts code ${terms.code} may learn which shelter I check into, and I theirs`, `family-my-label: ${terms.label}`]
    : [`family-request: ${terms.requestId}`, `family-accept: ${terms.offererLabel} (code ${terms.code}) may learn which shelter I check into, and I theirs`, `family-my-label: ${terms.label}`];
}

/** What a counter device asks before the card signs: an offer under my label, or an acceptance of a code under my label. */
export type FamilyRequest = { action: 'offer'; label: string } | { action: 'accept'; code: string; label: string };

/** The request as the counter shows it to the resident before the PIN. */
export interface FamilyRequestView {
  requestId: string;
  action: 'offer' | 'accept';
  /** offer: the code the family member types at their counter; accept: the code typed. */
  code: string;
  label: string;
  /** accept: the label the offerer chose, whom the resident consents to. */
  offererLabel: string | null;
  expiresAt: string;
}

/** A consented family member inside a shelter now, as the resident sees them: the label they chose, never a MyKey ID. */
export interface FamilyInside { label: string; shelter: ShelterNames & { place: string }; since: string }

/** What a resident learns of their consented family: how many consented, who of them is inside a shelter now, and the screen's words for it. */
export interface FamilyWhereabouts { linked: number; inside: FamilyInside[]; messages: Messages }

/** The answers of the family purposes (the shelter check-in answer carries `family` too: ShelterCheckInAnswer). */
export interface FamilyOfferAnswer { purpose: 'family_offer'; code: string; label: string; acceptBy: string; messages: Messages }
export interface FamilyAcceptAnswer { purpose: 'family_accept'; offererLabel: string; label: string; linkedAt: string; family: FamilyWhereabouts; messages: Messages }
export interface FamilyWithdrawAnswer { purpose: 'family_withdraw'; ended: number; messages: Messages }
export interface FamilyWhereaboutsAnswer { purpose: 'family_whereabouts'; shelter: ShelterNames; family: FamilyWhereabouts; messages: Messages }

/** The check-in's answer (shelters.ts) with where the resident's consented family are. */
export type ShelterCheckInAnswer = ShelterTapAnswer & { family: FamilyWhereabouts };
