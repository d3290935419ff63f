import { once } from 'node:events';
import type { Redis } from 'ioredis';
import { pendingMigrations, type Db } from '../db.ts';

export interface Check { ok: boolean; reason?: string }
export interface Readiness { status: 'ready' | 'not_ready'; checks: { mysql: Check; redis: Check; migrations: Check } }

const CHECK_TIMEOUT_MS = 2_000;

/** Runs `probe` with a deadline, so a hung dependency gives an answer instead of a hung probe. */
async function check(probe: () => Promise<string | undefined>): Promise<Check> {
  let timer: NodeJS.Timeout | undefined;
  const deadline = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`no answer within ${CHECK_TIMEOUT_MS} ms`)), CHECK_TIMEOUT_MS);
  });
  try {
    const problem = await Promise.race([probe(), deadline]);
    return problem ? { ok: false, reason: problem } : { ok: true };
  } catch (error) {
    return { ok: false, reason: error instanceof Error ? error.message : String(error) };
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

export async function readiness(db: Db, redis: Redis): Promise<Readiness> {
  const [mysql, redisCheck, migrations] = await Promise.all([
    check(async () => { await db.raw('SELECT 1'); return undefined; }),
    check(async () => { await pingRedis(redis); return undefined; }),
    check(async () => {
      const pending = await pendingMigrations(db);
      return pending.length ? `pending migrations: ${pending.join(', ')}` : undefined;
    }),
  ]);
  const ok = mysql.ok && redisCheck.ok && migrations.ok;
  return { status: ok ? 'ready' : 'not_ready', checks: { mysql, redis: redisCheck, migrations } };
}
