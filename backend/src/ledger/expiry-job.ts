// The repeatable Bull job that expires points: what is left of every lot past its expiry moves
// to its municipality's expired account. Safe to run anywhere, any number of times, at once:
// each account is expired under its lock, and a lot with nothing left is never moved again.
import type { Db } from '../db.ts';
import type { Logger } from '../log.ts';
import { expireAccount, inLedgerTransaction } from './ledger.ts';
import { ledgerRepository as repo } from './repository.ts';

export const LEDGER_EXPIRY_QUEUE = 'ledger-expiry';

/** Lots read per page of the walk; each page's accounts are expired one transaction each. */
const EXPIRY_PAGE = 500;

export interface ExpiryRun { accounts: number; entries: number; points: number; failed: number }

/**
 * Expires every lot past its expiry at `now`. An account that fails (after the transient
 * retries) is logged and left for the next run; the others go on, and the run then fails.
 */
export async function expireDueLots(db: Db, log: Logger, now = new Date(), page = EXPIRY_PAGE): Promise<ExpiryRun> {
  const run: ExpiryRun = { accounts: 0, entries: 0, points: 0, failed: 0 };
  for (let after: { expiresAt: Date; id: number } | undefined; ;) {
    const lots = await repo.expiredLotsPage(db, now, page, after);
    for (const accountId of new Set(lots.map((lot) => lot.accountId))) {
      try {
        const moved = await inLedgerTransaction(db, (trx) => expireAccount(trx, accountId, now));
        run.accounts++;
        run.entries += moved.entries;
        run.points += moved.points;
      } catch (error) {
        run.failed++;
        log.error({ err: error, accountId }, 'expiring an account\'s lots failed; the next run tries again');
      }
    }
    if (lots.length < page) break;
    after = lots.at(-1);
  }
  if (run.entries > 0) log.info({ ...run, at: now }, 'expired points moved');
  if (run.failed > 0) throw new Error(`expiring points failed for ${run.failed} accounts (logged); the next run tries them again`);
  return run;
}
