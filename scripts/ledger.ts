// `npm run ledger -- COMMAND [args]`: the operators' command line for the points ledger
// (docs/ledger.md). Commands live with the ledger and are listed here once.
import { runCommand, type Commands } from './lib/commands.ts';

const commands: Commands = {
  check: {
    summary: 'verify every ledger invariant; one JSON report, exit 0 clean, 1 naming each violation, 2 error',
    load: async () => {
      const [{ ledgerCheckCommand }, { withDatabase }] = await Promise.all([import('../backend/src/ledger/cli.ts'), import('./lib/services.ts')]);
      return (args) => withDatabase((databaseUrl) => ledgerCheckCommand(args, databaseUrl));
    },
  },
};

await runCommand('ledger', commands);
