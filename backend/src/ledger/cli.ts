// `npm run ledger -- check`: prints one JSON object, the report of checkLedger. Exit 0: every
// invariant holds; 1: violations, each named; 2: the ledger could not be read, so nothing is known.
import { pino } from 'pino';
import { createDb } from '../db.ts';
import { checkLedger } from './check.ts';

export async function ledgerCheckCommand(args: string[], databaseUrl: string): Promise<number> {
  if (args.length > 0) {
    process.stderr.write('usage: npm run ledger -- check   (no arguments; the database is DATABASE_URL or the local one)\n');
    return 2;
  }
  // knex's own warnings go to stderr, so stdout holds the report alone.
  const db = createDb(databaseUrl, pino({ name: 'ledger-check', level: 'warn' }, pino.destination(2)));
  try {
    const report = await checkLedger(db);
    process.stdout.write(`${JSON.stringify(report)}\n`);
    return report.ok ? 0 : 1;
  } catch (error) {
    process.stderr.write(`ledger check: could not read the ledger: ${error instanceof Error ? error.message : String(error)}\n`);
    return 2;
  } finally {
    await db.destroy();
  }
}
