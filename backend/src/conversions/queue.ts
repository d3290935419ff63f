// The conversions queue: one Bull job per accepted request, its job id the request id, so
// enqueueing the same request twice while its job exists adds nothing. The row is committed
// before its job is added; the sweeper re-enqueues accepted rows whose job never got queued.
import type { Db } from '../db.ts';
import type { Queue } from '../queue.ts';
import { conversionRepository as repo } from './repository.ts';

export const CONVERSION_QUEUE = 'conversions';

export interface ConversionJob { conversionId: number }

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
  await addConversionJobs(queue, ids);
}

/**
 * Adds a job per conversion id, for rows already stamped as queued: intake stamps a row as it
 * inserts it (repository.ts insertRequests), so the stamp costs no statement of its own.
 */
export async function addConversionJobs(queue: Queue<ConversionJob>, ids: number[]): Promise<void> {
  if (ids.length === 0) return;
  await queue.addBulk(ids.map((id) => ({
    data: { conversionId: id },
    opts: { jobId: String(id), ...RETRIES, removeOnComplete: true, removeOnFail: 1000 },
  })));
}
