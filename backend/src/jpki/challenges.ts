// A challenge is a fresh nonce a card signs to prove "this card, with its PIN, here, now".
// It is bound to the device that asked and to a purpose, lives 60 seconds, and is signed at
// most once. The card signs the SHA-256 of its canonical text, which the backend rebuilds
// from its own row: nothing the client sends about the challenge is trusted.
import { randomBytes } from 'node:crypto';
import type { Knex } from 'knex';
import type { Db } from '../db.ts';
import { Problem } from '../http/problems.ts';
import { canonicalChallenge, type Challenge, type ChallengePurpose } from './challenge-text.ts';

export { canonicalChallenge, CHALLENGE_PURPOSES, type Challenge, type ChallengePurpose } from './challenge-text.ts';

export const CHALLENGE_SECONDS = 60;

interface ChallengeRow { id: string; device_id: number; purpose: ChallengePurpose; expires_at: Date }

/** What a device receives: the challenge and the bytes its card must sign. */
export function challengeAnswer(challenge: Challenge) {
  return {
    challengeId: challenge.id,
    purpose: challenge.purpose,
    expiresAt: challenge.expiresAt.toISOString(),
    challenge: canonicalChallenge(challenge).toString('base64'),
  };
}

const toChallenge = (row: ChallengeRow): Challenge => ({ id: row.id, deviceId: Number(row.device_id), purpose: row.purpose, expiresAt: row.expires_at });

/** Every SQL statement about challenges. */
export function challengeRepository(db: Db) {
  return {
    async create(trx: Knex.Transaction, deviceId: number, purpose: ChallengePurpose, now: Date): Promise<Challenge> {
      // Stored to the millisecond, so the canonical text rebuilt from the row is the one handed out.
      const expiresAt = new Date(now.getTime() + CHALLENGE_SECONDS * 1000);
      const challenge = { id: randomBytes(32).toString('base64url'), deviceId, purpose, expiresAt };
      await trx('auth_challenges').insert({ id: challenge.id, device_id: deviceId, purpose, created_at: now, expires_at: expiresAt });
      return challenge;
    },

    /** The device's own challenge; another device's is as good as unknown to it. */
    async find(id: string, deviceId: number): Promise<Challenge> {
      const row = await db('auth_challenges').where({ id, device_id: deviceId }).first('id', 'device_id', 'purpose', 'expires_at');
      if (!row) throw new Problem('challenge_unknown');
      return toChallenge(row);
    },

    /** Records the card that signed; refuses a challenge already signed or past its time. */
    async markSigned(trx: Knex.Transaction, challenge: Challenge, certKey: Buffer, now: Date): Promise<void> {
      const updated = await trx('auth_challenges').where({ id: challenge.id }).whereNull('signed_at').update({ cert_key: certKey, signed_at: now });
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
