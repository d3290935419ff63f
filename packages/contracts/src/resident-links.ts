// What is linked to the resident's card, on their own page (わたしのページ, docs/resident.md): the
// memberships of town services, the family consents for shelters, and the home municipality.
// What the backend answers and the console shows; free of server imports.
import type { Messages } from './problem-kinds.ts';

/** A membership linked to the card: the service and its town, the resident's own member number, since when. */
export interface ResidentMembership {
  id: number;
  service: { nameJa: string; nameEn: string };
  municipality: { code: string; name: Messages };
  memberNumber: string;
  linkedAt: string;
}

/** A family consent in force: the label the other resident chose for themself, the resident's own, since when. */
export interface ResidentFamilyConsent { id: number; theirLabel: string; myLabel: string; since: string }

/** An offer of the resident's still waiting for their family member to accept its code. */
export interface ResidentFamilyOffer { id: number; code: string; myLabel: string; acceptBy: string }

export interface ResidentFamily { consents: ResidentFamilyConsent[]; offers: ResidentFamilyOffer[] }

/** The MyKey ID's home municipality; whether it can move to the town of the kiosk the page was opened at. */
export interface ResidentHome { municipality: { code: string; name: Messages }; movableHere: boolean }

/** GET /api/v1/resident/links. */
export interface ResidentLinks { memberships: ResidentMembership[]; family: ResidentFamily; home: ResidentHome }
