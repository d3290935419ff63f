import type { Db } from '../db.ts';
import type { Logger } from '../log.ts';
import { staffRepository } from './repository.ts';

// Ended sessions (expired, idled out, or never past their second factor) open nothing, since
// every lookup checks the times; deleting them keeps the table small and holds no stale tokens.
export const STAFF_SESSION_PURGE_QUEUE = 'staff-session-purge';

export async function purgeEndedSessions(db: Db, log: Logger, now = new Date()): Promise<number> {
  const purged = await staffRepository.purgeEndedSessions(db, now);
  if (purged > 0) log.info({ purged }, 'ended staff sessions deleted');
  return purged;
}
