// `npm run reader-agent -- login`: a card login from the command line, through the running
// agent's local API, exactly as the console makes it. The PIN is read without echo and goes
// in the request body to the agent and from there to the card; it is never printed.
import { existsSync, readFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { PURPOSE_TEXTS, termsFieldProblem } from '@mykey/contracts/challenge-text.ts';
import { CHALLENGE_PURPOSES, PAYMENT_INTENT_ID, type ChallengePurpose } from './card-login.ts';
import { defaultTokenFile } from './enrollment.ts';
import { DEFAULT_PORT } from './local-api.ts';

export const LOGIN_HELP = `Usage: npm run reader-agent -- login [--purpose PURPOSE] [options]
       npm run reader-agent -- login --purpose payment --intent INTENT_ID [options]

Logs a resident in with the My Number card on this PC's reader. Asks for the card's
user-authentication PIN (4 digits, not shown while typed); the running reader agent gets a
challenge from the MyKey server, the card signs it, the server checks it. Prints the server's
answer as JSON: for a login, the resident's MyKey ID ("issued": true the first time; a shop's
device is told "customer", the shop's pseudonym of the resident, instead); for a payment, the
receipt (receiptNo, amount, customer, balanceAfter: the points left to spend).
The agent must be running (npm run reader-agent) and enrolled (see enroll --help).
When stdin is not a terminal, the PIN is its first line.

Options:
  --purpose P        login (default), relink, counter_relink, payment or home_move: what the signed challenge is for
  --intent ID        with --purpose payment: the register's payment intent (pi_…), whose amount
                     and shop the card signs
  --reader NAME      the reader to use (default: the one with a card)
  --port N           the agent's port (default ${DEFAULT_PORT})
  --token-file FILE  the agent's pairing token (default ~/.config/mykey/reader-agent-token);
                     the environment variable READER_AGENT_TOKEN overrides it
  -h, --help         this text

Exit status: 0 logged in, 1 refused or failed (why, in Japanese and English, on stderr),
2 wrong usage, 130 interrupted at the PIN prompt.`;

const PIN_PROMPT = '暗証番号（利用者証明用・数字4桁） / PIN (user authentication, 4 digits): ';
const MAX_STDIN_BYTES = 1024;

interface Failure { code: string; messages: { ja: string; en: string }; requestId?: string }

class Interrupted extends Error {}

function usage(message: string): number {
  process.stderr.write(`${message}\n\n${LOGIN_HELP}\n`);
  return 2;
}

/** The first words of a failure, where a purpose has its own; any other purpose's are a login's. */
const FAILED: Partial<Record<string, readonly [ja: string, en: string]>> = { payment: ['支払いできませんでした', 'Payment failed'] };

function report(failure: Failure, purpose = 'login'): number {
  const [ja, en] = FAILED[purpose] ?? ['ログインできませんでした', 'Login failed'];
  process.stderr.write([
    `${ja}: ${failure.messages.ja}`,
    `${en}: ${failure.messages.en}`,
    `  (${failure.code}${failure.requestId ? `, request ${failure.requestId}` : ''})`,
    '',
  ].join('\n'));
  return 1;
}

/** The PIN typed at the terminal with nothing echoed; Backspace works, Ctrl-C gives up. */
function promptPin(): Promise<string> {
  const { stdin, stderr } = process;
  stderr.write(PIN_PROMPT);
  stdin.setRawMode(true);
  stdin.setEncoding('utf8');
  stdin.resume();
  return new Promise((resolve, reject) => {
    let pin = '';
    const finish = (outcome: () => void) => {
      stdin.off('data', onKeys);
      stdin.setRawMode(false);
      stdin.pause();
      stderr.write('\n');
      outcome();
    };
    const onKeys = (keys: string) => {
      for (const key of keys) {
        if (key === '\r' || key === '\n') return finish(() => resolve(pin));
        if (key === '\u0003' || key === '\u0004') return finish(() => reject(new Interrupted()));
        pin = key === '\u007f' || key === '\b' ? pin.slice(0, -1) : pin + key;
      }
    };
    stdin.on('data', onKeys);
  });
}

/** The first line of stdin (tests and scripts pipe the PIN in). */
async function pinFromStdin(): Promise<string> {
  let text = '';
  for await (const chunk of process.stdin) {
    text += String(chunk);
    if (text.includes('\n') || text.length > MAX_STDIN_BYTES) break;
  }
  return text.split(/\r?\n/)[0]!.slice(0, MAX_STDIN_BYTES);
}

function pairingToken(file: string): string | undefined {
  if (process.env.READER_AGENT_TOKEN) return process.env.READER_AGENT_TOKEN;
  return existsSync(file) ? readFileSync(file, 'utf8').trim() : undefined;
}

export async function loginCommand(args: string[]): Promise<number> {
  let values;
  try {
    ({ values } = parseArgs({
      args,
      options: {
        purpose: { type: 'string', default: 'login' },
        intent: { type: 'string' },
        reader: { type: 'string' },
        port: { type: 'string', default: String(DEFAULT_PORT) },
        'token-file': { type: 'string', default: defaultTokenFile() },
        help: { type: 'boolean', short: 'h' },
      },
    }));
  } catch (error) {
    return usage((error as Error).message);
  }
  if (values.help) {
    process.stdout.write(`${LOGIN_HELP}\n`);
    return 0;
  }
  if (!(CHALLENGE_PURPOSES as readonly string[]).includes(values.purpose)) return usage(`--purpose must be one of ${CHALLENGE_PURPOSES.join(', ')}, got "${values.purpose}"`);
  if (termsFieldProblem(PURPOSE_TEXTS, values.purpose, { paymentIntentId: values.intent })) return usage('--intent ID goes with --purpose payment, and only with it');
  if (values.intent !== undefined && !PAYMENT_INTENT_ID.test(values.intent)) return usage(`--intent must be a payment intent id (pi_ and 22 characters), got "${values.intent}"`);
  const port = Number(values.port);
  if (!Number.isInteger(port) || port < 1 || port > 65535) return usage(`--port must be a port number, got "${values.port}"`);
  const token = pairingToken(values['token-file']);
  const url = `http://127.0.0.1:${port}/v1/card-sessions`;
  if (!token) {
    return report({ code: 'pairing_token_missing', messages: {
      ja: `リーダーエージェントのペアリングトークン（${values['token-file']}）がありません。先に npm run reader-agent でエージェントを起動してください（初回の起動で作られます）。`,
      en: `The reader agent's pairing token (${values['token-file']}) is missing. Start the agent first with npm run reader-agent (its first start makes the token).`,
    } });
  }

  let pin: string;
  try {
    pin = process.stdin.isTTY ? await promptPin() : await pinFromStdin();
  } catch (error) {
    if (error instanceof Interrupted) return 130;
    throw error;
  }
  const body = {
    pin, purpose: values.purpose as ChallengePurpose, ...(values.reader ? { reader: values.reader } : {}), ...(values.intent ? { paymentIntentId: values.intent } : {}),
  };
  let response: Response;
  try {
    response = await fetch(url, { method: 'POST', headers: { Authorization: `Bearer ${token}`, 'Content-Type': 'application/json' }, body: JSON.stringify(body) });
  } catch {
    return report({ code: 'agent_unreachable', messages: {
      ja: `リーダーエージェント（${url}）に接続できません。別のターミナルで npm run reader-agent を起動してから、もう一度お試しください。`,
      en: `Cannot reach the reader agent (${url}). Start it with npm run reader-agent in another terminal, then try again.`,
    } });
  }
  const answer = await response.json().catch(() => undefined) as Partial<Failure> | undefined;
  if (!response.ok) {
    if (typeof answer?.code === 'string' && answer.messages) return report(answer as Failure, values.purpose);
    return report({ code: 'agent_unexpected_response', messages: {
      ja: `${url} からリーダーエージェントではない応答がありました（HTTP ${response.status}）。--port を確認してください。`,
      en: `Something other than the reader agent answered at ${url} (HTTP ${response.status}). Please check --port.`,
    } });
  }
  process.stdout.write(`${JSON.stringify(answer, null, 2)}\n`);
  return 0;
}
