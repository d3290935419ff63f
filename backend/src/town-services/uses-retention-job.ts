// The repeatable Bull job that keeps a service's uses one by one only for the retention period
// (SERVICE_USE_RETENTION_DAYS): older ones are added into the hourly counts and deleted, in one
// transaction per batch. A batch that fails (a worker killed midway) rolls back whole, so no use is
// lost or counted twice; two workers at once lock different uses (docs/services-figures.md).
import type { Knex } from 'knex';
import { retryTransient, type Db } from '../db.ts';
import type { Logger } from '../log.ts';
import { serviceUsesRepository as repo, type HourCount } from './uses-repository.ts';

export const SERVICE_USE_RETENTION_QUEUE = 'service-use-retention';

const DAY_MS = 86_400_000;
const HOUR_MS = 3_600_000;
/** Uses folded per transaction: a few thousand rows locked for well under a second. */
const BATCH = 2000;

/** The uses per service and hour (its start, UTC). */
function hourCounts(uses: Array<{ serviceId: number; usedAt: Date }>): HourCount[] {
  const counts = new Map<string, HourCount>();
  for (const use of uses) {
    const hour = new Date(Math.floor(use.usedAt.getTime() / HOUR_MS) * HOUR_MS);
    const key = `${use.serviceId}:${hour.getTime()}`;
    const count = counts.get(key) ?? counts.set(key, { serviceId: use.serviceId, hour, uses: 0 }).get(key)!;
    count.uses++;
  }
  return [...counts.values()];
}

/** One batch of uses recorded before `before` into the counts and out of the records; how many. */
async function foldBatch(trx: Knex.Transaction, before: Date, limit: number): Promise<number> {
  const uses = await repo.lockOldUses(trx, before, limit);
  await repo.addCounts(trx, hourCounts(uses));
  await repo.deleteUses(trx, uses.map((use) => use.id));
  return uses.length;
}

/** Folds every use recorded more than `retentionDays` before `now` into the hourly counts; how many it folded. */
export async function foldExpiredUses(db: Db, log: Logger, retentionDays: number, now = new Date(), batch = BATCH): Promise<number> {
  const before = new Date(now.getTime() - retentionDays * DAY_MS);
  let folded = 0;
  for (;;) {
    const uses = await retryTransient(() => db.transaction((trx) => foldBatch(trx, before, batch)));
    folded += uses;
    // A short batch is the last, or the rest is another worker's to fold.
    if (uses < batch) break;
  }
  if (folded > 0) log.info({ folded, before }, 'service uses past their retention folded into hourly counts');
  return folded;
}
