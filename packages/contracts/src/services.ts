// A municipality's services (library, sports facility, bicycle parking …) and the memberships
// residents link to their MyKey ID, as the backend answers and the console and counters read them.

export const SERVICE_KINDS = ['library', 'museum', 'sports_facility', 'bicycle_parking', 'lecture_course', 'community_centre', 'other'] as const;
export type ServiceKind = (typeof SERVICE_KINDS)[number];

/** `pin`: the card signs with its PIN at every tap. `tap`: lookups and check-ins may go without the PIN (never a link or an unlink). */
export const TAP_POLICIES = ['pin', 'tap'] as const;
export type TapPolicy = (typeof TAP_POLICIES)[number];

/** The longest name of a service, in either language. */
export const SERVICE_NAME_MAX = 100;

/**
 * A member number as the service's own cards carry it (a library card's L0012345): letters,
 * digits and hyphens, at most 32, starting with a letter or digit, after normalizeMemberNumber.
 */
export const MEMBER_NUMBER = /^[0-9A-Z][0-9A-Z-]{0,31}$/;

/** The spelling a member number is stored and compared in: full-width and lower-case typing, or a scanner's spaces, give the same number. */
export function normalizeMemberNumber(typed: string): string {
  return typed.slice(0, 64).normalize('NFKC').trim().toUpperCase();
}

/** A service's name as every screen shows it: no line breaks or control characters (it is part of the text a card signs). */
export const SERVICE_NAME = /^[^\p{Cc}\p{Zl}\p{Zp}]+$/u;

export interface ServiceView {
  id: number;
  kind: ServiceKind;
  nameJa: string;
  nameEn: string;
  tapPolicy: TapPolicy;
  /** The devices (counters, gates) that serve it. */
  deviceIds: number[];
  createdAt: string;
  /** Where tap events go to the service's own system; null: nowhere (docs/services-integration.md). */
  webhookUrl: string | null;
  /** When the service's API secret was issued (never the secret itself); null: it has none. */
  apiSecretIssuedAt: string | null;
}

/** The service's API secret as issued: shown once, to hand to the service's own system. */
export interface ServiceApiSecret {
  /** What the service's system sends as X-MyKey-Partner, and receives in our webhooks. */
  keyId: string;
  apiSecret: string;
  issuedAt: string;
}

/** What the service API answers for the last tap at a counter (docs/services-integration.md). */
export interface LastTapView {
  memberNumber: string;
  pseudonym: string;
  usedAt: string;
  device: { id: number };
}

export type MembershipAction = 'link' | 'unlink';

/** What the console shows the resident before the card signs: exactly what will be linked or unlinked. */
export interface MembershipRequestView {
  requestId: string;
  action: MembershipAction;
  service: { id: number; nameJa: string; nameEn: string };
  memberNumber: string;
  expiresAt: string;
}

/** A linked membership as the service's staff see it: the service's pseudonym of the resident, never the MyKey ID. */
export interface MembershipView {
  id: number;
  serviceId: number;
  memberNumber: string;
  /** The resident as this service alone knows them (docs/services.md#pseudonyms). */
  pseudonym: string;
  linkedAt: string;
}

/** What a tap at a service's counter or gate answers. */
export type ServiceTapAnswer =
  | { purpose: 'service_lookup'; linked: true; service: { id: number; nameJa: string; nameEn: string }; memberNumber: string; pseudonym: string; usedAt: string }
  | { purpose: 'service_lookup'; linked: false; service: { id: number; nameJa: string; nameEn: string }; messages: { ja: string; en: string } };
