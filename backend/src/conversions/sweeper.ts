// The sweeper: a repeatable job that finds accepted conversions whose job is not in Bull —
// never enqueued (the process died between the commit and the add), lost (Redis lost its
// data) or failed (Bull gave up retrying) — and enqueues them again. MySQL is the truth:
// whatever Redis forgot, an accepted request is eventually processed, and processing credits
// once however many jobs it gets.
import type { Db } from '../db.ts';
import type { Logger } from '../log.ts';
import type { Queue } from '../queue.ts';
import { enqueueConversions, type ConversionJob } from './queue.ts';
import { conversionRepository as repo } from './repository.ts';

export const CONVERSION_SWEEP_QUEUE = 'conversion-sweep';

const PAGE = 1000;

export interface SweepRun { checked: number; enqueued: number }

/**
 * Looks at every accepted request queued (or, never queued, accepted) more than
 * `requeueAfterMs` ago: one whose job is waiting, delayed or active is stamped as queued now;
 * one whose job is missing, failed or finished is enqueued again (a failed job is removed
 * first: its id would keep the new one out).
 */
export async function sweepConversions(db: Db, queue: Queue<ConversionJob>, log: Logger, requeueAfterMs: number, now = new Date()): Promise<SweepRun> {
  const run: SweepRun = { checked: 0, enqueued: 0 };
  const before = new Date(now.getTime() - requeueAfterMs);
  for (let after = 0; ;) {
    const ids = await repo.unqueued(db, before, PAGE, after);
    const stale = await Promise.all(ids.map((id) => jobGone(queue, id)));
    const missing = ids.filter((_, i) => stale[i]);
    await enqueueConversions(queue, db, missing, now);
    const waiting = ids.filter((_, i) => !stale[i]);
    if (waiting.length > 0) await db.transaction((trx) => repo.restampQueued(trx, waiting, now));
    run.checked += ids.length;
    run.enqueued += missing.length;
    if (ids.length < PAGE) break;
    after = ids.at(-1)!;
  }
  if (run.enqueued > 0) log.info({ ...run }, 'accepted conversions enqueued again');
  return run;
}

/** Whether the request's job no longer stands to run: missing, failed, finished or in no list; such a job is removed. */
async function jobGone(queue: Queue<ConversionJob>, id: number): Promise<boolean> {
  const job = await queue.getJob(String(id));
  if (!job) return true;
  const state = await job.getState();
  if (state === 'waiting' || state === 'delayed' || state === 'active' || state === 'paused') return false;
  // A job a worker took meanwhile is locked and stays: the next sweep looks again.
  return job.remove().then(() => true, () => false);
}
