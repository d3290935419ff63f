// Steps a clerk takes on one Japanese calendar day (a payment voided the same day, the register's
// list of today's payments) fail when a test run happens to cross midnight in Japan (15:00 UTC).
import { endOfTokyoDay, tokyoDate } from '../../src/ledger/rules.ts';
import { waitFor } from '@mykey/dev-tools/wait.ts';

/**
 * Resolves when the next `needMs` fall on one Japanese day: at once, unless midnight in Japan is
 * nearer, and then once the day has turned (waiting at most `needMs`, under ava's timeout).
 */
export async function oneTokyoDay(needMs = 150_000): Promise<void> {
  const day = tokyoDate(new Date());
  if (endOfTokyoDay(day).getTime() - Date.now() >= needMs) return;
  await waitFor('midnight in Japan to pass', async () => tokyoDate(new Date()) !== day, needMs + 5_000);
}
