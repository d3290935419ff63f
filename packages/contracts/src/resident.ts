// The resident's own page (わたしのページ, docs/resident.md): what the backend answers a resident
// whose card opened it, and the console shows. Free of server imports.
import type { Messages } from './problem-kinds.ts';
import type { StaffRole } from './staff.ts';

/** Lots whose last day is within this many days are called out on the page. */
export const EXPIRING_SOON_DAYS = 30;
/** The history's movements a page. */
export const HISTORY_PAGE_SIZE = 20;

/** The resident's session, as POST /resident/sessions and GET /resident/session answer it. */
export interface ResidentSessionView {
  /** The town whose device opened the page. */
  municipality: { code: string; name: Messages };
  /** How long the page stays open without use. */
  idleSeconds: number;
  /** How long it has left now, unless it is used again (never past its limit). */
  closesInSeconds: number;
  /** How long until it closes however it is used (RESIDENT_SESSION_LIMIT_MS after it opened). */
  limitInSeconds: number;
}

export interface ResidentBalance { municipality: { code: string; name: Messages }; points: number }

/** A lot: points that arrived together and expire together. */
export interface ResidentLot {
  municipalityCode: string;
  /** conversion: converted from a partner (or its premium); grant: granted by the town or for an event. */
  arrivedBy: 'conversion' | 'grant';
  points: number;
  originalPoints: number;
  /** The last Japanese calendar day the points can be spent. */
  lastDay: string;
  expiresAt: string;
  expiringSoon: boolean;
}

export interface ResidentPoints { balances: ResidentBalance[]; lots: ResidentLot[]; expiringSoonDays: number }

export type MovementKind = 'conversion' | 'grant' | 'payment' | 'refund' | 'void' | 'expiry';

/** A movement of the resident's points, with its reason in words. */
export interface ResidentMovement { at: string; municipalityCode: string; kind: MovementKind; points: number; reason: Messages }

export interface ResidentHistory { page: number; pageSize: number; total: number; movements: ResidentMovement[] }

/** The looks and actions of staff on the resident's record, a page. */
export const RECORD_VIEWS_PAGE_SIZE = 20;

/**
 * Staff of a town looked at the resident's record, or did something to it (docs/resident.md,
 * "Who looked at my record"): which town, in which roles, when and what, never who.
 */
export interface RecordView {
  at: string;
  /** The town of the staff member's organization. */
  municipality: { code: string; name: Messages };
  /** The staff member's roles when they looked or acted. */
  roles: StaffRole[];
  /** A look changes nothing; otherwise something was done to the record. */
  look: boolean;
  what: Messages;
}

export interface ResidentRecordViews { page: number; pageSize: number; total: number; views: RecordView[] }
