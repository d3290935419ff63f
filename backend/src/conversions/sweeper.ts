// The sweeper: a repeatable job that finds accepted conversions whose job is not in Bull —
// never enqueued (the process died between the commit and the add), lost (Redis lost its
// data) or failed (Bull gave up retrying) — and enqueues them again. MySQL is the truth:
// whatever Redis forgot, an accepted request is eventually processed, and processing credits
// once however many jobs it gets.
import type { Db } from '../db.ts';
import type { Logger } from '../log.ts';
import type { Queue } from '../queue.ts';
import { enqueueConversions, jobIdOf, type ConversionJob } from './queue.ts';
import { conversionRepository as repo } from './repository.ts';

export const CONVERSION_SWEEP_QUEUE = 'conversion-sweep';

const PAGE = 1000;

export interface SweepRun { checked: number; enqueued: number }

/**
 * Looks at every accepted request queued (or, never queued, accepted) more than
 * `requeueAfterMs` ago: one whose job — its batch chunk's, or its own — is waiting, delayed or
 * active is stamped as queued now; one with neither is enqueued again, a job of its own (a
 * failed job is removed first: its id would keep the new one out).
 */
export async function sweepConversions(db: Db, queue: Queue<ConversionJob>, log: Logger, requeueAfterMs: number, now = new Date()): Promise<SweepRun> {
  const run: SweepRun = { checked: 0, enqueued: 0 };
  const before = new Date(now.getTime() - requeueAfterMs);
  // A batch chunk's job is asked about once, however many of its rows the sweep meets.
  const standing = new Map<string, Promise<boolean>>();
  const jobStands = (jobId: string) => {
    if (!standing.has(jobId)) standing.set(jobId, jobStandsToRun(queue, jobId));
    return standing.get(jobId)!;
  };
  for (let after = 0; ;) {
    const rows = await repo.unqueued(db, before, PAGE, after);
    const queued = await Promise.all(rows.map(async (row) => await jobStands(jobIdOf(row)) || (row.batch ? jobStands(String(row.id)) : false)));
    const missing = rows.filter((_, i) => !queued[i]).map((row) => row.id);
    await enqueueConversions(queue, db, missing, now);
    const waiting = rows.filter((_, i) => queued[i]).map((row) => row.id);
    if (waiting.length > 0) await db.transaction((trx) => repo.restampQueued(trx, waiting, now));
    run.checked += rows.length;
    run.enqueued += missing.length;
    if (rows.length < PAGE) break;
    after = rows.at(-1)!.id;
  }
  if (run.enqueued > 0) log.info({ ...run }, 'accepted conversions enqueued again');
  return run;
}

/** Whether the job stands to run: waiting, delayed, active or paused. A job that no longer does (failed, finished, in no list) is removed. */
async function jobStandsToRun(queue: Queue<ConversionJob>, jobId: string): Promise<boolean> {
  const job = await queue.getJob(jobId);
  if (!job) return false;
  const state = await job.getState();
  if (state === 'waiting' || state === 'delayed' || state === 'active' || state === 'paused') return true;
  // A job a worker took meanwhile is locked and stays: the next sweep looks again.
  return job.remove().then(() => false, () => true);
}
