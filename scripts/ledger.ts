// `npm run ledger -- COMMAND [args]`: the operators' command line for the points ledger
// (docs/ledger.md). Commands live with the ledger and are listed here once.
import { runCommand, type Commands } from './lib/commands.ts';

const commands: Commands = {
  check: {
    summary: 'verify every ledger invariant; one JSON report, exit 0 clean, 1 naming each violation, 2 error',
    load: async () => {
      const [{ checkLedger }, { reportCommand }] = await Promise.all([import('@mykey/backend/ledger/check.ts'), import('./lib/report.ts')]);
      return reportCommand({ command: 'npm run ledger -- check', reads: 'the ledger' }, (db) => checkLedger(db));
    },
  },
  settlement: {
    summary: 'settlement statement for a period (docs/settlement.md): --from D --to D [--municipality CODE] [--csv merchants|partners|campaigns]',
    load: async () => {
      const [{ settlementCommand }, { withDatabase }] = await Promise.all([import('@mykey/backend/settlement/cli.ts'), import('@mykey/dev-tools/services.ts')]);
      return (args) => withDatabase((databaseUrl) => settlementCommand(args, databaseUrl));
    },
  },
};

await runCommand('ledger', commands);
