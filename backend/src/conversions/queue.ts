// The conversions queue. A single request's job is its own, its job id the request id; the
// conversions a batch file's chunk of lines stored share one job, its id the batch and the
// chunk (a job per conversion cost Redis and the API server as much as storing the
// conversion: docs/benchmarks.md#conversion-batch). Adding a job whose id exists adds nothing.
// The row is committed before its job is added; the sweeper finds a row's job by the same ids
// (jobIdOf), and re-enqueues accepted rows whose job never got queued.
import type { Db } from '../db.ts';
import type { Queue } from '../queue.ts';
import { conversionRepository as repo, type QueuedConversion } from './repository.ts';

export const CONVERSION_QUEUE = 'conversions';

/** Lines of a batch file checked and stored per transaction, and so given one job. */
export const BATCH_CHUNK_LINES = 1_000;

export type ConversionJob = { conversionId: number } | { conversionIds: number[] };

/** The id of the job a conversion is given: its own, or its batch chunk's. */
export function jobIdOf(conversion: QueuedConversion): string {
  const { batch } = conversion;
  return batch ? `batch:${batch.id}:${Math.floor((batch.line - 1) / BATCH_CHUNK_LINES)}` : String(conversion.id);
}

/**
 * A job failing for a passing reason (a lost MySQL connection) is retried after 1, 2, 4 … s,
 * ten attempts in all (about 8.5 minutes); after that it fails, and the sweeper enqueues it again.
 */
const RETRIES = { attempts: 10, backoff: { type: 'exponential', delay: 1_000 } };

/**
 * Stamps the rows as queued, then adds a job per conversion id (the sweeper's way). In that
 * order: once a job is added a worker may be crediting its row, and the stamp would wait for
 * (and hold up) those transactions. Should the add fail after the stamp, the sweeper enqueues
 * the rows once they have been queued longer than CONVERSION_REQUEUE_AFTER_MS.
 */
export async function enqueueConversions(queue: Queue<ConversionJob>, db: Db, ids: number[], now = new Date()): Promise<void> {
  if (ids.length === 0) return;
  await repo.stampQueued(db, ids, now);
  await addConversionJobs(queue, ids.map((id) => ({ id })));
}

/**
 * Adds the conversions' jobs, for rows already stamped as queued: intake stamps a row as it
 * inserts it (repository.ts insertRequests), so the stamp costs no statement of its own.
 */
export async function addConversionJobs(queue: Queue<ConversionJob>, conversions: QueuedConversion[]): Promise<void> {
  const jobs = new Map<string, number[]>();
  for (const conversion of conversions) {
    const jobId = jobIdOf(conversion);
    const ids = jobs.get(jobId);
    if (ids) ids.push(conversion.id);
    else jobs.set(jobId, [conversion.id]);
  }
  if (jobs.size === 0) return;
  await queue.addBulk([...jobs].map(([jobId, ids]) => ({
    // A job of its own is named by its conversion's id (jobIdOf): it carries that one id.
    data: jobId === String(ids[0]) ? { conversionId: ids[0]! } : { conversionIds: ids },
    opts: { jobId, ...RETRIES, removeOnComplete: true, removeOnFail: 1000 },
  })));
}
