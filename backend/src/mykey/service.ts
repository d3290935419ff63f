// Issuing MyKey IDs, resolving a card to its MyKey ID, linking a resident's new card to it
// (renewal) and suspending it. A MyKey ID logs in with one card at a time: linking a new card
// ends the card it had.
import type { Knex } from 'knex';
import type { AuditEvent } from '../audit/chain.ts';
import { appendAudit, eventsAbout } from '../audit/chain.ts';
import { ConcurrentChange, type Db } from '../db.ts';
import { Problem } from '../http/problems.ts';
import { certificateKey, mykeyIdCandidate } from './id.ts';
import type { SignedInStaff } from '../staff/repository.ts';
import { organizationLabel } from '../staff/organization.ts';
import { mykeyRepository as repo, type CardBinding, type CardRecord, type LinkMethod, type MykeyRecord } from './repository.ts';

// At 120 million residents an ID is taken with probability ~0.35 %; 16 taken in a row is
// ~1e-39 (docs/mykey-id.md), so running out means a bug, not bad luck.
const MAX_CANDIDATES = 16;

export interface CardIdentity { issuerDer: Buffer; serialHex: string }

/** What a line of the national linkage file did (see linkage.ts). */
export type LinkageOutcome = 'linked' | 'already_linked' | 'old_unknown' | 'new_already_has_mykey';

/** Where a linkage record came from, for the audit log. */
export interface LinkageSource { file: string; line: number }

/** A MyKey ID as municipal staff see it. */
export interface MykeyView {
  mykeyId: string;
  status: MykeyRecord['status'];
  issuedAt: string;
  suspension: { at: string; reason: string; staff: { id: number | null; name: string | null } } | null;
  cards: Array<{ status: CardRecord['status']; linkMethod: LinkMethod; linkedAt: string; endedAt: string | null }>;
  /** Its audit events, newest first. */
  events: Array<{ seq: number; at: string; action: string; actor: { kind: string; id: string; name: string | null }; details: Record<string, unknown> }>;
}

/**
 * What a linkage record "old card → new card" comes to, from the two cards' bindings:
 * undefined means the new card is to be linked to the old card's MyKey ID.
 */
export function linkageDecision(old: CardBinding | undefined, next: CardBinding | undefined): Exclude<LinkageOutcome, 'linked'> | undefined {
  if (!old) return 'old_unknown';
  if (next) return next.mykeyPk === old.mykeyPk ? 'already_linked' : 'new_already_has_mykey';
  return undefined;
}

const staffActor = (staff: SignedInStaff): AuditEvent['actor'] => ({ kind: 'staff', id: String(staff.id) });

