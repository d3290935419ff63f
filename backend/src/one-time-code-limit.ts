// Wrong one-time codes are counted per client address in Redis, shared by every API server:
// devices' enrollment codes and staff invitation codes (staff/invitations.ts), each counted
// apart. A code has 50 bits and lives minutes or a day, so guessing is hopeless anyway; the
// limit keeps a scanner from hammering the database.
import type { Redis } from 'ioredis';

// Exported for the tests too: they make exactly this many wrong attempts.
export const FAILURE_LIMIT = 10;
const WINDOW_MS = 10 * 60_000;

export function oneTimeCodeLimit(redis: Redis, keyPrefix: string, codes: 'device-enrollment' | 'staff-invitation' = 'device-enrollment') {
  const key = (address: string) => `${keyPrefix}:${codes}-failures:${address}`;

  return {
    /** 0, or how long an address that failed too often must wait before its code is even looked at. */
    async secondsToWait(address: string): Promise<number> {
      const failures = Number(await redis.get(key(address)));
      if (failures < FAILURE_LIMIT) return 0;
      return Math.max(1, Math.ceil((await redis.pttl(key(address))) / 1000));
    },

    /** The window starts at the first failure and is not extended by later ones. */
    async recordFailure(address: string): Promise<void> {
      await redis.multi().set(key(address), 0, 'PX', WINDOW_MS, 'NX').incr(key(address)).exec();
    },
  };
}
