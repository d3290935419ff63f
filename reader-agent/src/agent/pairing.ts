// The pairing token: a secret between the agent and the console's browser on the same PC, made
// on the agent's first start. `npm run reader-agent -- pairing` prints what the clerk types into
// the console's カードリーダー接続 (card reader connection); the agent's log never shows the token.
import { randomBytes } from 'node:crypto';
import { chmodSync, existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { defaultTokenFile } from './enrollment.ts';
import { DEFAULT_PORT } from './local-api.ts';

export const PAIRING_HELP = `Usage: npm run reader-agent -- pairing [--port N] [--token-file FILE]

Prints the two things to enter in the console's カードリーダー接続 (Card reader connection)
on this PC: the agent's local address and its pairing token (made now if the agent never ran).
Give the same --port and --token-file as the agent was started with.

Options:
  --port N           the agent's port (default ${DEFAULT_PORT})
  --token-file FILE  the pairing token (default ~/.config/mykey/reader-agent-token);
                     the environment variable READER_AGENT_TOKEN overrides it
  -h, --help         this text`;

/** The token from READER_AGENT_TOKEN, or from `file`, which is made (mode 600) when missing. */
export function ensurePairingToken(file: string): { token: string; created: boolean } {
  if (process.env.READER_AGENT_TOKEN) return { token: process.env.READER_AGENT_TOKEN, created: false };
  const created = !existsSync(file);
  if (created) {
    mkdirSync(path.dirname(file), { recursive: true, mode: 0o700 });
    writeFileSync(file, `${randomBytes(32).toString('base64url')}\n`, { mode: 0o600 });
  }
  chmodSync(file, 0o600);
  return { token: readFileSync(file, 'utf8').trim(), created };
}

export function agentAddress(port: number): string {
  return `http://127.0.0.1:${port}`;
}

export function pairingCommand(args: string[]): number {
  let values;
  try {
    ({ values } = parseArgs({
      args,
      options: {
        port: { type: 'string', default: String(DEFAULT_PORT) },
        'token-file': { type: 'string', default: defaultTokenFile() },
        help: { type: 'boolean', short: 'h' },
      },
    }));
  } catch (error) {
    process.stderr.write(`${(error as Error).message}\n\n${PAIRING_HELP}\n`);
    return 2;
  }
  if (values.help) {
    process.stdout.write(`${PAIRING_HELP}\n`);
    return 0;
  }
  const port = Number(values.port);
  if (!Number.isInteger(port) || port < 1 || port > 65535) {
    process.stderr.write(`--port must be a port number, got "${values.port}"\n\n${PAIRING_HELP}\n`);
    return 2;
  }
  const { token } = ensurePairingToken(values['token-file']);
  process.stdout.write([
    'コンソールの「カードリーダー接続」に、次の2つを入力してください。',
    "Enter these two in the console's カードリーダー接続 (Card reader connection):",
    `  アドレス / address:  ${agentAddress(port)}`,
    `  トークン / token:    ${token}`,
    '',
  ].join('\n'));
  return 0;
}