export function mykeyService(db: Db, secret: Buffer) {
  const keyOf = (card: CardIdentity) => certificateKey(secret, card.issuerDer, card.serialHex);

  /** The MyKey ID a card may log in as; a replaced or revoked card, or a suspended ID, may not. */
  function usable(binding: CardBinding): CardBinding {
    if (binding.certificateStatus === 'replaced') throw new Problem('certificate_replaced');
    if (binding.certificateStatus === 'revoked') throw new Problem('certificate_revoked', 'This card was found revoked; its MyKey ID waits for a new card to be linked.');
    if (binding.mykeyStatus === 'suspended') throw new Problem('mykey_suspended');
    return binding;
  }

  async function issue(trx: Knex.Transaction, card: CardIdentity, actor: AuditEvent['actor']): Promise<string> {
    for (let attempt = 0; attempt < MAX_CANDIDATES; attempt++) {
      const mykeyId = mykeyIdCandidate(secret, card.issuerDer, card.serialHex, attempt);
      const mykeyPk = await repo.insertMykey(trx, mykeyId);
      if (mykeyPk === undefined) continue;
      try {
        await repo.linkCertificate(trx, keyOf(card), mykeyPk, 'issued');
      } catch (error) {
        // The same card, issued at this moment through another device: run again to find it.
        if ((error as { code?: string }).code === 'ER_DUP_ENTRY') throw new ConcurrentChange('card issued concurrently');
        throw error;
      }
      await appendAudit(trx, { action: 'mykey.issued', actor, subject: mykeyId, details: { attempt } });
      return mykeyId;
    }
    throw new Error(`no free MyKey ID among ${MAX_CANDIDATES} candidates`);
  }

  /** A locked MyKey ID, or mykey_not_found. */
  async function lockedMykey(trx: Knex.Transaction, mykeyId: string): Promise<MykeyRecord> {
    const mykey = await repo.findMykey(trx, mykeyId, { lock: true });
    if (!mykey) throw new Problem('mykey_not_found');
    return mykey;
  }

  /** Links a card never seen before to a MyKey ID in place of the card it had. */
  async function linkNewCard(trx: Knex.Transaction, mykeyPk: number, newKey: Buffer, method: LinkMethod, now: Date): Promise<void> {
    const existing = await repo.bindingOf(trx, newKey);
    if (existing) {
      throw new Problem('card_already_linked', existing.mykeyPk === mykeyPk
        ? 'The new card is already linked to this MyKey ID.'
        : 'The new card has a MyKey ID of its own; two MyKey IDs cannot be merged here.');
    }
    await repo.replaceActiveCertificates(trx, mykeyPk, now);
    try {
      await repo.linkCertificate(trx, newKey, mykeyPk, method, now);
    } catch (error) {
      // The same new card, linked or issued at this moment elsewhere: run again to see where it went.
      if ((error as { code?: string }).code === 'ER_DUP_ENTRY') throw new ConcurrentChange('card linked concurrently');
      throw error;
    }
  }

  return {
    keyOf,

    /** Logs a card in: its MyKey ID, issued on first use (the same card always gets the same ID). */
    async loginOrIssue(trx: Knex.Transaction, card: CardIdentity, actor: AuditEvent['actor']): Promise<{ mykeyId: string; issued: boolean }> {
      const binding = await repo.bindingOf(trx, keyOf(card));
      if (binding) return { mykeyId: usable(binding).mykeyId, issued: false };
      return { mykeyId: await issue(trx, card, actor), issued: true };
    },

    /**
     * The MyKey ID of a card, if it has one it may use; undefined for a card never seen. With
     * `lock` (a payment), a suspension or relink waits until the caller's transaction ends.
     */
    async usableMykeyOf(conn: Db | Knex.Transaction, certKey: Buffer, { lock = false } = {}): Promise<string | undefined> {
      const binding = await repo.bindingOf(conn, certKey, { lock });
      return binding && usable(binding).mykeyId;
    },

    /** A revoked certificate stops logging in for good; its MyKey ID waits for a relink. */
    async noteRevoked(card: CardIdentity, now: Date): Promise<void> {
      const certKey = keyOf(card);
      await db.transaction(async (trx) => {
        const binding = await repo.bindingOf(trx, certKey);
        if (!binding || binding.certificateStatus !== 'active') return;
        await repo.markRevoked(trx, certKey, now);
        await appendAudit(trx, { action: 'mykey.certificate_revoked', actor: { kind: 'system', id: 'crl' }, subject: binding.mykeyId });
      });
    },

    /**
     * Renewal with both cards: the old card (which must still log in) and the new one signed
     * at the same device. The new card takes the old one's place on its MyKey ID.
     */
    async relinkBothCards(trx: Knex.Transaction, oldKey: Buffer, newKey: Buffer, deviceId: number, now: Date): Promise<string> {
      if (oldKey.equals(newKey)) throw new Problem('card_already_linked', 'Both proofs are of the same card: tap the old card first, then the new one.');
      const old = await repo.bindingOf(trx, oldKey, { lock: true });
      if (!old) throw new Problem('card_not_linked');
      const { mykeyPk, mykeyId } = usable(old);
      await linkNewCard(trx, mykeyPk, newKey, 'both_cards', now);
      await appendAudit(trx, { action: 'mykey.relinked', actor: { kind: 'device', id: String(deviceId) }, subject: mykeyId, details: { method: 'both_cards' } });
      return mykeyId;
    },

    /**
     * Renewal at the counter: staff checked the person's documents, so the old card need not
     * sign (it is usually lost, revoked or expired). A suspended ID stays suspended.
     */
    async relinkAtCounter(trx: Knex.Transaction, mykeyId: string, newKey: Buffer, staff: SignedInStaff, reason: string, now: Date): Promise<void> {
      const mykey = await lockedMykey(trx, mykeyId);
      await linkNewCard(trx, mykey.pk, newKey, 'counter', now);
      await appendAudit(trx, {
        action: 'mykey.relinked', actor: staffActor(staff), subject: mykeyId,
        details: { method: 'counter', organization: organizationLabel(staff.organization) }, texts: { reason },
      });
    },

    /**
     * Renewal from J-LIS's linkage file: the old card's MyKey ID gets the new card, whatever
     * the old card's state (it is usually revoked by then). Re-checked here under lock; the
     * importer's batch look-ups only spare it the transactions for cards that are not ours.
     */
    async linkFromFile(trx: Knex.Transaction, oldKey: Buffer, newKey: Buffer, source: LinkageSource, now: Date): Promise<LinkageOutcome> {
      const old = await repo.bindingOf(trx, oldKey, { lock: true });
      if (!old) return 'old_unknown';
      const decided = linkageDecision(old, await repo.bindingOf(trx, newKey));
      if (decided) return decided;
      await linkNewCard(trx, old.mykeyPk, newKey, 'linkage_file', now);
      await appendAudit(trx, { action: 'mykey.relinked', actor: { kind: 'system', id: 'import' }, subject: old.mykeyId, details: { method: 'linkage_file', ...source } });
      return 'linked';
    },

    async suspend(trx: Knex.Transaction, mykeyId: string, staff: SignedInStaff, reason: string, now: Date): Promise<void> {
      const mykey = await lockedMykey(trx, mykeyId);
      if (mykey.status === 'suspended') throw new Problem('mykey_already_suspended');
      await repo.suspend(trx, mykey.pk, staff.id, reason, now);
      await appendAudit(trx, { action: 'mykey.suspended', actor: staffActor(staff), subject: mykeyId, details: { organization: organizationLabel(staff.organization) }, texts: { reason } });
    },

    async reinstate(trx: Knex.Transaction, mykeyId: string, staff: SignedInStaff, reason: string): Promise<void> {
      const mykey = await lockedMykey(trx, mykeyId);
      if (mykey.status !== 'suspended') throw new Problem('mykey_not_suspended');
      await repo.reinstate(trx, mykey.pk);
      await appendAudit(trx, { action: 'mykey.reinstated', actor: staffActor(staff), subject: mykeyId, details: { organization: organizationLabel(staff.organization) }, texts: { reason } });
    },

    /** Status, suspension, cards and history of a MyKey ID; mykey_not_found if there is none. */
    async view(conn: Db | Knex.Transaction, mykeyId: string): Promise<MykeyView> {
      const mykey = await repo.findMykey(conn, mykeyId);
      if (!mykey) throw new Problem('mykey_not_found');
      const [cards, events] = await Promise.all([repo.certificatesOf(conn, mykey.pk), eventsAbout(conn, mykey.mykeyId)]);
      const { suspension } = mykey;
      return {
        mykeyId: mykey.mykeyId,
        status: mykey.status,
        issuedAt: mykey.issuedAt.toISOString(),
        suspension: suspension && { at: suspension.at.toISOString(), reason: suspension.reason, staff: { id: suspension.staffId, name: suspension.staffName } },
        cards: cards.map((card) => ({ status: card.status, linkMethod: card.linkMethod, linkedAt: card.linkedAt.toISOString(), endedAt: card.endedAt?.toISOString() ?? null })),
        events: events.map(({ seq, occurredAt, action, actor, details }) => ({ seq, at: occurredAt.toISOString(), action, actor, details })),
      };
    },
  };
}

export type MykeyService = ReturnType<typeof mykeyService>;
