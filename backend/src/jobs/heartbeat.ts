import os from 'node:os';
import type { Db } from '../db.ts';

// The smallest real job: proves that Redis delivers, the worker runs and MySQL records.
export const HEARTBEAT_QUEUE = 'heartbeat';

export const workerId = `${os.hostname()}:${process.pid}`;

export async function recordHeartbeat(db: Db, worker: string, at: Date): Promise<void> {
  await db('worker_heartbeats')
    .insert({ worker_id: worker, beat_at: at, beats: 1 })
    .onConflict('worker_id')
    .merge({ beat_at: at, beats: db.raw('beats + 1') });
}
