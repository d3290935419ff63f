// From a tap to a verified card: the challenge for a purpose, the card's PIN-signed proof of
// it, or a PIN-less tap an enrolled device reports; the card verified, it goes to the
// purpose's handler (purposes.ts) in the caller's transaction.
import { createHash, verify } from 'node:crypto';
import type { Knex } from 'knex';
import { canonicalChallenge } from '@mykey/contracts/challenge-text.ts';
import { JOURNAL_CLOCK_SKEW_MS, JOURNAL_MAX_AGE_DAYS, journalEntryText } from '@mykey/contracts/tap-journal.ts';
import { journalKeyOf } from '../devices/service.ts';
import { Problem } from '../http/problems.ts';
import type { EnrolledDevice } from '../devices/repository.ts';
import { RevokedCard, verifyCardProof, verifyTappedCertificate, type CardIdentity } from '../jpki/card-proof.ts';
import type { AcceptedCertificate } from '../jpki/certificates.ts';
import type { CertificateVerifier } from '../jpki/verifier.ts';
import { challengeRepository, newChallenge, type NewChallenge, type SignedChallenge, type StoredChallenge } from './repository.ts';
import { termLines, type Planned, type ProofKind, type Purpose, type PurposeRegistry, type Tap, type VerifiedCard } from './purposes.ts';
import type { Db } from '../db.ts';
import { groupCommitter, runIdempotent, type Answer, type GroupCommitter, type IdempotentCall } from '../http/idempotency.ts';
import type { Logger } from '../log.ts';

export interface CardTapsDeps {
  db: Db;
  verifier: CertificateVerifier;
  purposes: PurposeRegistry;
  /** The card's keyed hash, as MyKey IDs know it (mykey's secret stays with mykey). */
  cardKey(card: CardIdentity): Buffer;
  /** Told of a card (by its keyed hash) refused as revoked, so that what it is linked to stops using it. */
  noteRevoked(certKey: Buffer, now: Date): Promise<void>;
  log: Logger;
}

/** What a planned tap commits: its purpose's rows (none when it only answers), and for a card session the challenge its card signed. */
interface PlannedRows { rows: unknown; signed: SignedChallenge | undefined }

/** A card verified for a purpose, ready for its handler. */
export interface VerifiedTap { purpose: Purpose; card: VerifiedCard; challenge?: StoredChallenge }

/** What a device receives: the challenge, the bytes its card must sign, and the purpose's terms again as fields. */
function challengeAnswer(purpose: Purpose, challenge: StoredChallenge) {
  return {
    challengeId: challenge.id,
    purpose: challenge.purpose,
    expiresAt: challenge.expiresAt.toISOString(),
    challenge: canonicalChallenge(challenge, termLines(purpose, challenge.terms)).toString('base64'),
    // For the agent to rebuild the text from, and to show (payment: the amount).
    ...(purpose.terms && challenge.terms ? { [purpose.terms.text.answerField]: challenge.terms } : {}),
  };
}

/**
 * The one service built over collaborators rather than plain functions: app.ts hands it the
 * registry of purposes and mykey's card key and revocation note, which card-taps cannot import
 * (mykey and payments build on card-taps).
 */
