import { Redis, type RedisOptions } from 'ioredis';
import type { Config } from './config.ts';
import type { Logger } from './log.ts';

/** Where Redis is, as the configuration says it (config.ts): one server's URL, or Sentinels. */
export type RedisConfig = Pick<Config, 'REDIS_URL'> & Partial<Pick<Config, 'REDIS_SENTINELS' | 'REDIS_SENTINEL_NAME'>>;

/**
 * The configured Redis as ioredis takes it: the URL of one server, or options naming Sentinels.
 * With Sentinels the client asks them for the master, and asks again when the master goes away or
 * they announce a new one (failoverDetector): a failover costs a reconnection, not a restart.
 */
export function redisTarget(config: RedisConfig): string | RedisOptions {
  if (!config.REDIS_SENTINELS?.length) {
    if (!config.REDIS_URL) throw new Error('REDIS_URL or REDIS_SENTINELS is required');
    return config.REDIS_URL;
  }
  return {
    sentinels: config.REDIS_SENTINELS.map((address) => {
      const at = address.lastIndexOf(':');
      return { host: address.slice(0, at), port: Number(address.slice(at + 1)) };
    }),
    name: config.REDIS_SENTINEL_NAME ?? 'mykey',
    failoverDetector: true,
  };
}

/**
 * A Redis client for request paths: commands fail fast while Redis is away instead of
 * queueing up, and it keeps reconnecting in the background. Errors are logged once per outage.
 */
export function createRedis(where: string | RedisConfig, log: Logger): Redis {
  const target = redisTarget(typeof where === 'string' ? { REDIS_URL: where } : where);
  const options: RedisOptions = {
    enableOfflineQueue: false,
    maxRetriesPerRequest: 1,
    connectTimeout: 2_000,
    retryStrategy: (attempt) => Math.min(attempt * 200, 2_000),
  };
  const redis = typeof target === 'string' ? new Redis(target, options) : new Redis({ ...target, ...options });
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
