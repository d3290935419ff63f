// What the backend answers about a MyKey ID (backend/src/mykey/), as the municipality console
// shows it: the ID, its cards and its history.

export type MykeyStatus = 'active' | 'suspended';
export type CardStatus = 'active' | 'replaced' | 'revoked';
export type LinkMethod = 'issued' | 'both_cards' | 'linkage_file' | 'counter';

export interface MykeyCard { status: CardStatus; linkMethod: LinkMethod; linkedAt: string; endedAt: string | null }

/** An audit event about the ID. */
export interface MykeyEvent {
  seq: number;
  at: string;
  action: string;
  actor: { kind: string; id: string; name: string | null };
  details: Record<string, unknown>;
}

/** A town's block of the ID from its own services. */
export interface TownBlockView { at: string; reason: string; staff: { id: number; name: string | null } }

/** A MyKey ID as its home town's staff see it: the whole record. */
export interface MykeyView {
  mykeyId: string;
  status: MykeyStatus;
  issuedAt: string;
  homeMunicipalityCode: string;
  suspension: { at: string; reason: string; staff: { id: number | null; name: string | null } } | null;
  /** The home town's own block of the ID from its services, if any. */
  townBlock: TownBlockView | null;
  cards: MykeyCard[];
  /** Its audit events the home town may see, newest first. */
  events: MykeyEvent[];
}

/** A MyKey ID as any town's staff see it: only what concerns that town's services. */
export interface TownMykeyView {
  mykeyId: string;
  municipalityCode: string;
  townBlock: TownBlockView | null;
  /** The town's own events about the ID, newest first. */
  events: MykeyEvent[];
}
