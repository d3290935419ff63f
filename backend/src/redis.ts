import { Redis } from 'ioredis';
import type { Logger } from './log.ts';

/**
 * A Redis client for request paths: commands fail fast while Redis is away instead of
 * queueing up, and it keeps reconnecting in the background. Errors are logged once per outage.
 */
export function createRedis(redisUrl: string, log: Logger): Redis {
  const redis = new Redis(redisUrl, {
    enableOfflineQueue: false,
    maxRetriesPerRequest: 1,
    connectTimeout: 2_000,
    retryStrategy: (attempt) => Math.min(attempt * 200, 2_000),
  });
  let down = false;
  redis.on('error', (error) => {
    if (!down) log.warn({ err: error }, 'redis unavailable');
    down = true;
  });
  redis.on('ready', () => {
    if (down) log.info('redis available again');
    down = false;
  });
  return redis;
}
