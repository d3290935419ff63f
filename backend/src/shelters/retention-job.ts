// The repeatable Bull job that deletes the stays of shelters closed more than
// SHELTER_RECORD_RETENTION_DAYS ago: who was in a shelter and when is kept only as long as the
// town needs it after the emergency (docs/shelters.md#retention). Deleted in batches, each its own
// transaction; two workers at once lock different rows.
import { retryTransient, type Db } from '../db.ts';
import type { Logger } from '../log.ts';
import { sheltersRepository as repo } from './repository.ts';

export const SHELTER_RETENTION_QUEUE = 'shelter-record-retention';

const DAY_MS = 86_400_000;
/** Stays deleted per transaction: a few thousand rows locked for well under a second. */
const BATCH = 2000;

/** Deletes the stays of every shelter closed more than `retentionDays` before `now`; how many. */
export async function deleteExpiredStays(db: Db, log: Logger, retentionDays: number, now = new Date(), batch = BATCH): Promise<number> {
  const before = new Date(now.getTime() - retentionDays * DAY_MS);
  let deleted = 0;
  for (;;) {
    const stays = await retryTransient(() => db.transaction((trx) => repo.deleteStaysClosedBefore(trx, before, batch)));
    deleted += stays;
    // A short batch is the last, or the rest is another worker's to delete.
    if (stays < batch) break;
  }
  if (deleted > 0) log.info({ deleted, closedBefore: before }, 'shelter stays past their retention deleted');
  return deleted;
}
