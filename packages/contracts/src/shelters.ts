// Evacuation shelters (避難所) and the check-ins residents tap at their devices, as the backend
// answers and the console and the reader agent read them (docs/shelters.md).
import type { Messages } from './problem-kinds.ts';

/** The longest name of a shelter, in either language, and of its place. */
export const SHELTER_NAME_MAX = 100;
export const SHELTER_PLACE_MAX = 200;
/** The most people a shelter may be opened for: beyond any real shelter, below a typo's zeros. */
export const SHELTER_CAPACITY_MAX = 100_000;

export interface ShelterNames { id: number; nameJa: string; nameEn: string }

export interface ShelterView extends ShelterNames {
  place: string;
  capacity: number;
  /** A drill (訓練), not a disaster. */
  drill: boolean;
  /** The devices serving it (docs/shelters.md: a device serves one thing at a time). */
  deviceIds: number[];
  openedAt: string;
  /** Null while open. */
  closedAt: string | null;
}

/** A person inside, as the shelter's staff see them: by MyKey ID (docs/shelters.md says why). */
export interface RosterEntry { mykeyId: string; since: string; deviceId: number }

export interface ShelterRoster {
  shelter: ShelterView;
  inside: number;
  capacity: number;
  people: RosterEntry[];
}

/** A line of the headquarters view: one open shelter. */
export interface ShelterSummaryLine {
  shelter: ShelterNames & { place: string; drill: boolean };
  inside: number;
  capacity: number;
  /** The latest check-in or check-out, or the opening. */
  lastChangeAt: string;
}

export interface ShelterSummary { at: string; shelters: ShelterSummaryLine[] }

/** What a check-in or check-out tap answers, with the messages for the screen. */
export interface ShelterTapAnswer {
  purpose: 'shelter_check_in' | 'shelter_check_out';
  shelter: ShelterNames;
  /** check_in: inside now, or already inside (no second record); check_out: out now. */
  result: 'checked_in' | 'already_inside' | 'checked_out';
  /** When the stay began. */
  since: string;
  /** check_out: when it ended. */
  outAt?: string;
  /** check_in: the resident was inside another shelter and is checked out of it now. */
  moved?: boolean;
  inside: number;
  capacity: number;
  messages: Messages;
}
