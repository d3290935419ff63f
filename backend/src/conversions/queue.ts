// The conversions queue: one Bull job per accepted request, its job id the request id, so
// enqueueing the same request twice while its job exists adds nothing. The row is committed
// before its job is added; the sweeper re-enqueues accepted rows whose job never got queued.
import type { Db } from '../db.ts';
import type { Queue } from '../queue.ts';

export const CONVERSION_QUEUE = 'conversions';

export interface ConversionJob { conversionId: number }

/**
 * A job failing for a passing reason (a lost MySQL connection) is retried after 1, 2, 4 … s,
 * ten attempts in all (about 8.5 minutes); after that it fails, and the sweeper enqueues it again.
 */
const RETRIES = { attempts: 10, backoff: { type: 'exponential', delay: 1_000 } };

/** Adds a job per conversion id, then stamps the rows as queued. */
export async function enqueueConversions(queue: Queue<ConversionJob>, db: Db, ids: number[], now = new Date()): Promise<void> {
  if (ids.length === 0) return;
  await queue.addBulk(ids.map((id) => ({
    data: { conversionId: id },
    opts: { jobId: String(id), ...RETRIES, removeOnComplete: true, removeOnFail: 1000 },
  })));
  await db('conversion_requests').whereIn('id', ids).update({ queued_at: now });
}
