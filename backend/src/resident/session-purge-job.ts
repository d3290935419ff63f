import type { Db } from '../db.ts';
import type { Logger } from '../log.ts';
import { residentSessionsRepository } from './repository.ts';

// Ended resident pages (closed, or idled out) open nothing, since every lookup checks; deleting
// them keeps the table small and holds no stale tokens' hashes (docs/resident.md).
export const RESIDENT_SESSION_PURGE_QUEUE = 'resident-session-purge';

export async function purgeEndedResidentSessions(db: Db, log: Logger, now = new Date()): Promise<number> {
  const purged = await residentSessionsRepository.purgeEnded(db, now);
  if (purged > 0) log.info({ purged }, 'ended resident pages deleted');
  return purged;
}
