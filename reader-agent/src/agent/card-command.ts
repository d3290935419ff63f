// What the `login` and `tap` commands share: their options, the check of a purpose's terms
// option against the shared contract, and the call to the running agent's local API, exactly
// as the console makes it, with its answer printed as JSON or its refusal in Japanese and English.
import { existsSync, readFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { PURPOSE_TEXTS, type PurposeTerms } from '@mykey/contracts/challenge-text.ts';
import { defaultTokenFile } from './enrollment.ts';
import { termsOf } from './backend-client.ts';
import { DEFAULT_PORT } from './local-api.ts';

interface Failure { code: string; messages: { ja: string; en: string }; requestId?: string }

/** The options both commands take (`purpose` without a default: each command says its own). */
const CARD_COMMAND_OPTIONS = {
  purpose: { type: 'string' },
  terms: { type: 'string' },
  reader: { type: 'string' },
  port: { type: 'string', default: String(DEFAULT_PORT) },
  'token-file': { type: 'string', default: defaultTokenFile() },
  help: { type: 'boolean', short: 'h' },
} as const;

/** The help lines of the options both commands take but --purpose, from the contract's purposes with terms. */
export function cardCommandOptionsHelp(): string {
  const byTerms = new Map<PurposeTerms, string[]>();
  for (const [name, terms] of PURPOSE_TEXTS) if (terms) byTerms.set(terms, [...(byTerms.get(terms) ?? []), name]);
  const termsLines = [...byTerms].map(([terms, names]) => wrapped(`${names.join(', ')}: its ${terms.requestField}, which ${terms.requestError}`, 23));
  return [
    '  --terms ID         with a purpose that has terms (the card signs them, or the server binds them to',
    '                     the tap), what they are of:',
    ...termsLines,
    '  --reader NAME      the reader to use (default: the one with a card)',
    `  --port N           the agent's port (default ${DEFAULT_PORT})`,
    '  --token-file FILE  the agent\'s pairing token (default ~/.config/mykey/reader-agent-token);',
    '                     the environment variable READER_AGENT_TOKEN overrides it',
    '  -h, --help         this text',
  ].join('\n');
}

const HELP_WIDTH = 96;

/** `text` in lines of HELP_WIDTH at the most, each indented by `indent` spaces. */
export function wrapped(text: string, indent: number): string {
  const lines: string[] = [];
  for (const word of text.split(' ')) {
    const last = lines.at(-1);
    if (last !== undefined && indent + last.length + 1 + word.length <= HELP_WIDTH) lines[lines.length - 1] = `${last} ${word}`;
    else lines.push(word);
  }
  return lines.map((line) => `${' '.repeat(indent)}${line}`).join('\n');
}

type Values = ReturnType<typeof parseCommandLine>['values'];

function parseCommandLine(args: string[]) {
  return parseArgs({ args, options: CARD_COMMAND_OPTIONS });
}

/** What a command is: its help, its purpose when none is given, what purposes it takes, and its failures' first words. */
export interface CardCommand {
  help: string;
  defaultPurpose?: string;
  /** Why the command cannot take `purpose`, or undefined. */
  purposeProblem(purpose: string): string | undefined;
  failed(purpose: string): readonly [ja: string, en: string];
}

/** A command line checked: what to post where, or the exit status (help printed, wrong usage, no pairing token). */
export type Prepared = number | { fields: Record<string, string>; port: number; token: string; failed: readonly [ja: string, en: string] };

export function prepareCardCommand(args: string[], command: CardCommand): Prepared {
  const usage = (message: string) => {
    process.stderr.write(`${message}\n\n${command.help}\n`);
    return 2;
  };
  let values: Values;
  try {
    ({ values } = parseCommandLine(args));
  } catch (error) {
    return usage((error as Error).message);
  }
  if (values.help) {
    process.stdout.write(`${command.help}\n`);
    return 0;
  }
  const purpose = values.purpose ?? command.defaultPurpose;
  if (purpose === undefined) return usage('--purpose is required');
  const purposeProblem = command.purposeProblem(purpose);
  if (purposeProblem) return usage(purposeProblem);
  const terms = termsProblem(purpose, values.terms);
  if (terms) return usage(terms);
  const port = Number(values.port);
  if (!Number.isInteger(port) || port < 1 || port > 65535) return usage(`--port must be a port number, got "${values.port}"`);
  const failed = command.failed(purpose);
  const token = pairingToken(values['token-file']);
  if (!token) {
    return report({ code: 'pairing_token_missing', messages: {
      ja: `リーダーエージェントのペアリングトークン（${values['token-file']}）がありません。先に npm run reader-agent でエージェントを起動してください（初回の起動で作られます）。`,
      en: `The reader agent's pairing token (${values['token-file']}) is missing. Start the agent first with npm run reader-agent (its first start makes the token).`,
    } }, failed);
  }
  const field = termsOf(purpose)?.requestField;
  const fields = { purpose, ...(values.reader ? { reader: values.reader } : {}), ...(field ? { [field]: values.terms! } : {}) };
  return { fields, port, token, failed };
}

/** Why --terms does not fit the purpose, in the words of the contract's terms of it (which field, which form), or undefined. */
function termsProblem(purpose: string, value: string | undefined): string | undefined {
  const terms = termsOf(purpose);
  if (!terms) return value === undefined ? undefined : `--terms goes only with a purpose that has terms (${PURPOSE_TEXTS.filter(([, t]) => t).map(([name]) => name).join(', ')})`;
  if (value === undefined) return `--purpose ${purpose} needs --terms ID: its ${terms.requestField}, which ${terms.requestError}`;
  return terms.requestPattern.test(value) ? undefined : `--terms ${terms.requestError}, got "${value}"`;
}

/** Prints `failure` after the command's first words (`failed`: ja, en); exit status 1. */
function report(failure: Failure, failed: readonly [ja: string, en: string]): number {
  process.stderr.write([
    `${failed[0]}: ${failure.messages.ja}`,
    `${failed[1]}: ${failure.messages.en}`,
    `  (${failure.code}${failure.requestId ? `, request ${failure.requestId}` : ''})`,
    '',
  ].join('\n'));
  return 1;
}

function pairingToken(file: string): string | undefined {
  if (process.env.READER_AGENT_TOKEN) return process.env.READER_AGENT_TOKEN;
  return existsSync(file) ? readFileSync(file, 'utf8').trim() : undefined;
}

/** Posts `body` to the agent's `path`; prints its answer (exit 0) or its refusal after `failed` (exit 1). */
export async function callAgent(port: number, token: string, path: string, body: object, failed: readonly [ja: string, en: string]): Promise<number> {
  const url = `http://127.0.0.1:${port}${path}`;
  let response: Response;
  try {
    response = await fetch(url, { method: 'POST', headers: { Authorization: `Bearer ${token}`, 'Content-Type': 'application/json' }, body: JSON.stringify(body) });
  } catch {
    return report({ code: 'agent_unreachable', messages: {
      ja: `リーダーエージェント（${url}）に接続できません。別のターミナルで npm run reader-agent を起動してから、もう一度お試しください。`,
      en: `Cannot reach the reader agent (${url}). Start it with npm run reader-agent in another terminal, then try again.`,
    } }, failed);
  }
  const answer = await response.json().catch(() => undefined) as Partial<Failure> | undefined;
  if (!response.ok) {
    if (typeof answer?.code === 'string' && answer.messages) return report(answer as Failure, failed);
    return report({ code: 'agent_unexpected_response', messages: {
      ja: `${url} からリーダーエージェントではない応答がありました（HTTP ${response.status}）。--port を確認してください。`,
      en: `Something other than the reader agent answered at ${url} (HTTP ${response.status}). Please check --port.`,
    } }, failed);
  }
  process.stdout.write(`${JSON.stringify(answer, null, 2)}\n`);
  return 0;
}
