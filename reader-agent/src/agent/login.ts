// `npm run reader-agent -- login`: a card login from the command line, through the running
// agent's local API, exactly as the console makes it. The PIN is read without echo and goes
// in the request body to the agent and from there to the card; it is never printed.
import { CHALLENGE_PURPOSES } from './card-login.ts';
import { callAgent, cardCommandOptionsHelp, prepareCardCommand, wrapped } from './card-command.ts';

export const LOGIN_HELP = `Usage: npm run reader-agent -- login [--purpose PURPOSE] [options]
       npm run reader-agent -- login --purpose payment --terms INTENT_ID [options]
       npm run reader-agent -- login --purpose service_link --terms MEMBERSHIP_REQUEST_ID [options]

Logs a resident in with the My Number card on this PC's reader (or has the card confirm another
purpose). Asks for the card's user-authentication PIN (4 digits, not shown while typed); the
running reader agent gets a challenge from the MyKey server, the card signs it, the server
checks it. Prints the server's answer as JSON: for a login, the resident's MyKey ID ("issued":
true the first time); for a payment, the receipt (receiptNo, amount, balanceAfter: the points
left to spend); for another purpose, what its server side answers.
The agent must be running (npm run reader-agent) and enrolled (see enroll --help).
When stdin is not a terminal, the PIN is its first line.

Options:
  --purpose P        what the signed challenge is for (default login):
${wrapped(CHALLENGE_PURPOSES.join(', '), 21)}
${cardCommandOptionsHelp()}

Exit status: 0 logged in, 1 refused or failed (why, in Japanese and English, on stderr),
2 wrong usage, 130 interrupted at the PIN prompt.`;

const PIN_PROMPT = '暗証番号（利用者証明用・数字4桁） / PIN (user authentication, 4 digits): ';
const MAX_STDIN_BYTES = 1024;

class Interrupted extends Error {}

/** The first words of a failure, where a purpose has its own; any other purpose's are a login's. */
const FAILED: Partial<Record<string, readonly [ja: string, en: string]>> = { payment: ['支払いできませんでした', 'Payment failed'] };

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

export async function loginCommand(args: string[]): Promise<number> {
  const prepared = prepareCardCommand(args, {
    help: LOGIN_HELP,
    defaultPurpose: 'login',
    purposeProblem: (purpose) => ((CHALLENGE_PURPOSES as readonly string[]).includes(purpose) ? undefined : `--purpose must be one of ${CHALLENGE_PURPOSES.join(', ')}, got "${purpose}"`),
    failed: (purpose) => FAILED[purpose] ?? ['ログインできませんでした', 'Login failed'],
  });
  if (typeof prepared === 'number') return prepared;
  let pin: string;
  try {
    pin = process.stdin.isTTY ? await promptPin() : await pinFromStdin();
  } catch (error) {
    if (error instanceof Interrupted) return 130;
    throw error;
  }
  return callAgent(prepared.port, prepared.token, '/v1/card-sessions', { pin, ...prepared.fields }, prepared.failed);
}
