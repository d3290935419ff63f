// The shape of the operators' command lines (`npm run mykey`, `npm run ledger`): a registry
// of commands, each living with its feature and loaded on demand, so one command's
// dependencies never slow or break another. Every command prints JSON on stdout.

/** Runs with the arguments after its name; resolves to the exit code. */
export type Run = (args: string[]) => Promise<number>;

export type Commands = Record<string, { summary: string; load: () => Promise<Run> }>;

function usage(program: string, commands: Commands): string {
  return [
    `Usage: npm run ${program} -- COMMAND [args]`,
    '',
    'Commands:',
    ...Object.entries(commands).map(([name, c]) => `  ${name.padEnd(16)} ${c.summary}`),
  ].join('\n');
}

/** Runs the command named by `argv[0]` and sets the exit code: 2 for no command or an unknown one. */
export async function runCommand(program: string, commands: Commands, argv: string[] = process.argv.slice(2)): Promise<void> {
  const [name, ...args] = argv;
  if (!name || name === '--help' || name === '-h') {
    console.log(usage(program, commands));
    process.exitCode = name ? 0 : 2;
    return;
  }
  const command = Object.hasOwn(commands, name) ? commands[name] : undefined;
  if (!command) {
    console.error(`unknown command: ${name}\n\n${usage(program, commands)}`);
    process.exitCode = 2;
    return;
  }
  process.exitCode = await (await command.load())(args);
}
