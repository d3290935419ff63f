// Every SQL statement of resident_sessions: the resident's own page, opened with card and PIN
// (docs/resident.md). A session is found by the SHA-256 of its token; the token itself is never stored.
import { createHash } from 'node:crypto';
import type { Knex } from 'knex';
import type { Db } from '../db.ts';

type Conn = Db | Knex.Transaction;

export type EndReason = 'card_removed' | 'closed' | 'mykey_suspended' | 'mykey_blocked_here';

/** `deviceId`: the town's device the card opened the page at (the kiosk whose agent the page's browser is paired with). */
export interface ResidentSession { mykeyPk: number; municipalityCode: string; deviceId: number; lastUsedAt: Date; idleSeconds: number; closesBy: Date }

const hashOf = (token: string): Buffer => createHash('sha256').update(token).digest();

/** Ended sessions deleted per statement. */
const PURGE_BATCH = 1000;

/** The sessions ended by `now`: closed by a call, unused for their idle time, or past their limit. */
const endedBy = (conn: Conn, query: Knex.QueryBuilder, now: Date) => query.where((q) => q.whereNotNull('ended_at')
  .orWhere('last_used_at', '<=', conn.raw('? - INTERVAL idle_seconds SECOND', [now])).orWhere('closes_by', '<=', now));

export const residentSessionsRepository = {
  async insert(trx: Knex.Transaction, token: string, session: ResidentSession): Promise<void> {
    await trx('resident_sessions').insert({
      token_hash: hashOf(token), mykey_pk: session.mykeyPk, municipality_code: session.municipalityCode, device_id: session.deviceId,
      opened_at: session.lastUsedAt, last_used_at: session.lastUsedAt, idle_seconds: session.idleSeconds, closes_by: session.closesBy,
    });
  },

  /** The session of this token, not ended, used within its idle time before `now` and short of its limit; undefined otherwise. */
  async open(conn: Conn, token: string, now: Date): Promise<ResidentSession | undefined> {
    const row = await conn('resident_sessions').where({ token_hash: hashOf(token) }).whereNull('ended_at').andWhere('closes_by', '>', now)
      .andWhere('last_used_at', '>', conn.raw('? - INTERVAL idle_seconds SECOND', [now])).first('mykey_pk', 'municipality_code', 'device_id', 'last_used_at', 'idle_seconds', 'closes_by');
    return row && { mykeyPk: Number(row.mykey_pk), municipalityCode: String(row.municipality_code), deviceId: Number(row.device_id), lastUsedAt: row.last_used_at, idleSeconds: Number(row.idle_seconds), closesBy: row.closes_by };
  },

  /** The session was used at `now`: its idle time starts again. */
  async touch(conn: Conn, token: string, now: Date): Promise<void> {
    await conn('resident_sessions').where({ token_hash: hashOf(token) }).whereNull('ended_at').update({ last_used_at: now });
  },

  /** Ends the session now, if it is not ended already. */
  async end(conn: Conn, token: string, reason: EndReason, now: Date): Promise<void> {
    await conn('resident_sessions').where({ token_hash: hashOf(token) }).whereNull('ended_at').update({ ended_at: now, end_reason: reason });
  },
  /**
   * Deletes the sessions ended by `now` (the worker's purge job); how many. Found by a plain read
   * and deleted by their keys (still ended when deleted), as the staff sessions' purge does: a
   * range delete would lock the gaps between live sessions and deadlock with pages opening.
   */
  async purgeEnded(conn: Conn, now: Date): Promise<number> {
    const keys = (await endedBy(conn, conn('resident_sessions'), now).orderBy('token_hash').pluck('token_hash')) as Buffer[];
    let purged = 0;
    for (let i = 0; i < keys.length; i += PURGE_BATCH) purged += await endedBy(conn, conn('resident_sessions').whereIn('token_hash', keys.slice(i, i + PURGE_BATCH)), now).delete();
    return purged;
  },
};
