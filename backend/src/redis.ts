import { Redis, type RedisOptions } from 'ioredis';
import type { Config } from './config.ts';
import type { Logger } from './log.ts';

/** Where Redis is, as the configuration says it (config.ts): one server's URL, or Sentinels. */
export type RedisConfig = Pick<Config, 'REDIS_URL'> & Partial<Pick<Config, 'REDIS_SENTINELS' | 'REDIS_SENTINEL_NAME'>>;

/**
 * The configured Redis as ioredis takes it: the URL of one server, or options naming Sentinels.
 * With Sentinels the client asks them for the master, and asks again when its connection closes:
 * a failover costs a reconnection, not a restart (the Sentinels close the clients of a demoted
 * master; a dead one's connections close by themselves).
 *
 * Not ioredis' `failoverDetector`: when a Sentinel announces the new master while the client is
 * still asking a Sentinel where the master is (its reconnection after the old master died), the
 * detector's disconnect makes that reconnection fail with "Connection is closed." and ioredis
 * ends the client for good (ioredis 5.11, SentinelConnector.connect). CI lost a worker's sweeper
 * queue so; an instrumented fault run saw 1 in 150 of the detector's disconnects land there.
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
  };
}

/**
 * How soon a lost connection is tried again: soon, then at most every 2 s, for ever (Bull's own
 * default grows to 20 s, which after a Redis failover left queues idle for up to 20 s).
 */
export function reconnectDelay(attempt: number): number {
  return Math.min(attempt * 200, 2_000);
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
    retryStrategy: reconnectDelay,
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
