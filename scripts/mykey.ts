// `npm run mykey -- COMMAND [args]`: the operators' command line. Each command lives with
// its feature and is listed here once; every command prints JSON on stdout.
type Command = { summary: string; run: (args: string[]) => Promise<number> };

const commands: Record<string, () => Promise<Command>> = {
};

function usage(): string {
  return [
    'Usage: npm run mykey -- COMMAND [args]',
    '',
    'Commands:',
    ...Object.keys(commands).map((name) => `  ${name}`),
  ].join('\n');
}

const [name, ...args] = process.argv.slice(2);
if (!name || name === '--help' || name === '-h') {
  console.log(usage());
  process.exit(name ? 0 : 2);
}
const load = commands[name];
if (!load) {
  console.error(`unknown command: ${name}\n\n${usage()}`);
  process.exit(2);
}
process.exitCode = await (await load()).run(args);
