// Applications are counted per client address in Redis, shared by every API server: the form
// needs no sign-in, so the count keeps one address from filling a town's list. A shop applies
// once; a few more allow for a chain's branches and a corrected second try.
import type { Redis } from 'ioredis';

// Exported for the tests: they apply exactly this many times.
export const APPLICATIONS_PER_WINDOW = 5;
const WINDOW_MS = 60 * 60_000;

export function applicationLimit(redis: Redis, keyPrefix: string) {
  const key = (address: string) => `${keyPrefix}:shop-applications:${address}`;

  return {
    /**
     * Counts an application from `address`: 0 when it may go ahead, else the seconds to wait.
     * Counting first (one atomic INCR) keeps concurrent requests from all slipping under the limit.
     * The window starts at the first application and is not extended by later ones.
     */
    async take(address: string): Promise<number> {
      const replies = (await redis.multi().set(key(address), 0, 'PX', WINDOW_MS, 'NX').incr(key(address)).pttl(key(address)).exec())!;
      const [count, ttl] = [Number(replies[1]![1]), Number(replies[2]![1])];
      if (count <= APPLICATIONS_PER_WINDOW) return 0;
      return Math.max(1, Math.ceil(ttl / 1000));
    },
  };
}
