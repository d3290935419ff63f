// `npm run ledger -- settlement --from D --to D [--municipality CODE] [--csv merchants|partners|campaigns]`:
// the statements of docs/settlement.md on the command line. JSON (one statement per
// municipality, or the one asked for) or, with --csv, one statement file on stdout.
import { parseArgs } from 'node:util';
import { commandDb } from '../command-line.ts';
import { Problem } from '../http/problems.ts';
import { organizationRepository } from '../organizations/repository.ts';
import { parsePeriod, settlementStatement, STATEMENT_KINDS, statementCsv, type StatementKind } from './statement.ts';

const SETTLEMENT_USAGE = 'npm run ledger -- settlement --from YYYY-MM-DD --to YYYY-MM-DD [--municipality CODE] [--csv merchants|partners|campaigns]';

/** Exit 0: printed; 2: bad usage, a bad period, an unknown municipality, or the database could not be read. */
export async function settlementCommand(args: string[], databaseUrl: string): Promise<number> {
  const fail = (error: string, detail: string) => {
    process.stderr.write(`ledger settlement: ${detail}\nusage: ${SETTLEMENT_USAGE}\n`);
    process.stdout.write(`${JSON.stringify({ error, detail })}\n`);
    return 2;
  };
  let options: { from?: string; to?: string; municipality?: string; csv?: string };
  try {
    ({ values: options } = parseArgs({ args, options: { from: { type: 'string' }, to: { type: 'string' }, municipality: { type: 'string' }, csv: { type: 'string' } } }));
  } catch (error) {
    return fail('usage', (error as Error).message);
  }
  const csv = options.csv;
  if (csv !== undefined && !STATEMENT_KINDS.includes(csv as StatementKind)) return fail('usage', `--csv is one of ${STATEMENT_KINDS.join(', ')}`);
  if (csv !== undefined && options.municipality === undefined) return fail('usage', '--csv needs --municipality: a file is one municipality\'s');
  let period;
  try {
    period = parsePeriod(options.from, options.to);
  } catch (error) {
    if (!(error instanceof Problem)) throw error;
    return fail(error.code, error.detail ?? error.code);
  }
  // knex's own warnings go to stderr, so stdout holds the statement alone.
  const db = commandDb(databaseUrl, 'ledger-settlement');
  try {
    const codes = options.municipality !== undefined ? [options.municipality]
      : await organizationRepository.municipalityCodes(db);
    const statements = [];
    for (const code of codes) statements.push(await settlementStatement(db, code, period));
    process.stdout.write(csv ? statementCsv(statements[0]!, csv as StatementKind) : `${JSON.stringify(options.municipality !== undefined ? statements[0] : { statements })}\n`);
    return 0;
  } catch (error) {
    if (error instanceof Problem) return fail(error.code, error.detail ?? error.code);
    return fail('database_unreadable', `could not read the ledger: ${error instanceof Error ? error.message : String(error)}`);
  } finally {
    await db.destroy();
  }
}
