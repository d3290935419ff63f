// The reader agent for a counter PC: `npm run reader-agent -- [options]`,
// `npm run reader-agent -- enroll CODE --backend URL` to enroll it as a device, and
// `npm run reader-agent -- login` to log a resident in with the card through the running agent,
// `npm run reader-agent -- tap --purpose P` for a PIN-less tap through it,
// and `npm run reader-agent -- pairing` to show what to enter in the console to pair it.
import { once } from 'node:events';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { PcscService } from '../pcsc/pcsc.ts';
import { BackendClient, insecureBackendProblem } from './backend-client.ts';
import type { EnrolledDevice } from './card-login.ts';
import { enrollCommand } from './enroll.ts';
import { defaultEnrollmentFile, defaultTokenFile, readEnrollment } from './enrollment.ts';
import { createLocalApi, DEFAULT_PORT } from './local-api.ts';
import { loginCommand } from './login.ts';
import { tapCommand } from './tap.ts';
import { JournalSender, TapJournal } from './tap-journal.ts';
import { agentAddress, ensurePairingToken, pairingCommand } from './pairing.ts';

if (process.argv[2] === 'enroll') process.exit(await enrollCommand(process.argv.slice(3)));
if (process.argv[2] === 'login') process.exit(await loginCommand(process.argv.slice(3)));
if (process.argv[2] === 'tap') process.exit(await tapCommand(process.argv.slice(3)));
if (process.argv[2] === 'pairing') process.exit(pairingCommand(process.argv.slice(3)));

const HELP = `Usage: npm run reader-agent -- [options]
       npm run reader-agent -- enroll CODE --backend URL [--name NAME]   (see enroll --help)
       npm run reader-agent -- login [--purpose PURPOSE]                 (see login --help)
       npm run reader-agent -- tap --purpose PURPOSE                     a PIN-less tap (see tap --help)
       npm run reader-agent -- pairing        what to enter in the console to pair it (see pairing --help)

Watches the PC/SC card readers of this PC and lets the MyKey console in the browser log a
resident in (or take a payment) with the My Number card and its PIN: the card signs only the
MyKey server's own challenge, and its proof goes to the server, not to the page. For a purpose
the server takes a PIN-less tap for, it reads the card's certificate and sends it to the server. After a wrong
PIN the card must be taken off the reader and placed again before the next PIN; with one try
left no PIN is taken. Listens on 127.0.0.1 only. The server's address must be https://
(plain http:// only on this PC itself, or with NODE_ENV=development).

Options:
  --port N              local API port (default ${DEFAULT_PORT})
  --allow-origin URL    console origin allowed to call the agent; repeat for several
                        (default http://127.0.0.1:3000 and http://localhost:3000)
  --token-file FILE     pairing token, created (mode 600) if missing
                        (default ~/.config/mykey/reader-agent-token)
                        The environment variable READER_AGENT_TOKEN overrides the file.
  --enrollment-file FILE
                        what \`enroll\` saved: the server, this device's id and token
                        (default ~/.config/mykey/reader-agent-enrollment.json)
  -h, --help            this text

Logs are JSON lines on stdout. They never contain a PIN, a token or a request body.`;

const { values } = parseArgs({
  options: {
    port: { type: 'string', default: String(DEFAULT_PORT) },
    'allow-origin': { type: 'string', multiple: true },
    'token-file': { type: 'string', default: defaultTokenFile() },
    'enrollment-file': { type: 'string', default: defaultEnrollmentFile() },
    help: { type: 'boolean', short: 'h' },
  },
});

if (values.help) {
  console.log(HELP);
  process.exit(0);
}

const log = (entry: Record<string, unknown>) => process.stdout.write(`${JSON.stringify({ time: new Date().toISOString(), ...entry })}\n`);

function pairingToken(file: string): string {
  const { token, created } = ensurePairingToken(file);
  if (created) log({ level: 'info', msg: 'created a pairing token', tokenFile: file });
  return token;
}

/** The backend as this enrolled device, or null (card login then waits for an enrollment). */
function enrolledDevice(file: string): EnrolledDevice | null {
  const state = readEnrollment(file);
  if (!state.enrolled) {
    log({ level: 'warn', msg: 'not enrolled: issue a code in the console and run `npm run reader-agent -- enroll CODE --backend URL`', enrollmentFile: file, ...(state.problem ? { problem: state.problem } : {}) });
    return null;
  }
  const { backendUrl, deviceId } = state.enrollment;
  const insecure = insecureBackendProblem(backendUrl);
  if (insecure) {
    // Refused, not run unenrolled: a clerk would otherwise be told to enroll an enrolled PC.
    process.stderr.write(`リーダーエージェントを起動できません: ${insecure.ja}\n（登録ファイル: ${file}。https:// のアドレスで登録し直してください。）\n`
      + `The reader agent cannot start: ${insecure.en}\n(Enrollment file: ${file}. Enroll again with the https:// address.)\n`);
    process.exit(1);
  }
  log({ level: 'info', msg: 'enrolled', backendUrl, deviceId });
  return { backend: new BackendClient(backendUrl, state.enrollment.token), deviceId };
}

const port = Number(values.port);
if (!Number.isInteger(port) || port < 1 || port > 65535) {
  console.error(`--port must be a port number, got "${values.port}"`);
  process.exit(2);
}
const allowedOrigins = values['allow-origin'] ?? ['http://127.0.0.1:3000', 'http://localhost:3000'];
const device = enrolledDevice(values['enrollment-file']);
/** How often taps waiting in the journal are offered to the backend again. */
const JOURNAL_RETRY_MS = 5_000;
// Taps that wait for the backend: sent now (what a restart left), then whenever some wait.
const journal = device && new JournalSender(new TapJournal(path.dirname(values['enrollment-file'])), device, log);
if (journal) {
  void journal.drain();
  setInterval(() => { if (journal.waiting > 0) void journal.drain(); }, JOURNAL_RETRY_MS).unref();
}
const pcsc = new PcscService();
pcsc.on('available', (available) => log(available ? { level: 'info', msg: 'pcscd connected' } : {
  level: 'warn', msg: 'pcscd unavailable; retrying', hint: 'pcscd must be running: under systemd it starts on demand once installed; otherwise start it as root: pcscd',
}));
pcsc.on('change', (readers) => log({ level: 'info', msg: 'readers', readers }));
pcsc.start();
const server = createLocalApi({ pcsc, token: pairingToken(values['token-file']), allowedOrigins, port, log, device, journal });
server.listen(port, '127.0.0.1');
await once(server, 'listening');
log({ level: 'info', msg: 'listening', url: `${agentAddress(port)}/`, allowedOrigins });
// The command prints the token for the clerk to type; the log itself never holds it.
const portOption = port === DEFAULT_PORT ? '' : ` --port ${port}`;
const tokenFileOption = values['token-file'] === defaultTokenFile() ? '' : ` --token-file ${values['token-file']}`;
log({ level: 'info', msg: 'to pair the console on this PC, run this and enter what it prints under カードリーダー接続', command: `npm run reader-agent -- pairing${portOption}${tokenFileOption}` });

function shutdown(): void {
  pcsc.stop();
  server.closeAllConnections();
  server.close(() => process.exit(0));
}
process.once('SIGTERM', shutdown);
process.once('SIGINT', shutdown);
