// A card session through the whole stack (HTTP → agent → pcsclite → pcscd → vpcd → simulator,
// with the agent fetching its challenge from and handing the proof to a stand-in backend that
// answers at once) and the same card commands straight on the simulator's card model in
// process, in one run. Two floors: the card commands with no transport at all, and the bare
// transport (one SELECT after another on an open PC/SC connection), so the agent's own overhead
// is `stack ÷ (APDUs × one bare APDU)`. The real backend's share is card-session.bench.ts's.
// Ends with one line of JSON.
import { createHash, randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { canonicalChallenge } from '@mykey/contracts/challenge-text.ts';
import { writeEnrollment } from '../src/agent/enrollment.ts';
import { buildIdentity } from '../src/simulator/identity.ts';
import { JpkiCard } from '../src/simulator/card.ts';
import { guardedTransmit, type Transmit } from '../src/jpki/guard.ts';
import { JpkiSession } from '../src/jpki/commands.ts';
import { startPcscStack } from '../test/helpers/pcsc-stack.ts';
import { startAgent, waitForCard } from '../test/helpers/agent.ts';

const PIN = '1234';
const BARE_APDUS = Number(process.env.BENCH_BARE_APDUS ?? 40);
const SESSIONS = Number(process.env.BENCH_SESSIONS ?? 20);
const DEVICE_ID = 1;

interface Figure { operations: number; msPerOperation: number; apdusPerOperation: number }

async function timed(operations: number, apdus: () => number, operation: () => Promise<unknown>): Promise<Figure> {
  await operation(); // warm-up: JIT, connections, the card's first power-up
  const apdusBefore = apdus();
  const started = process.hrtime.bigint();
  for (let i = 0; i < operations; i++) await operation();
  const ms = Number(process.hrtime.bigint() - started) / 1e6;
  return { operations, msPerOperation: round(ms / operations), apdusPerOperation: round((apdus() - apdusBefore) / operations) };
}

function round(value: number): number {
  return Math.round(value * 1000) / 1000;
}

function overFloor(figure: Figure, apduMs: number): number {
  return round(figure.msPerOperation / (figure.apdusPerOperation * apduMs));
}

/** One APDU's round trip through pcscd and vpcd, with no agent, on an open connection. */
async function bareApduMs(socket: string): Promise<number> {
  process.env.PCSCLITE_CSOCK_NAME = socket; // read by libpcsclite when the context is made
  const pcsc = (await import('pcsclite')).default();
  pcsc.on('error', () => {});
  // vpcd shows two slots; both readers report errors when pcscd stops at the end.
  pcsc.on('reader', (any) => any.on('error', () => {}));
  try {
    const reader = await new Promise<Parameters<Parameters<typeof pcsc.on>[1]>[0]>((resolve) => pcsc.on('reader', resolve));
    await new Promise((resolve) => setTimeout(resolve, 300)); // let pcscd report the card
    const protocol = await new Promise<number>((resolve, reject) => reader.connect({ share_mode: reader.SCARD_SHARE_SHARED }, (e, p) => (e ? reject(e) : resolve(p))));
    const select = Buffer.from('00A4040C0AD392F000260100000001', 'hex');
    const once = () => new Promise((resolve, reject) => reader.transmit(select, 258, protocol, (e, d) => (e ? reject(e) : resolve(d))));
    const figure = await timed(BARE_APDUS, () => 0, once);
    await new Promise((resolve) => reader.disconnect(reader.SCARD_LEAVE_CARD, resolve));
    return figure.msPerOperation;
  } finally {
    pcsc.close();
  }
}

const identity = await buildIdentity({ authPin: PIN, signPin: 'ABC123', myNumber: '123456789018' });

// Straight on the card model: the same commands, through the same guard, no transport.
const card = new JpkiCard(identity.contents);
card.powerOn();
let directApdus = 0;
const raw: Transmit = async (command) => { directApdus += 1; return card.transmit(command); };
const session = async <T>(operation: (session: JpkiSession) => Promise<T>): Promise<T> => {
  try { return await operation(new JpkiSession(guardedTransmit(raw))); } finally { card.reset(); }
};
/** What the stand-in backend hands out: the canonical text for this device, as the real one does. */
function challenge() {
  const id = randomBytes(32).toString('base64url');
  const expiresAt = new Date(Date.now() + 60_000);
  return { challengeId: id, purpose: 'login', expiresAt: expiresAt.toISOString(), challenge: canonicalChallenge({ id, deviceId: DEVICE_ID, purpose: 'login', expiresAt }) };
}

const digest = createHash('sha256').update(challenge().challenge).digest();
const directSession = await timed(SESSIONS, () => directApdus, () => session(async (s) => { await s.readAuthCertificate(); await s.signDigest(PIN, digest); }));

// Answers the agent at once: challenges as the real backend words them, and any card session.
const backend = http.createServer((request, response) => {
  request.resume();
  request.on('end', () => {
    const answer = request.url === '/api/v1/auth/challenges'
      ? (({ challenge: text, ...rest }) => ({ ...rest, challenge: text.toString('base64') }))(challenge())
      : { purpose: 'login', revocationChecked: false, mykeyId: null };
    response.writeHead(201, { 'Content-Type': 'application/json' });
    response.end(JSON.stringify(answer));
  });
});
backend.listen(0, '127.0.0.1');
await new Promise((resolve) => backend.once('listening', resolve));

// Through the whole stack, with the same identity on the simulated card.
const dir = mkdtempSync(path.join(tmpdir(), 'card-bench-'));
const files = { cert: identity.authCertificatePem, key: identity.authPrivateKeyPem, ca: identity.authCaPem };
for (const [name, pem] of Object.entries(files)) writeFileSync(path.join(dir, `${name}.pem`), pem);
const backendUrl = `http://127.0.0.1:${(backend.address() as AddressInfo).port}`;
writeEnrollment(path.join(dir, 'mykey', 'reader-agent-enrollment.json'), { backendUrl, deviceId: DEVICE_ID, token: `mkd_${'A'.repeat(43)}` });
const stack = await startPcscStack({ simulatorArgs: ['--pin', PIN, ...Object.keys(files).flatMap((name) => [`--${name}`, path.join(dir, `${name}.pem`)])] });
try {
  const agent = await startAgent({ env: { ...stack.env, XDG_CONFIG_HOME: dir } });
  try {
    await waitForCard(agent);
    const stackApdus = () => stack.apduLog().filter((record) => record.type === 'apdu').length;
    const login = async () => {
      const { status, body } = await agent.call('POST', '/v1/card-sessions', { pin: PIN, purpose: 'login' });
      if (status !== 200) throw new Error(`/v1/card-sessions answered ${status}: ${JSON.stringify(body)}`);
    };
    const transportApdu = await bareApduMs(stack.env.PCSCLITE_CSOCK_NAME!);
    const stackSession = await timed(SESSIONS, stackApdus, login);
    console.log(JSON.stringify({
      benchmark: 'reader-agent',
      node: process.version,
      bareApduMs: transportApdu,
      cardSession: { stack: stackSession, direct: directSession, stackOverTransportFloor: overFloor(stackSession, transportApdu) },
    }));
  } finally {
    await agent.stop();
  }
} finally {
  await stack.stop();
  backend.close();
  rmSync(dir, { recursive: true, force: true });
}
