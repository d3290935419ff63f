// The workers' heartbeats (heartbeat.ts): one row per worker process, its last beat and count.
import type { Knex } from 'knex';
import type { Db } from '../db.ts';

type Conn = Db | Knex.Transaction;

export const heartbeatRepository = {
  async recordBeat(conn: Conn, worker: string, at: Date): Promise<void> {
    await conn('worker_heartbeats')
      .insert({ worker_id: worker, beat_at: at, beats: 1 })
      .onConflict('worker_id')
      .merge({ beat_at: at, beats: conn.raw('beats + 1') });
  },
};
