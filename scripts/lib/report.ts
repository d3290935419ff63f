// A command that reads the database and prints one JSON report (`npm run mykey -- audit-verify`,
// `npm run ledger -- check`). Exit 0: report.ok; 1: it is not (the report says why); 2: the
// command was called wrongly or the database could not be read, so nothing is known.
import type { Db } from '@mykey/backend/db.ts';
import { commandDb } from '@mykey/backend/command-line.ts';
import type { Run } from './commands.ts';
import { withDatabase } from '@mykey/dev-tools/services.ts';

export interface ReportCommand<O> {
  /** As typed, e.g. `npm run ledger -- check`; for the usage line. */
  command: string;
  /** What is read, for the error line: `the ledger`. */
  reads: string;
  /** The arguments it takes, e.g. `[--heads FILE]`, and their parser (undefined: called wrongly). Without: none. */
  args?: { usage: string; parse: (args: string[]) => O | undefined };
}

export function reportCommand<R extends { ok: boolean }, O = undefined>({ command, reads, args: takes }: ReportCommand<O>, report: (db: Db, options: O) => Promise<R>): Run {
  // `ledger check` from `npm run ledger -- check`: what the error line starts with.
  const name = command.replace('npm run ', '').replace(' -- ', ' ');
  return async (args) => {
    const options = takes?.parse(args);
    if (takes ? options === undefined : args.length > 0) {
      const usage = takes ? `${command} ${takes.usage}   (the database is` : `${command}   (no arguments; the database is`;
      process.stderr.write(`usage: ${usage} DATABASE_URL or the local one)\n`);
      return 2;
    }
    return withDatabase(async (databaseUrl) => {
      // knex's own warnings go to stderr, so stdout holds the report alone.
      const db = commandDb(databaseUrl, name.replace(' ', '-'));
      try {
        const result = await report(db, options as O);
        process.stdout.write(`${JSON.stringify(result)}\n`);
        return result.ok ? 0 : 1;
      } catch (error) {
        process.stderr.write(`${name}: could not read ${reads}: ${error instanceof Error ? error.message : String(error)}\n`);
        return 2;
      } finally {
        await db.destroy();
      }
    });
  };
}