export function cardTapsService({ db, verifier, purposes, cardKey, noteRevoked, log }: CardTapsDeps) {
  /** The verification's verdict; a revoked card is noted on the way out. */
  async function verifiedCard(verifying: Promise<AcceptedCertificate>, proof: ProofKind, now: Date): Promise<VerifiedCard> {
    const accepted = await verifying.catch(async (error: unknown) => {
      if (error instanceof RevokedCard) await noteRevoked(cardKey(error), now);
      throw error;
    });
    const card = { issuerDer: accepted.issuerDer, serialHex: accepted.serialHex };
    return { ...card, certKey: cardKey(card), revocationChecked: accepted.revocationChecked, proof };
  }

  /** The terms `requested` names, bound for this device now (reads only); none for a purpose without terms. */
  const bindTerms = (conn: Db | Knex.Transaction, purpose: Purpose, device: EnrolledDevice, requested: string | undefined, now: Date) =>
    (purpose.terms && requested !== undefined ? purpose.terms.bind(conn, device, requested, now) : Promise.resolve(undefined));

  /** A challenge for `purposeName` as this device may ask for it, its terms bound, and the device's answer; not stored yet. */
  async function challengeFor(conn: Db | Knex.Transaction, device: EnrolledDevice, purposeName: string, requested: string | undefined, now: Date) {
    const purpose = purposes.allowed(purposeName, device, 'pin');
    const made = newChallenge(device.id, purpose.name, now, (await bindTerms(conn, purpose, device, requested, now)) ?? null);
    return { made, answer: { status: 201, body: challengeAnswer(purpose, made.challenge) } };
  }

  /** Challenges asked for at once are stored together, with their answers (group commit). */
  const challenges = groupCommitter<NewChallenge>(db, (trx, made) => challengeRepository.insert(trx, made),
    (error, calls) => log.info({ err: error, calls }, 'a group of challenges committed nothing; each runs alone'));

  /**
   * Hands a verified card to its purpose, in the caller's transaction: a signed challenge is
   * marked signed first (used up, unless the purpose keeps it as a proof for a later call).
   */
  async function settle(trx: Knex.Transaction, device: EnrolledDevice, { purpose, card, challenge }: VerifiedTap, requested: string | undefined, now: Date): Promise<object> {
    if (challenge) await challengeRepository.markSigned(trx, challenge, card.certKey, now, { consume: !purpose.keepsProof });
    const terms = challenge ? challenge.terms ?? undefined : await bindTerms(trx, purpose, device, requested, now);
    return purpose.handle(trx, { card, device, now, terms, challenge });
  }

  /** One group committer per planned purpose, made at its first tap: the signed challenges of its card sessions, then its rows. */
  const committers = new Map<Purpose, GroupCommitter<PlannedRows>>();
  const committerOf = (purpose: Purpose, planned: Planned): GroupCommitter<PlannedRows> => {
    let committer = committers.get(purpose);
    if (!committer) {
      committer = groupCommitter<PlannedRows>(db, async (trx, group) => {
        const signed = group.flatMap(({ signed: one }) => (one ? [one] : []));
        if (signed.length > 0) await challengeRepository.markManySigned(trx, signed);
        const some = group.flatMap(({ rows }) => (rows === undefined ? [] : [rows]));
        if (some.length > 0) await planned.insert!(trx, some);
      }, (error, calls) => log.info({ err: error, purpose: purpose.name, calls }, 'a group of taps committed nothing; each runs alone'));
      committers.set(purpose, committer);
    }
    return committer;
  };

  /**
   * `tap` answered once under `call`: a planned purpose's reads decide the answer outside any
   * transaction, and what it commits goes with other taps' (group commit); a purpose without a
   * plan, a plan that refuses, or a group that fails runs `alone`, which replays, refuses or runs
   * it as for any call.
   */
  async function planOrAlone(call: IdempotentCall, purpose: Purpose, tap: Tap, common: object, alone: () => Promise<Answer & { replayed: boolean }>) {
    const { planned } = purpose;
    const plan = planned && await planned.plan(db, tap).catch(() => undefined);
    if (!planned || !plan) return alone();
    const answer = { status: 201, body: { ...common, ...plan.answer } };
    const signed = tap.challenge && { id: tap.challenge.id, certKey: tap.card.certKey, at: tap.now };
    return (await committerOf(purpose, planned).commit({ ...call, answer, rows: { rows: plan.rows, signed } })) ? { ...answer, replayed: false } : alone();
  }

  return {
    /**
     * A challenge for `purposeName`, bound to this device and to the terms `requested` names,
     * answered once under `call`. Its purpose and terms are read before any transaction, and it
     * is stored with the challenges other devices asked for meanwhile; a call whose reads refuse
     * it, or whose group fails, runs alone as any call (a replay answered, a refusal thrown).
     */
    async challenge(call: IdempotentCall, device: EnrolledDevice, purposeName: string, requested: string | undefined, now: Date): Promise<Answer & { replayed: boolean }> {
      const alone = () => runIdempotent(db, call, async (trx) => {
        const { made, answer } = await challengeFor(trx, device, purposeName, requested, now);
        await challengeRepository.insert(trx, [made]);
        return answer;
      });
      const planned = await challengeFor(db, device, purposeName, requested, now).catch(() => undefined);
      if (!planned) return alone();
      return (await challenges.commit({ ...call, answer: planned.answer, rows: planned.made })) ? { ...planned.answer, replayed: false } : alone();
    },

    /** The card that signed this device's challenge `challengeId` with its PIN, checked outside any transaction. */
    async verifyProof(device: EnrolledDevice, proof: { challengeId: string; certificate: Buffer; signature: Buffer }, now: Date): Promise<VerifiedTap & { challenge: StoredChallenge }> {
      const challenge = await challengeRepository.find(db, proof.challengeId, device.id);
      const purpose = purposes.of(challenge);
      const text = canonicalChallenge(challenge, termLines(purpose, challenge.terms));
      const card = await verifiedCard(verifyCardProof(verifier, text, proof.certificate, proof.signature, { valueMoving: purpose.valueMoving, now }), 'pin', now);
      return { purpose, card, challenge };
    },

    /**
     * When a tap sent from the device's journal was made: its entry signed by the device's
     * registered journal key, for a purpose that takes journaled taps, at most
     * JOURNAL_MAX_AGE_DAYS ago and not in the future (the PC's clock a few minutes off at most).
     */
    async journaledAt(device: EnrolledDevice, purposeName: string, certificate: Buffer, entry: { id: string; tappedAt: string; signature: Buffer }, now: Date): Promise<Date> {
      const purpose = purposes.allowed(purposeName, device, 'tap');
      if (!purpose.journaled) throw new Problem('journal_not_allowed');
      const text = journalEntryText({ deviceId: device.id, id: entry.id, purpose: purpose.name, tappedAt: entry.tappedAt, certificateSha256: createHash('sha256').update(certificate).digest('hex') });
      if (!verify(null, text, await journalKeyOf(db, device.id), entry.signature)) throw new Problem('journal_signature_invalid');
      const tappedAt = new Date(entry.tappedAt);
      const oldest = now.getTime() - JOURNAL_MAX_AGE_DAYS * 86_400_000;
      if (tappedAt.getTime() < oldest || tappedAt.getTime() > now.getTime() + JOURNAL_CLOCK_SKEW_MS) throw new Problem('journal_entry_out_of_time');
      return tappedAt;
    },

    /** The card whose certificate this device read without a PIN, for a purpose that takes a tap. */
    async verifyTap(device: EnrolledDevice, purposeName: string, certificate: Buffer, now: Date): Promise<VerifiedTap> {
      const purpose = purposes.allowed(purposeName, device, 'tap');
      const verifying = verifyTappedCertificate(verifier, certificate, now, { revocationRequired: !purpose.tapsWithoutRevocation });
      return { purpose, card: await verifiedCard(verifying, 'tap', now) };
    },

    /**
     * A card session answered once under `call`: a planned purpose's (a known card's login, a
     * look-up) commits its signed challenge, used up, with other sessions' (group commit); any
     * other runs alone in its own transaction (settle).
     */
    async settleProof(call: IdempotentCall, device: EnrolledDevice, verified: VerifiedTap & { challenge: StoredChallenge }, now: Date): Promise<Answer & { replayed: boolean }> {
      const { purpose, card, challenge } = verified;
      const common = { challengeId: challenge.id, purpose: purpose.name, revocationChecked: card.revocationChecked };
      const alone = () => runIdempotent(db, call, async (trx) => ({ status: 201, body: { ...common, ...(await settle(trx, device, verified, undefined, now)) } }));
      // A kept proof is not used up as it is signed, and an expired one is refused: both as settle says.
      if (purpose.keepsProof || now > challenge.expiresAt) return alone();
      return planOrAlone(call, purpose, { card, device, now, terms: (challenge.terms ?? undefined) as object | undefined, challenge }, common, alone);
    },

    /**
     * A PIN-less tap answered once under `call`, as settleProof; a tap naming terms runs alone.
     */
    async settleTap(call: IdempotentCall, device: EnrolledDevice, verified: VerifiedTap, requested: string | undefined, now: Date): Promise<Answer & { replayed: boolean }> {
      const common = { purpose: verified.purpose.name, revocationChecked: verified.card.revocationChecked };
      const alone = () => runIdempotent(db, call, async (trx) =>
        ({ status: 201, body: { ...common, ...(await settle(trx, device, verified, requested, now)) } }));
      if (requested !== undefined) return alone();
      return planOrAlone(call, verified.purpose, { card: verified.card, device, now, terms: undefined, challenge: undefined }, common, alone);
    },
  };
}

export type CardTapsService = ReturnType<typeof cardTapsService>;
