import { once } from 'node:events';
import type { Redis } from 'ioredis';
import { pendingMigrations, type Db } from '../db.ts';
import type { Check, NotReadyReason, Readiness } from '@mykey/contracts/health.ts';
import type { Logger } from '../log.ts';

const CHECK_TIMEOUT_MS = 2_000;

class Timeout extends Error {}

/** What a probe found wrong though its dependency answered, with the detail for the log. */
interface Finding { reason: NotReadyReason; detail: Record<string, unknown> }

interface CheckSpec {
  name: keyof Readiness['checks'];
  /** The reasons when the probe fails, or gets no answer within CHECK_TIMEOUT_MS. */
  failed: NotReadyReason;
  timeout: NotReadyReason;
  probe: () => Promise<Finding | undefined>;
}

/** Runs a check's probe with a deadline, so a hung dependency gives an answer instead of a hung probe. */
async function check({ name, failed, timeout, probe }: CheckSpec, log: Logger): Promise<Check> {
  let timer: NodeJS.Timeout | undefined;
  const deadline = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Timeout(`no answer within ${CHECK_TIMEOUT_MS} ms`)), CHECK_TIMEOUT_MS);
  });
  try {
    const finding = await Promise.race([probe(), deadline]);
    if (!finding) return { ok: true };
    log.warn({ check: name, reason: finding.reason, ...finding.detail }, 'not ready');
    return { ok: false, reason: finding.reason };
  } catch (error) {
    const reason = error instanceof Timeout ? timeout : failed;
    log.warn({ check: name, reason, err: error }, 'not ready');
    return { ok: false, reason };
  } finally {
    clearTimeout(timer);
  }
}

/** Our clients do not queue commands while disconnected, so give a (re)connecting one its chance first. */
async function pingRedis(redis: Redis): Promise<void> {
  if (redis.status === 'connecting' || redis.status === 'connect' || redis.status === 'reconnecting') {
    await once(redis, 'ready', { signal: AbortSignal.timeout(CHECK_TIMEOUT_MS) });
  }
  await redis.ping();
}

export async function readiness(db: Db, redis: Redis, log: Logger): Promise<Readiness> {
  const [mysql, redisCheck, migrations] = await Promise.all([
    check({ name: 'mysql', failed: 'database_unavailable', timeout: 'database_timeout', probe: async () => {
      await db.raw('SELECT 1');
      return undefined;
    } }, log),
    check({ name: 'redis', failed: 'redis_unavailable', timeout: 'redis_timeout', probe: async () => {
      await pingRedis(redis);
      return undefined;
    } }, log),
    check({ name: 'migrations', failed: 'database_unavailable', timeout: 'database_timeout', probe: async () => {
      const pending = await pendingMigrations(db);
      return pending.length ? { reason: 'migrations_pending', detail: { pending } } : undefined;
    } }, log),
  ]);
  const ok = mysql.ok && redisCheck.ok && migrations.ok;
  return { status: ok ? 'ready' : 'not_ready', checks: { mysql, redis: redisCheck, migrations } };
}
