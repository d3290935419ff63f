// Failed sign-ins are counted in Redis, shared by every API server, twice: per account (by a
// keyed hash of the login ID, so unknown IDs are counted too and the answer never tells which
// IDs exist) and per client address. After a few failures each further attempt must wait a
// growing delay; after many the account or address is locked for a while. The same shape as
// one-time-code-limit.ts: a failure count whose window starts at the first failure, and
// beside it a key that lives as long as the wait.
import type { Redis } from 'ioredis';

interface Rule {
  /** Failures within the window that cost nothing. */
  free: number;
  /** At this many failures the key is locked for LOCK_MS. */
  lockAt: number;
}

const WINDOW_MS = 15 * 60_000;
// LOCK_MS, ACCOUNT_RULE and waitAfter are exported for the tests too: they check the schedule against the figures themselves.
export const LOCK_MS = 15 * 60_000;
const MAX_DELAY_MS = 60_000;
// An office shares one address behind its router: the address is allowed many more failures than one account.
export const ACCOUNT_RULE: Rule = { free: 3, lockAt: 10 };
const ADDRESS_RULE: Rule = { free: 20, lockAt: 100 };

/** The wait after the `failures`-th failure: none, then 1 s doubling up to a minute, then the lock. */
export function waitAfter(failures: number, rule: Rule): number {
  if (failures >= rule.lockAt) return LOCK_MS;
  if (failures < rule.free) return 0;
  return Math.min(MAX_DELAY_MS, 1000 * 2 ** (failures - rule.free));
}

export interface Wait { seconds: number; locked: boolean }

export function signInLimit(redis: Redis, keyPrefix: string) {
  const keys = (name: string) => ({ count: `${keyPrefix}:staff-sign-in:${name}:failures`, wait: `${keyPrefix}:staff-sign-in:${name}:wait` });
  const subjects = (account: string, address: string): Array<[string, Rule]> => [[`account:${account}`, ACCOUNT_RULE], [`address:${address}`, ADDRESS_RULE]];

  return {
    /** How long this account or address must still wait (the longer of the two), and whether that is a lock. */
    async wait(account: string, address: string): Promise<Wait> {
      let result: Wait = { seconds: 0, locked: false };
      for (const [name, rule] of subjects(account, address)) {
        const { count, wait } = keys(name);
        const [[, failures], [, ttl]] = (await redis.multi().get(count).pttl(wait).exec()) as [[unknown, string | null], [unknown, number]];
        const seconds = ttl > 0 ? Math.ceil(ttl / 1000) : 0;
        if (seconds > result.seconds) result = { seconds, locked: Number(failures) >= rule.lockAt };
      }
      return result;
    },

    async recordFailure(account: string, address: string): Promise<void> {
      for (const [name, rule] of subjects(account, address)) {
        const { count, wait } = keys(name);
        const replies = await redis.multi().set(count, 0, 'PX', WINDOW_MS, 'NX').incr(count).exec();
        const delay = waitAfter(Number(replies?.[1]?.[1]), rule);
        if (delay > 0) await redis.set(wait, 1, 'PX', delay);
      }
    },

    /** A full sign-in forgives the account's failures; the address keeps its count. */
    async clearAccount(account: string): Promise<void> {
      const { count, wait } = keys(`account:${account}`);
      await redis.del(count, wait);
    },
  };
}

export type SignInLimit = ReturnType<typeof signInLimit>;
