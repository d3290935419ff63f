// `npm run mykey -- COMMAND [args]`: the operators' command line for identities and the audit
// log. Each command lives with its feature and is listed here once (scripts/lib/commands.ts).
import { runCommand, type Commands } from './lib/commands.ts';

const commands: Commands = {
  'audit-verify': {
    summary: 'check the hash-chained audit log; exit 1 naming the first broken link',
    load: async () => {
      const [{ verifyAuditChain }, { reportCommand }] = await Promise.all([import('../backend/src/audit/chain.ts'), import('./lib/report.ts')]);
      return reportCommand({ command: 'npm run mykey -- audit-verify', reads: 'the audit log' }, verifyAuditChain);
    },
  },
  'verify-cert': {
    summary: 'would the platform accept this card certificate (PEM or DER)? exit 0 accepted, 1 refused, 2 error',
    load: async () => {
      const [{ verifyCertCommand }, { developmentJpkiEnv }] = await Promise.all([import('../backend/src/jpki/cli.ts'), import('./lib/jpki.ts')]);
      return async (args) => verifyCertCommand(args, { ...process.env, ...(await developmentJpkiEnv()) });
    },
  },
  'import-linkage': {
    summary: "link renewed cards to their MyKey IDs from J-LIS's linkage file (docs/identity.md); prints a JSON summary",
    load: async () => {
      const [{ importLinkageCommand }, { withDatabase }, { developmentJpkiEnv }] = await Promise.all([
        import('../backend/src/mykey/linkage.ts'), import('./lib/services.ts'), import('./lib/jpki.ts')]);
      return (args) => withDatabase(async (databaseUrl) => importLinkageCommand(args, databaseUrl, { ...process.env, ...(await developmentJpkiEnv()) }));
    },
  },
  'partner-secret': {
    summary: 'issue a partner a new API secret (the old one stops working) and print it once as JSON; [--webhook-url URL] (docs/partner-api.md)',
    load: async () => {
      const [{ partnerSecretCommand }, { withDatabase }, { developmentJpkiEnv }] = await Promise.all([
        import('../backend/src/partners/cli.ts'), import('./lib/services.ts'), import('./lib/jpki.ts')]);
      return (args) => withDatabase(async (databaseUrl) => partnerSecretCommand(args, databaseUrl, { ...process.env, ...(await developmentJpkiEnv()) }));
    },
  },
  'partner-agreement': {
    summary: 'the agreements that let a partner credit a municipality: add PARTNER MUNICIPALITY [--from D] [--until D] | end PARTNER MUNICIPALITY | list [--partner P] [--municipality CODE] (docs/partner-api.md)',
    load: async () => {
      const [{ partnerAgreementCommand }, { withDatabase }] = await Promise.all([import('../backend/src/partners/cli.ts'), import('./lib/services.ts')]);
      return (args) => withDatabase(async (databaseUrl) => partnerAgreementCommand(args, databaseUrl));
    },
  },
};

await runCommand('mykey', commands);
