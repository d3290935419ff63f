// Reading an identity and signing a challenge, through the whole stack (HTTP → agent →
// pcsclite → pcscd → vpcd → simulator) and straight on the simulator's card model in
// process, in one run. Two floors: the card commands with no transport at all, and the
// bare transport (one SELECT after another on an open PC/SC connection), so the agent's own
// overhead is `stack ÷ (APDUs × one bare APDU)`. Ends with one line of JSON.
import { createHash } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { buildIdentity } from '../src/simulator/identity.ts';
import { JpkiCard } from '../src/simulator/card.ts';
import { guardedTransmit, type Transmit } from '../src/jpki/guard.ts';
import { JpkiSession } from '../src/jpki/commands.ts';
import { startPcscStack } from '../test/helpers/pcsc-stack.ts';
import { startAgent } from '../test/helpers/agent.ts';

const PIN = '1234';
const READS = Number(process.env.BENCH_READS ?? 40);
const SIGNATURES = Number(process.env.BENCH_SIGNATURES ?? 20);
const CHALLENGE = Buffer.from('bench-challenge');

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
    const figure = await timed(READS, () => 0, once);
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
const digest = createHash('sha256').update(CHALLENGE).digest();
const directRead = await timed(READS, () => directApdus, () => session(async (s) => { await s.readAuthCertificate(); await s.pinTriesLeft(); }));
const directSign = await timed(SIGNATURES, () => directApdus, () => session(async (s) => { await s.readAuthCertificate(); await s.signDigest(PIN, digest); }));

// Through the whole stack, with the same identity on the simulated card.
const dir = mkdtempSync(path.join(tmpdir(), 'card-bench-'));
const files = { cert: identity.authCertificatePem, key: identity.authPrivateKeyPem, ca: identity.authCaPem };
for (const [name, pem] of Object.entries(files)) writeFileSync(path.join(dir, `${name}.pem`), pem);
const stack = await startPcscStack({ simulatorArgs: ['--pin', PIN, ...Object.keys(files).flatMap((name) => [`--${name}`, path.join(dir, `${name}.pem`)])] });
try {
  const agent = await startAgent(stack);
  try {
    const stackApdus = () => stack.apduLog().filter((record) => record.type === 'apdu').length;
    const call = async (route: string, body: unknown) => {
      const { status } = await agent.call('POST', route, body);
      if (status !== 200) throw new Error(`${route} answered ${status}`);
    };
    const transportApdu = await bareApduMs(stack.env.PCSCLITE_CSOCK_NAME!);
    const stackRead = await timed(READS, stackApdus, () => call('/v1/identity', {}));
    const stackSign = await timed(SIGNATURES, stackApdus, () => call('/v1/signatures', { pin: PIN, challenge: CHALLENGE.toString('base64') }));
    console.log(JSON.stringify({
      benchmark: 'reader-agent',
      node: process.version,
      bareApduMs: transportApdu,
      identityRead: { stack: stackRead, direct: directRead, stackOverTransportFloor: overFloor(stackRead, transportApdu) },
      signature: { stack: stackSign, direct: directSign, stackOverTransportFloor: overFloor(stackSign, transportApdu) },
    }));
  } finally {
    await agent.stop();
  }
} finally {
  await stack.stop();
  rmSync(dir, { recursive: true, force: true });
}
