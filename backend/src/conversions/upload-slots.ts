// How many batch uploads a partner has in progress at once, counted in Redis so that every API
// server process shares the count. Each upload holds a slot: a member of a sorted set scored
// with the moment its lease runs out (Redis's own clock, so servers' clocks need not agree).
// The lease is renewed while the upload is taken in; a process that dies simply stops renewing,
// and its slot frees itself when the lease runs out.
import { randomUUID } from 'node:crypto';
import type { Redis } from 'ioredis';

const LEASE_MS = 60_000;
const RENEW_MS = 20_000;

// KEYS[1]: the partner's slots. ARGV: lease ms, most slots, this upload's token.
const ACQUIRE = `
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now)
if redis.call('ZCARD', KEYS[1]) >= tonumber(ARGV[2]) then return 0 end
redis.call('ZADD', KEYS[1], now + tonumber(ARGV[1]), ARGV[3])
redis.call('PEXPIRE', KEYS[1], tonumber(ARGV[1]))
return 1`;

// Extends the lease of a slot still held (XX: never re-adds one that lapsed).
const RENEW = `
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
redis.call('ZADD', KEYS[1], 'XX', now + tonumber(ARGV[1]), ARGV[2])
redis.call('PEXPIRE', KEYS[1], tonumber(ARGV[1]))
return 1`;

export interface UploadSlot { release(): Promise<void> }

export interface UploadSlots {
  /** One of the partner's slots, held (and renewed) until released; undefined when all are taken. Rejects when Redis does not answer. */
  acquire(partnerId: number): Promise<UploadSlot | undefined>;
}

export function uploadSlots(redis: Redis, keyPrefix: string, perPartner: number): UploadSlots {
  const key = (partnerId: number) => `${keyPrefix}:partner-uploads:${partnerId}`;
  return {
    async acquire(partnerId) {
      const token = randomUUID();
      if (Number(await redis.eval(ACQUIRE, 1, key(partnerId), LEASE_MS, perPartner, token)) !== 1) return undefined;
      // A renewal lost to a passing Redis outage only shortens the lease; the upload goes on.
      const renewal = setInterval(() => void redis.eval(RENEW, 1, key(partnerId), LEASE_MS, token).catch(() => {}), RENEW_MS);
      return {
        async release() {
          clearInterval(renewal);
          // Not released (Redis away): the lease runs out by itself.
          await redis.zrem(key(partnerId), token).catch(() => {});
        },
      };
    },
  };
}
