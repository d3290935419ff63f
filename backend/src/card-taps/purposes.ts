// The purposes a card is tapped for, each registered by the feature it serves (app.ts, one line
// each): how the card must prove itself, which devices may ask, what its card signs, and what
// happens with the verified card. The card-tap service knows no purpose by name.
import type { Knex } from 'knex';
import type { PurposeTerms, PurposeText } from '@mykey/contracts/challenge-text.ts';
import type { Db } from '../db.ts';
import type { EnrolledDevice } from '../devices/repository.ts';
import { Problem, type ProblemCode } from '../http/problems.ts';
import type { OrganizationKind } from '@mykey/contracts/staff.ts';
import type { StoredChallenge } from './repository.ts';

/** `pin`: the card signs a challenge after its PIN. `tap`: the device reports the certificate it read, without a PIN. */
export type ProofKind = 'pin' | 'tap';

/** A card whose certificate was accepted under the trust anchors (and, for a PIN proof, whose key signed). */
export interface VerifiedCard {
  issuerDer: Buffer;
  serialHex: string;
  /** The card's keyed hash, as MyKey IDs and challenges know it. */
  certKey: Buffer;
  revocationChecked: boolean;
  proof: ProofKind;
}

/** What a purpose's handler gets: the card, at which device, when, and the terms it was asked for. */
export interface Tap<Terms extends object = object> {
  card: VerifiedCard;
  device: EnrolledDevice;
  now: Date;
  /** The terms bound for this tap (those the card signed, for a PIN proof); undefined for a purpose without terms. */
  terms: Terms | undefined;
  /** The challenge the card signed; undefined for a tap. */
  challenge: StoredChallenge | undefined;
}

/** What a planned purpose's reads decided: the answer, and the rows the tap commits (none when it only answers). */
export interface TapPlan<Rows = unknown> { answer: object; rows: Rows | undefined }

/**
 * A purpose whose effect is decided by reads and is at most rows to insert (a look-up's use, a
 * known card's login). A tap or card session plans outside any transaction, and its rows and
 * signed challenge commit together with other calls' (group commit). A plan may refuse (throw):
 * the call then runs the purpose's handler alone, in its own transaction, which refuses it in
 * its own words or does what the plan cannot (a card's first login issues its MyKey ID).
 */
export interface Planned<Rows = unknown, Terms extends object = object> {
  plan(conn: Db | Knex.Transaction, tap: Tap<Terms>): Promise<TapPlan<Rows>>;
  /** The rows of several taps, in one transaction; a purpose that only answers has none. */
  insert?(trx: Knex.Transaction, rows: Rows[]): Promise<void>;
}

export interface Purpose<Terms extends object = object> {
  readonly name: string;
  readonly proofs: readonly ProofKind[];
  /** The kinds of organization whose devices may ask. */
  readonly deviceKinds: readonly OrganizationKind[];
  /** What another device gets: purpose_not_for_device unless the purpose says otherwise (payment: its intent is unknown there). */
  readonly deviceRefusal?: ProblemCode;
  /** A value-moving purpose is refused under `fail-closed` when revocation cannot be checked. */
  readonly valueMoving: boolean;
  /**
   * The purpose's terms: their text (the shared contract) and how they are bound for this device
   * now. Binding only reads: a challenge's terms are bound before the transaction that stores it
   * (the effect checks them again under its locks when the card has signed).
   */
  readonly terms?: { text: PurposeTerms<Terms>; bind(conn: Db | Knex.Transaction, device: EnrolledDevice, requested: string, now: Date): Promise<Terms> };
  /**
   * Its PIN-less taps are taken when the card's revocation cannot be checked (the answer then says
   * revocationChecked: false): only for a purpose that moves nothing and must keep no one out
   * when the revocation list is out of date (a shelter's check-in in a disaster).
   */
  readonly tapsWithoutRevocation?: boolean;
  /**
   * Its PIN-less taps may come late from a device's journal (a shelter's check-in while the
   * network was down), recorded at the time the card was tapped. Only for a purpose without terms.
   */
  readonly journaled?: boolean;
  /** A signed challenge kept as the proof of a card for a later call (a relink) is left unused; any other is used up as it is signed. */
  readonly keepsProof?: boolean;
  /** Runs in the card session's transaction with the verified card; what it answers joins the common answer fields. */
  handle(trx: Knex.Transaction, tap: Tap<Terms>): Promise<object>;
  /** Set when the effect can be planned (Planned); handle must then do what plan and insert do, in the caller's transaction. */
  readonly planned?: Planned<unknown, Terms>;
}

/** A purpose whose handler is its plan and the plan's rows, in the caller's transaction. */
export function plannedPurpose<Rows, Terms extends object = object>(purpose: Omit<Purpose<Terms>, 'handle' | 'planned'>, planned: Planned<Rows, Terms>): Purpose<Terms> {
  return {
    ...purpose,
    planned: planned as Planned<unknown, Terms>,
    async handle(trx, tap) {
      const { answer, rows } = await planned.plan(trx, tap);
      if (rows !== undefined) await planned.insert?.(trx, [rows]);
      return answer;
    },
  };
}

/** The purposes of one app, by name. */
export class PurposeRegistry {
  private readonly byName = new Map<string, Purpose>();

  constructor(purposes: Iterable<Purpose>) {
    for (const purpose of purposes) {
      if (this.byName.has(purpose.name)) throw new Error(`the card-tap purpose ${purpose.name} is registered twice`);
      if (purpose.journaled && (purpose.terms || !purpose.proofs.includes('tap'))) throw new Error(`the card-tap purpose ${purpose.name} is journaled: it must take a tap and have no terms`);
      if (purpose.tapsWithoutRevocation && purpose.valueMoving) throw new Error(`the card-tap purpose ${purpose.name} moves value: its taps need the card's revocation checked`);
      this.byName.set(purpose.name, purpose);
    }
  }

  get names(): string[] {
    return [...this.byName.keys()];
  }

  /** Each purpose's name with its terms' text, for the request's checks (termsFieldProblem). */
  get texts(): PurposeText[] {
    return [...this.byName.values()].map((purpose) => [purpose.name, purpose.terms?.text ?? null]);
  }

  /** The registered purpose `name`, if `device` may ask for it with this proof. */
  allowed(name: string, device: EnrolledDevice, proof: ProofKind): Purpose {
    const purpose = this.byName.get(name);
    if (!purpose) throw new Problem('request_invalid', `purpose ${name} is not one of ${this.names.join(', ')}`);
    if (!purpose.deviceKinds.includes(device.organization.kind)) throw new Problem(purpose.deviceRefusal ?? 'purpose_not_for_device');
    if (!purpose.proofs.includes(proof)) throw new Problem(proof === 'tap' ? 'card_tap_not_allowed' : 'card_pin_not_allowed');
    return purpose;
  }

  /** The purpose a stored challenge was made for; one no longer registered is as good as unknown. */
  of(challenge: StoredChallenge): Purpose {
    const purpose = this.byName.get(challenge.purpose);
    if (!purpose) throw new Problem('challenge_unknown');
    return purpose;
  }
}

/** The lines of a purpose's terms in the text its card signs. */
export const termLines = (purpose: Purpose, terms: object | null | undefined): string[] => (purpose.terms && terms ? purpose.terms.text.lines(terms) : []);
