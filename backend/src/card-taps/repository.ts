// A challenge is a fresh nonce a card signs to prove "this card, with its PIN, here, now".
// It is bound to the device that asked, to a purpose and to the purpose's terms, lives 60
// seconds, and is signed at most once. The card signs the SHA-256 of its canonical text, which
// the backend rebuilds from its own row: nothing the client sends about the challenge is trusted.
import { randomBytes } from 'node:crypto';
import type { Knex } from 'knex';
import { ConcurrentChange, readByKey, type Db } from '../db.ts';
import { Problem } from '../http/problems.ts';
import type { Challenge } from '@mykey/contracts/challenge-text.ts';

const CHALLENGE_SECONDS = 60;

/** A challenge as stored: with the terms its purpose bound to it (null: a purpose without terms). */
export interface StoredChallenge extends Challenge { terms: object | null }

interface ChallengeRow { id: string; device_id: number; purpose: string; expires_at: Date; terms: string | object | null }

const toChallenge = (row: ChallengeRow): StoredChallenge => ({
  id: row.id, deviceId: Number(row.device_id), purpose: row.purpose, expiresAt: row.expires_at,
  // MariaDB's JSON is LONGTEXT: the driver hands it over as the text written.
  terms: typeof row.terms === 'string' ? JSON.parse(row.terms) as object : row.terms,
});

type Conn = Db | Knex.Transaction;

/** A challenge made at `at`, to be stored. */
export interface NewChallenge { challenge: StoredChallenge; at: Date }

/** A challenge for `purpose`, bound to `terms` (checked by the purpose that made them), not stored yet. */
export function newChallenge(deviceId: number, purpose: string, at: Date, terms: object | null): NewChallenge {
  // Stored to the millisecond, so the canonical text rebuilt from the row is the one handed out.
  const expiresAt = new Date(at.getTime() + CHALLENGE_SECONDS * 1000);
  return { challenge: { id: randomBytes(32).toString('base64url'), deviceId, purpose, expiresAt, terms }, at };
}

/** A challenge the card `certKey` signed at `at`, to be marked so. */
export interface SignedChallenge { id: string; certKey: Buffer; at: Date }

interface DeviceChallenge { id: string; deviceId: number }
const deviceChallengeKey = ({ id, deviceId }: DeviceChallenge) => `${id}:${deviceId}`;

const challengeOfDevice = readByKey(async (conn, keys: readonly DeviceChallenge[]) => {
  const rows: ChallengeRow[] = await conn('auth_challenges').whereIn('id', keys.map((key) => key.id)).select('id', 'device_id', 'purpose', 'expires_at', 'terms');
  return new Map(rows.map((row) => [deviceChallengeKey({ id: row.id, deviceId: Number(row.device_id) }), toChallenge(row)]));
}, deviceChallengeKey);

/** Every SQL statement about challenges. */
export const challengeRepository = {
  /** Stores new challenges (newChallenge's), several in one statement. */
  async insert(trx: Knex.Transaction, made: NewChallenge[]): Promise<void> {
    await trx('auth_challenges').insert(made.map(({ challenge, at }) => ({
      id: challenge.id, device_id: challenge.deviceId, purpose: challenge.purpose, created_at: at, expires_at: challenge.expiresAt,
      terms: challenge.terms && JSON.stringify(challenge.terms),
    })));
  },

  /** The device's own challenge; another device's is as good as unknown to it. Reads at the same moment are one statement (db.ts). */
  async find(conn: Conn, id: string, deviceId: number): Promise<StoredChallenge> {
    const challenge = await challengeOfDevice(conn, { id, deviceId });
    if (!challenge) throw new Problem('challenge_unknown');
    return challenge;
  },

  /**
   * Records the card that signed; refuses a challenge already signed or past its time. With
   * `consume` (a purpose that uses the signature at once) it is marked used in the same statement.
   */
  async markSigned(trx: Knex.Transaction, challenge: Challenge, certKey: Buffer, now: Date, { consume = false } = {}): Promise<void> {
    const updated = await trx('auth_challenges').where({ id: challenge.id }).whereNull('signed_at')
      .update({ cert_key: certKey, signed_at: now, ...(consume ? { consumed_at: now } : {}) });
    if (updated === 0) throw new Problem('challenge_reused');
    if (now > challenge.expiresAt) throw new Problem('challenge_expired');
  },

  /**
   * Records the cards that signed several challenges, each used up at once, in one statement;
   * throws ConcurrentChange, and its transaction must end, unless every one was still unsigned
   * (a replayed challenge among them: the caller runs each alone, and markSigned says which).
   */
  async markManySigned(trx: Knex.Transaction, signed: SignedChallenge[]): Promise<void> {
    const cases = (value: (s: SignedChallenge) => Buffer | Date) => ({
      sql: `CASE id ${signed.map(() => 'WHEN ? THEN ?').join(' ')} END`,
      bindings: signed.flatMap((s) => [s.id, value(s)]),
    });
    const certKeys = cases((s) => s.certKey);
    const times = cases((s) => s.at);
    const at = trx.raw(times.sql, times.bindings);
    const updated = await trx('auth_challenges').whereIn('id', signed.map((s) => s.id)).whereNull('signed_at').update({
      cert_key: trx.raw(certKeys.sql, certKeys.bindings), signed_at: at, consumed_at: at,
    });
    if (updated !== signed.length) throw new ConcurrentChange(`${signed.length - updated} of ${signed.length} challenges signed already`);
  },

  /**
   * Takes a signed challenge as the proof of a card for one later call (a relink): it must be
   * one of these devices', of the purpose, signed less than its lifetime ago, and not yet used.
   * Returns the card.
   */
  async consumeSigned(trx: Knex.Transaction, id: string, deviceIds: number[], purpose: string, now: Date): Promise<Buffer> {
    return (await consumeProof(trx, trx('auth_challenges').whereIn('device_id', deviceIds), id, purpose, now)).certKey;
  },

  /**
   * Takes a signed challenge of `purpose` as the proof of a card, whichever device it was signed
   * at (the resident's page: the browser beside the device holds the proof, docs/resident.md).
   * Returns the card and the device.
   */
  async consumeSignedAnywhere(trx: Knex.Transaction, id: string, purpose: string, now: Date): Promise<{ certKey: Buffer; deviceId: number }> {
    return consumeProof(trx, trx('auth_challenges'), id, purpose, now);
  },
};

/** The proof `id` among `challenges`: of `purpose`, signed less than its lifetime ago, not yet used; used up now. */
async function consumeProof(trx: Knex.Transaction, challenges: Knex.QueryBuilder, id: string, purpose: string, now: Date): Promise<{ certKey: Buffer; deviceId: number }> {
  const row = await challenges.where({ id, purpose }).whereNotNull('signed_at').forUpdate().first('cert_key', 'signed_at', 'consumed_at', 'device_id');
  if (!row) throw new Problem('card_proof_unknown');
  if (row.consumed_at) throw new Problem('challenge_reused');
  if (now.getTime() - row.signed_at.getTime() > CHALLENGE_SECONDS * 1000) throw new Problem('challenge_expired');
  await trx('auth_challenges').where({ id }).update({ consumed_at: now });
  return { certKey: Buffer.from(row.cert_key), deviceId: Number(row.device_id) };
}

