// A challenge is a fresh nonce a card signs to prove "this card, with its PIN, here, now".
// It is bound to the device that asked and to a purpose, lives 60 seconds, and is signed at
// most once. The card signs the SHA-256 of its canonical text, which the backend rebuilds
// from its own row: nothing the client sends about the challenge is trusted.
import { randomBytes } from 'node:crypto';
import type { Knex } from 'knex';
import type { Db } from '../db.ts';
import { Problem } from '../http/problems.ts';
import { canonicalChallenge, type Challenge, type ChallengePurpose, type PaymentTerms } from '@mykey/contracts/challenge-text.ts';

export { canonicalChallenge, CHALLENGE_PURPOSES, PAYMENT_INTENT_ID, type Challenge, type ChallengePurpose, type PaymentTerms } from '@mykey/contracts/challenge-text.ts';

export const CHALLENGE_SECONDS = 60;

interface ChallengeRow {
  id: string; device_id: number; purpose: ChallengePurpose; expires_at: Date;
  payment_intent_id: string | null; amount_points: number | null; merchant_id: number | null;
}

/** What a device receives: the challenge and the bytes its card must sign. */
export function challengeAnswer(challenge: Challenge) {
  return {
    challengeId: challenge.id,
    purpose: challenge.purpose,
    expiresAt: challenge.expiresAt.toISOString(),
    challenge: canonicalChallenge(challenge).toString('base64'),
    // The terms again as fields, for the agent to rebuild the text from and show the amount.
    ...(challenge.payment ? { payment: challenge.payment } : {}),
  };
}

const toChallenge = (row: ChallengeRow): Challenge => ({
  id: row.id, deviceId: Number(row.device_id), purpose: row.purpose, expiresAt: row.expires_at,
  ...(row.payment_intent_id === null ? {} : { payment: { intentId: row.payment_intent_id, amount: Number(row.amount_points), merchantId: Number(row.merchant_id) } }),
});

/** Every SQL statement about challenges. */
export function challengeRepository(db: Db) {
  return {
    /** A challenge for `purpose`; a payment challenge is bound to the intent in `payment` (checked by the caller). */
    async create(trx: Knex.Transaction, deviceId: number, purpose: ChallengePurpose, now: Date, payment?: PaymentTerms): Promise<Challenge> {
      // Stored to the millisecond, so the canonical text rebuilt from the row is the one handed out.
      const expiresAt = new Date(now.getTime() + CHALLENGE_SECONDS * 1000);
      const challenge: Challenge = { id: randomBytes(32).toString('base64url'), deviceId, purpose, expiresAt, ...(payment ? { payment } : {}) };
      await trx('auth_challenges').insert({ id: challenge.id, device_id: deviceId, purpose, created_at: now, expires_at: expiresAt, payment_intent_id: payment?.intentId ?? null });
      return challenge;
    },

    /** The device's own challenge; another device's is as good as unknown to it. A payment's terms come from its intent's row. */
    async find(id: string, deviceId: number): Promise<Challenge> {
      const row = await db('auth_challenges as c').leftJoin('payment_intents as pi', 'pi.id', 'c.payment_intent_id')
        .where({ 'c.id': id, 'c.device_id': deviceId })
        .first('c.id', 'c.device_id', 'c.purpose', 'c.expires_at', 'c.payment_intent_id', 'pi.amount_points', 'pi.merchant_id');
      if (!row) throw new Problem('challenge_unknown');
      return toChallenge(row);
    },

    /**
     * Records the card that signed; refuses a challenge already signed or past its time. With
     * `consume` (a payment, which uses the signature at once) it is marked used in the same statement.
     */
    async markSigned(trx: Knex.Transaction, challenge: Challenge, certKey: Buffer, now: Date, { consume = false } = {}): Promise<void> {
      const updated = await trx('auth_challenges').where({ id: challenge.id }).whereNull('signed_at')
        .update({ cert_key: certKey, signed_at: now, ...(consume ? { consumed_at: now } : {}) });
      if (updated === 0) throw new Problem('challenge_reused');
      if (now > challenge.expiresAt) throw new Problem('challenge_expired');
    },

    /**
     * Takes a signed challenge as the proof of a card for one relink: it must be this device's,
     * of the purpose, signed less than its lifetime ago, and not yet used. Returns the card.
     */
    async consumeSigned(trx: Knex.Transaction, id: string, deviceIds: number[], purpose: ChallengePurpose, now: Date): Promise<Buffer> {
      const row = await trx('auth_challenges').where({ id, purpose }).whereIn('device_id', deviceIds).whereNotNull('signed_at').forUpdate().first('cert_key', 'signed_at', 'consumed_at');
      if (!row) throw new Problem('card_proof_unknown');
      if (row.consumed_at) throw new Problem('challenge_reused');
      if (now.getTime() - row.signed_at.getTime() > CHALLENGE_SECONDS * 1000) throw new Problem('challenge_expired');
      await trx('auth_challenges').where({ id }).update({ consumed_at: now });
      return Buffer.from(row.cert_key);
    },
  };
}

export type ChallengeRepository = ReturnType<typeof challengeRepository>;
