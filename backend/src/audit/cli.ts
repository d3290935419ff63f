// `npm run mykey -- audit-verify`: walks the audit chain and prints one JSON object, the
// verdict of verifyAuditChain. Exit 0: intact; 1: broken (firstBroken names the first broken
// link); 2: the log could not be read, so nothing is known about it.
import { pino } from 'pino';
import { createDb } from '../db.ts';
import { verifyAuditChain } from './chain.ts';

export async function auditVerify(args: string[], databaseUrl: string): Promise<number> {
  if (args.length > 0) {
    process.stderr.write('usage: npm run mykey -- audit-verify   (no arguments; the database is DATABASE_URL or the local one)\n');
    return 2;
  }
  // knex's own warnings go to stderr, so stdout holds the verdict alone.
  const db = createDb(databaseUrl, pino({ name: 'audit-verify', level: 'warn' }, pino.destination(2)));
  try {
    const verdict = await verifyAuditChain(db);
    process.stdout.write(`${JSON.stringify(verdict)}\n`);
    return verdict.ok ? 0 : 1;
  } catch (error) {
    process.stderr.write(`audit-verify: could not read the audit log: ${error instanceof Error ? error.message : String(error)}\n`);
    return 2;
  } finally {
    await db.destroy();
  }
}
