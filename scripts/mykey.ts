// `npm run mykey -- COMMAND [args]`: the operators' command line. Each command lives with
// its feature and is listed here once; every command prints JSON on stdout.
/** Runs with the arguments after its name; resolves to the exit code. */
type Run = (args: string[]) => Promise<number>;

// Loaded on demand, so one command's dependencies never slow or break another.
const commands: Record<string, { summary: string; load: () => Promise<Run> }> = {
  'audit-verify': {
    summary: 'check the hash-chained audit log; exit 1 naming the first broken link',
    load: async () => {
      const [{ auditVerify }, { withDatabase }] = await Promise.all([import('../backend/src/audit/cli.ts'), import('./lib/services.ts')]);
      return (args) => withDatabase((databaseUrl) => auditVerify(args, databaseUrl));
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
};

function usage(): string {
  return [
    'Usage: npm run mykey -- COMMAND [args]',
    '',
    'Commands:',
    ...Object.entries(commands).map(([name, c]) => `  ${name.padEnd(16)} ${c.summary}`),
  ].join('\n');
}

const [name, ...args] = process.argv.slice(2);
if (!name || name === '--help' || name === '-h') {
  console.log(usage());
  process.exit(name ? 0 : 2);
}
const command = commands[name];
if (!command) {
  console.error(`unknown command: ${name}\n\n${usage()}`);
  process.exit(2);
}
process.exitCode = await (await command.load())(args);
