import Bull from 'bull';
import type { Config } from './config.ts';

export type Queue<T = unknown> = Bull.Queue<T>;
export type Job<T = unknown> = Bull.Job<T>;

/** A Bull queue on the configured Redis; the prefix keeps deployments (and test files) apart. */
export function createQueue<T>(name: string, config: Pick<Config, 'REDIS_URL' | 'QUEUE_PREFIX'>): Queue<T> {
  return new Bull<T>(name, config.REDIS_URL, { prefix: config.QUEUE_PREFIX });
}
