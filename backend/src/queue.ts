import Bull from 'bull';
import type { Config } from './config.ts';
import { reconnectDelay, redisTarget, type RedisConfig } from './redis.ts';

export type Queue<T = unknown> = Bull.Queue<T>;
export type Job<T = unknown> = Bull.Job<T>;

/**
 * A Bull queue on the configured Redis (one server, or the master Sentinels name: Bull hands the
 * options to ioredis for each of its three connections); the prefix keeps deployments (and test
 * files) apart. A job whose worker died keeps its lock for Bull's lockDuration (30 s) and is run
 * again by the next stalled-job check of a live worker, every QUEUE_STALLED_CHECK_MS.
 */
export function createQueue<T>(name: string, config: RedisConfig & Pick<Config, 'QUEUE_PREFIX'> & Partial<Pick<Config, 'QUEUE_STALLED_CHECK_MS'>>): Queue<T> {
  const target = redisTarget(config);
  const options: Bull.QueueOptions = {
    prefix: config.QUEUE_PREFIX,
    redis: { ...(typeof target === 'string' ? {} : target), retryStrategy: reconnectDelay },
    ...(config.QUEUE_STALLED_CHECK_MS === undefined ? {} : { settings: { stalledInterval: config.QUEUE_STALLED_CHECK_MS } }),
  };
  return typeof target === 'string' ? new Bull<T>(name, target, options) : new Bull<T>(name, options);
}

/**
 * One repeatable job for the whole deployment, whatever number of workers call this: Bull
 * keys a repeatable job by its schedule, so the same `everyMs` from every worker is one schedule,
 * and a changed interval replaces the old one. Calling it again is harmless; answers whether
 * the schedule was missing (a new deployment, or a Redis that lost its data).
 */
export async function scheduleEvery(queue: Queue, everyMs: number): Promise<boolean> {
  let present = false;
  for (const job of await queue.getRepeatableJobs()) {
    if (job.every !== everyMs) await queue.removeRepeatableByKey(job.key);
    else present = true;
  }
  await queue.add({}, { repeat: { every: everyMs }, removeOnComplete: true, removeOnFail: 100 });
  return !present;
}
