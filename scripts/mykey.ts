// `npm run mykey -- COMMAND [args]`: the operators' command line for identities and the audit
// log. Each command lives with its feature and is listed here once (scripts/lib/commands.ts).
import { runCommand, type Commands } from './lib/commands.ts';

const commands: Commands = {
  'audit-verify': {
    summary: 'check the keyed audit chain against the exported heads [--heads FILE]; exit 1 naming the first broken link',
    load: async () => {
      const [{ verifyArgs, verifyCommandReport, VERIFY_USAGE }, { reportCommand }, env] = await Promise.all([
        import('@mykey/backend/audit/cli.ts'), import('./lib/report.ts'), auditEnv()]);
      return reportCommand({ command: 'npm run mykey -- audit-verify', reads: 'the audit log', args: { usage: VERIFY_USAGE, parse: verifyArgs } },
        (db, options) => verifyCommandReport(db, options, env));
    },
  },
  'audit-export': {
    summary: "append the audit chain's head to AUDIT_EXPORT_DIR/audit-heads.jsonl now (the worker does it daily); prints it",
    load: async () => {
      const [{ auditExportCommand }, { withDatabase }, env] = await Promise.all([import('@mykey/backend/audit/cli.ts'), import('@mykey/dev-tools/services.ts'), auditEnv()]);
      return (args) => withDatabase((databaseUrl) => auditExportCommand(args, databaseUrl, env));
    },
  },
  'audit-erase-text': {
    summary: 'erase a free text of the audit log on a lawful request: (--seq N [--name NAME] | --ref HEX) --by WHO --why WHY',
    load: async () => {
      const [{ auditEraseTextCommand }, { withDatabase }, env] = await Promise.all([import('@mykey/backend/audit/cli.ts'), import('@mykey/dev-tools/services.ts'), auditEnv()]);
      return (args) => withDatabase((databaseUrl) => auditEraseTextCommand(args, databaseUrl, env));
    },
  },
  'verify-cert': {
    summary: 'would the platform accept this card certificate (PEM or DER)? exit 0 accepted, 1 refused, 2 error',
    load: async () => {
      const [{ verifyCertCommand }, { developmentJpkiEnv }] = await Promise.all([import('@mykey/backend/jpki/cli.ts'), import('./lib/jpki.ts')]);
      return async (args) => verifyCertCommand(args, { ...process.env, ...(await developmentJpkiEnv()) });
    },
  },
  'import-linkage': {
    summary: "link renewed cards to their MyKey IDs from J-LIS's linkage file (docs/identity.md); prints a JSON summary",
    load: async () => {
      const [{ importLinkageCommand }, { withDatabase }, { databaseCommandEnv }] = await Promise.all([
        import('@mykey/backend/mykey/linkage.ts'), import('@mykey/dev-tools/services.ts'), import('./lib/jpki.ts')]);
      return (args) => withDatabase(async (databaseUrl) => importLinkageCommand(args, databaseUrl, await databaseCommandEnv()));
    },
  },
  municipality: {
    summary: "add a town and print a one-time invitation code for its first administrator: add --code CODE --name-ja NAME --name-en NAME [--admin-name NAME] (docs/security/staff.md)",
    load: async () => {
      const [{ municipalityCommand }, { withDatabase }, { databaseCommandEnv }] = await Promise.all([
        import('@mykey/backend/staff/town-cli.ts'), import('@mykey/dev-tools/services.ts'), import('./lib/jpki.ts')]);
      return (args) => withDatabase(async (databaseUrl) => municipalityCommand(args, databaseUrl, await databaseCommandEnv()));
    },
  },
  'partner-add': {
    summary: 'add a partner company: --slug SLUG --name-ja NAME --name-en NAME --kind card_points|airline_miles|other --rate UNITS:POINTS; prints its id (docs/partner-api.md)',
    load: async () => {
      const [{ partnerAddCommand }, { withDatabase }, { databaseCommandEnv }] = await Promise.all([
        import('@mykey/backend/partners/cli.ts'), import('@mykey/dev-tools/services.ts'), import('./lib/jpki.ts')]);
      return (args) => withDatabase(async (databaseUrl) => partnerAddCommand(args, databaseUrl, await databaseCommandEnv()));
    },
  },
  'partner-secret': {
    summary: 'issue a partner a new API secret (the old one stops working) and print it once as JSON; [--webhook-url URL] (docs/partner-api.md)',
    load: async () => {
      const [{ partnerSecretCommand }, { withDatabase }, { databaseCommandEnv }] = await Promise.all([
        import('@mykey/backend/partners/cli.ts'), import('@mykey/dev-tools/services.ts'), import('./lib/jpki.ts')]);
      return (args) => withDatabase(async (databaseUrl) => partnerSecretCommand(args, databaseUrl, await databaseCommandEnv()));
    },
  },
  'partner-agreement': {
    summary: 'the agreements that let a partner credit a municipality: add PARTNER MUNICIPALITY [--from D] [--until D] | end PARTNER MUNICIPALITY | list [--partner P] [--municipality CODE] (docs/partner-api.md)',
    load: async () => {
      const [{ partnerAgreementCommand }, { withDatabase }, { databaseCommandEnv }] = await Promise.all([
        import('@mykey/backend/partners/cli.ts'), import('@mykey/dev-tools/services.ts'), import('./lib/jpki.ts')]);
      return (args) => withDatabase(async (databaseUrl) => partnerAgreementCommand(args, databaseUrl, await databaseCommandEnv()));
    },
  },
};

/** The audit commands' environment: a database command's, with `npm start`'s export folder in development. */
async function auditEnv(): Promise<NodeJS.ProcessEnv> {
  const [{ databaseCommandEnv }, { developmentAuditEnv }] = await Promise.all([import('./lib/jpki.ts'), import('./lib/audit.ts')]);
  const env = await databaseCommandEnv();
  return { ...env, ...developmentAuditEnv(env) };
}

await runCommand('mykey', commands);
