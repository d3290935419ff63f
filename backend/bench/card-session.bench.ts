// Card logins per second through the real API server, against the raw RSA-2048 verifications
// per second of node:crypto measured in the same run. The server is backend/src/server.ts in
// its own process, as in production (NODE_ENV=production, logging at info), on a database made
// for this run (migrated, seeded, dropped at the end), trusting a CA made for this run whose
// CRL is in MySQL. Devices enroll over HTTP as at a counter.
//
// A card session is two calls: POST /auth/challenges, then POST /auth/card-sessions with the
// card's signature of the challenge. The card's signing is not server work, so it is kept out
// of the measured time: sessions run in rounds — every challenge of a round is fetched (timed),
// then signed here (not timed), then every card session is sent (timed). The rate is sessions
// over the timed part only. Between the two timed phases the server is idle, so the bench
// process's own signing cannot steal CPU from it.
//
// Three kinds of login, each measured apart: a card's first (its MyKey ID is issued), a repeat
// login at a server that has not verified the card yet (the headline: the whole certificate
// check), and repeat logins of cards the server's CertificateVerifier has verified before.
//
// Ends with one line of JSON; docs/benchmarks.md says what each figure means.
import { randomBytes, sign, verify, createPublicKey, type KeyObject } from 'node:crypto';
import { loadavg } from 'node:os';
import path from 'node:path';
import { createCa, type CertificateAuthority, type IssuedCertificate } from '@mykey/dev-tools/dev-ca/index.ts';
import { freePort } from '@mykey/dev-tools/ports.ts';
import { testDatabase, type Cleanup } from '../test/helpers/env.ts';
import { startServer, type BackendProcess } from '../test/helpers/processes.ts';
import { testIdentity } from '../test/helpers/server.ts';
import { cardProof, cardSign, enrollDevice, signInStaff, type Device } from '../test/helpers/identity.ts';
import { canonicalChallenge, type Challenge } from '@mykey/contracts/challenge-text.ts';
import { verifyCardProof } from '../src/jpki/card-proof.ts';
import type { CertificateVerifier } from '../src/jpki/verifier.ts';
import { examineCertificate, verifyUserCertificate } from '../src/jpki/certificates.ts';
import { RevocationList } from '../src/jpki/revocation.ts';
import type * as pkijs from 'pkijs';
import { checkLedger } from '../src/ledger/check.ts';
import { grownTownSetting, loadGrownTown } from './lib/grown-town.ts';
import { cardsOnKeys, cpuMsOf, keptAlive, leanPoster, crlWithRevocations, inPool, logger, machine, now, ownCpuMs, percentile, rawTransactionsPerSecond, round, runBenchmark, runDir, serverEnv, serverProfileArgs, setting } from './lib/bench.ts';

const CARDS = setting('BENCH_CARDS', 1000);
// Enough requests in flight to keep the server's one event loop busy while each session waits
// on its MySQL round trips, and more than the knex pool (20) so the pool itself is saturated.
const CONCURRENCY = setting('BENCH_CONCURRENCY', 32);
const DEVICES = setting('BENCH_DEVICES', 8);
/** How long repeat logins are measured for (timed phases only). */
const SECONDS = setting('BENCH_SECONDS', 10);
/** How long each in-process baseline runs. */
const BASELINE_SECONDS = setting('BENCH_BASELINE_SECONDS', 3);
/** RSA key generation takes ~0.1 s: the cards share this many keys (the server caches nothing per key). */
const KEYS = setting('BENCH_KEYS', 50);
/** Revoked serials on the CRL (none of them the bench's cards): lookups are in a list of realistic size. */
const CRL_ENTRIES = setting('BENCH_CRL_ENTRIES', 10_000);
/** Sessions per round: fetched, signed and spent well inside a challenge's 60 seconds. */
const ROUND = 500;
const WARM_UP = Math.min(2 * CONCURRENCY, Math.floor(CARDS / 4));
/** BENCH_GROWN_RESIDENTS / BENCH_GROWN_ENTRIES: measure in a grown town (docs/benchmarks.md); none by default. */
const GROWN = grownTownSetting();

const log = logger('card-session');

/** Calls per second of `operation`, `concurrency` at a time, for `seconds`. */
async function rate(seconds: number, concurrency: number, operation: (i: number) => unknown): Promise<number> {
  let count = 0;
  const started = now();
  const deadline = started + seconds * 1000;
  const worker = async () => {
    while (now() < deadline) await operation(count++);
  };
  await Promise.all(Array.from({ length: concurrency }, worker));
  return round(count / ((now() - started) / 1000));
}

// ---- the cards, the CA and its CRL ----

async function makeCards(): Promise<{ ca: CertificateAuthority; cards: IssuedCertificate[]; crl: Buffer }> {
  const ca = await createCa({ kind: 'auth' });
  const cards = await cardsOnKeys(ca, CARDS, KEYS);
  return { ca, cards, crl: await crlWithRevocations(ca, CRL_ENTRIES) };
}

// ---- card sessions over HTTP ----

/** A card at a device, which calls through the lean kept-alive client (`fetch` would spend the shared cores: bench/lib). */
interface Slot { post: ReturnType<typeof leanPoster>; card: IssuedCertificate }

interface Tally { sessions: number; challengeMs: number; sessionMs: number; serverCpuMs: number; clientCpuMs: number; latencies: number[] }

const tally = (): Tally => ({ sessions: 0, challengeMs: 0, sessionMs: 0, serverCpuMs: 0, clientCpuMs: 0, latencies: [] });

/** Times `phase`, adding its wall time and the CPU time of server and bench to `into`. */
async function timed<T>(server: BackendProcess, into: Tally, field: 'challengeMs' | 'sessionMs', phase: () => Promise<T>): Promise<T> {
  const [wall, serverCpu, clientCpu] = [now(), cpuMsOf(server.pid), ownCpuMs()];
  const result = await phase();
  into[field] += now() - wall;
  into.serverCpuMs += cpuMsOf(server.pid) - serverCpu;
  into.clientCpuMs += ownCpuMs() - clientCpu;
  return result;
}

/** One round of card logins; every answer must be a login, a first one exactly when `firstLogin`. */
async function loginRound(server: BackendProcess, slots: Slot[], firstLogin: boolean, into: Tally): Promise<void> {
  const challenges = await timed(server, into, 'challengeMs', () => inPool(slots, CONCURRENCY, async ({ post }) => {
    const reply = await post('/api/v1/auth/challenges', { purpose: 'login' });
    if (reply.status !== 201) throw new Error(`challenge: ${reply.status} ${JSON.stringify(reply.body)}`);
    return reply.body;
  }));
  // The card's part, outside the timed phases.
  const proofs = slots.map((slot, i) => ({ slot, proof: cardProof(challenges[i], slot.card) }));
  await timed(server, into, 'sessionMs', () => inPool(proofs, CONCURRENCY, async ({ slot, proof }) => {
    const started = now();
    const reply = await slot.post('/api/v1/auth/card-sessions', proof);
    into.latencies.push(now() - started);
    if (reply.status !== 201 || reply.body.issued !== firstLogin || reply.body.revocationChecked !== true) {
      throw new Error(`card session: ${reply.status} ${JSON.stringify(reply.body)}`);
    }
  }));
  into.sessions += slots.length;
}

async function logins(server: BackendProcess, slots: Slot[], firstLogin: boolean, into = tally()): Promise<Tally> {
  for (let i = 0; i < slots.length; i += ROUND) await loginRound(server, slots.slice(i, i + ROUND), firstLogin, into);
  return into;
}

function figures(t: Tally) {
  const sorted = [...t.latencies].sort((a, b) => a - b);
  return {
    sessions: t.sessions,
    perSecond: round(t.sessions / ((t.challengeMs + t.sessionMs) / 1000)),
    cardSessionCallsPerSecond: round(t.sessions / (t.sessionMs / 1000)),
    p50Ms: percentile(sorted, 0.5),
    p99Ms: percentile(sorted, 0.99),
    serverCpuMsPerSession: round(t.serverCpuMs / t.sessions, 3),
    benchCpuMsPerSession: round(t.clientCpuMs / t.sessions, 3),
  };
}

// ---- in-process baselines ----

/** node:crypto alone: one RSA-2048 PKCS#1 v1.5 SHA-256 verification at a time, on this thread. */
async function rawRsaVerifyPerSecond(card: IssuedCertificate): Promise<number> {
  const key: KeyObject = createPublicKey(card.certificatePem);
  const message = randomBytes(200);
  const signature = sign('sha256', message, card.privateKeyPem);
  return rate(BASELINE_SECONDS, 1, () => {
    if (!verify('sha256', message, key, signature)) throw new Error('raw verification failed');
  });
}

/**
 * What CertificateVerifier.verify does for a certificate it has not seen (parse, profile, the
 * CA's signature, validity, CRL lookup), no HTTP, no MySQL: verifyUserCertificate itself.
 */
async function verifierPerSecond(anchor: pkijs.Certificate, crl: Buffer, cards: IssuedCertificate[]): Promise<number> {
  const list = new RevocationList([anchor]);
  await list.add(crl);
  return rate(BASELINE_SECONDS, CONCURRENCY, async (i) => {
    const verdict = await verifyUserCertificate(cards[i % cards.length]!.certificateDer, {
      anchors: [anchor], revocation: (issuer, serial, at) => list.status(issuer, serial, at), failClosed: true, now: new Date(),
    });
    if (!verdict.ok) throw new Error(`verifyUserCertificate: ${verdict.code}`);
  });
}

/**
 * Server CPU per certificate not seen before: examineCertificate (parse, profile checks, the CA's
 * signature: all that CertificateVerifier keeps per certificate) of every card once, one at a
 * time, and beside it as many raw RSA verifications, both as CPU milliseconds of this process
 * (process.cpuUsage): on a busy machine wall time says more about the neighbours than the code.
 */
async function examineCpuMs(anchor: pkijs.Certificate, cards: IssuedCertificate[]): Promise<{ examine: number; rawRsa: number }> {
  const examine = async (card: IssuedCertificate) => {
    const examined = await examineCertificate(card.certificateDer, [anchor]);
    if (!examined.ok) throw new Error(`examineCertificate: ${examined.code}`);
  };
  for (const card of cards.slice(0, WARM_UP)) await examine(card);
  let started = ownCpuMs();
  for (const card of cards) await examine(card);
  const examineMs = (ownCpuMs() - started) / cards.length;
  const key = createPublicKey(cards[0]!.certificatePem);
  const message = randomBytes(200);
  const signature = sign('sha256', message, cards[0]!.privateKeyPem);
  started = ownCpuMs();
  for (let i = 0; i < cards.length; i++) if (!verify('sha256', message, key, signature)) throw new Error('raw verification failed');
  return { examine: round(examineMs, 3), rawRsa: round((ownCpuMs() - started) / cards.length, 4) };
}

/** CertificateVerifier.verify for certificates it has verified before (one untimed pass first). */
async function verifierCachedPerSecond(verifier: CertificateVerifier, cards: IssuedCertificate[]): Promise<number> {
  const check = async (card: IssuedCertificate) => {
    const verdict = await verifier.verify(card.certificateDer, { valueMoving: false });
    if (!verdict.ok) throw new Error(`verifier: ${verdict.code}`);
  };
  await inPool(cards, CONCURRENCY, check);
  return rate(BASELINE_SECONDS, CONCURRENCY, (i) => check(cards[i % cards.length]!));
}

/** verifyCardProof with the certificate already verified before: the card's signature of a challenge. */
async function cardProofCachedPerSecond(verifier: CertificateVerifier, cards: IssuedCertificate[]): Promise<number> {
  const proofs = cards.slice(0, 200).map((card) => {
    const challenge: Challenge = { id: randomBytes(32).toString('base64url'), deviceId: 1, purpose: 'login', expiresAt: new Date(Date.now() + 3_600_000) };
    const text = canonicalChallenge(challenge);
    return { card, text, signature: cardSign(card, text) };
  });
  for (const { card } of proofs) await verifier.verify(card.certificateDer, { valueMoving: false });
  return rate(BASELINE_SECONDS, CONCURRENCY, async (i) => {
    const { card, text, signature } = proofs[i % proofs.length]!;
    await verifyCardProof(verifier, text, card.certificateDer, signature, { valueMoving: false, now: new Date() });
  });
}

// ---- the run ----

async function run(cleanup: Cleanup): Promise<Record<string, unknown>> {
  // Other work on the machine moves every figure; the reader should know how busy it was.
  const loadAverage = loadavg()[0]!;
  const dir = runDir(cleanup, 'card-session');
  let started = now();
  const { db, url } = await testDatabase(cleanup);
  await db.seed.run();
  const { ca, cards, crl } = await makeCards();
  const identity = testIdentity(db, [ca.certificate]);
  await identity.addCrl(crl);
  const town = await db('municipalities').first('code');
  const grown = GROWN && await loadGrownTown(db, town.code, GROWN.residents, GROWN.entries, log);
  log(`${CARDS} cards on ${Math.min(KEYS, CARDS)} keys, a CRL of ${CRL_ENTRIES} serials, database ${url.replace(/\/\/[^@]*@/, '//')} (${round((now() - started) / 1000)} s)`);

  // Baselines first, with no server running.
  const rawRsa = await rawRsaVerifyPerSecond(cards[0]!);
  const verifier = await verifierPerSecond(ca.certificate, crl, cards);
  const examineCpu = await examineCpuMs(ca.certificate, cards);
  const verifierCached = await verifierCachedPerSecond(identity.verifier, cards);
  const cardProofCached = await cardProofCachedPerSecond(identity.verifier, cards);
  // Issue 15's yardstick for every counter call: the raw two-statement MySQL transaction at the same concurrency.
  const rawTransactions = await rawTransactionsPerSecond(url, CONCURRENCY, BASELINE_SECONDS);
  log(`baselines: raw MySQL transactions ${rawTransactions}/s (${CONCURRENCY} connections), raw RSA verify ${rawRsa}/s (one thread), verifier ${verifier}/s, examineCertificate ${examineCpu.examine} CPU ms each (raw RSA verify ${examineCpu.rawRsa}), cached ${verifierCached}/s, verifyCardProof cached ${cardProofCached}/s`);

  const port = await freePort();
  const env = serverEnv(cleanup, url, dir, ca.certificatePem);
  const serverOptions = { logFile: path.join(dir, 'server.log'), nodeArgs: serverProfileArgs() };
  let server = await startServer(port, env, serverOptions);
  cleanup(() => server.stop());
  const base = `http://127.0.0.1:${port}`;
  const staff = await signInStaff(base, 'demo-city');
  const devices: Device[] = [];
  for (let i = 0; i < DEVICES; i++) devices.push(await enrollDevice(base, staff, `ベンチ${i + 1}`));
  const agent = keptAlive(CONCURRENCY);
  const posters = devices.map((device) => leanPoster(base, device.token, agent));
  const slots = cards.map((card, i) => ({ card, post: posters[i % DEVICES]! }));
  const [warmUp, measured] = [slots.slice(0, WARM_UP), slots.slice(WARM_UP)];

  // Each phase after a warm-up (JIT, connection pools) with cards not measured.
  await logins(server, warmUp, true);
  const first = figures(await logins(server, measured, true));
  log(`first logins: ${JSON.stringify(first)}`);
  // A fresh server process has verified none of the cards: each repeat login verifies its certificate in full.
  await server.stop();
  server = await startServer(port, env, serverOptions);
  await logins(server, warmUp, false);
  const repeat = figures(await logins(server, measured, false));
  log(`repeat logins: ${JSON.stringify(repeat)}`);
  // Then again and again, each certificate now held by the server's CertificateVerifier.
  const cached = tally();
  started = now();
  const size = Math.min(ROUND, CARDS);
  for (let offset = 0; cached.challengeMs + cached.sessionMs < SECONDS * 1000; offset = (offset + size) % CARDS) {
    await loginRound(server, [...slots, ...slots].slice(offset, offset + size), false, cached);
  }
  const repeatCached = figures(cached);
  log(`repeat logins, certificates seen before: ${JSON.stringify(repeatCached)} (${round((now() - started) / 1000)} s with signing)`);
  if (grown) {
    const report = await checkLedger(db);
    if (!report.ok) throw new Error(`ledger of the grown town: ${JSON.stringify(report.violations.slice(0, 20))}`);
    log(`ledger check of the grown town clean: ${JSON.stringify(report.checked)}`);
  }

  return {
    benchmark: 'card-session',
    cardSessionsPerSecond: repeat.perSecond,
    rawRsaVerifyPerSecond: rawRsa,
    ratio: round(repeat.perSecond / rawRsa, 4),
    rawTransactionsPerSecond: rawTransactions,
    ratioToRawTransactions: round(repeat.perSecond / rawTransactions, 3),
    cachedRatioToRawTransactions: round(repeatCached.perSecond / rawTransactions, 3),
    verifierPerSecond: verifier,
    examineCpuMsPerCertificate: examineCpu.examine,
    rawRsaVerifyCpuMs: examineCpu.rawRsa,
    // One examination in raw RSA verifications, both in CPU time: the CA's signature alone would make it 1.
    examineRatio: round(examineCpu.examine / examineCpu.rawRsa, 2),
    verifierCachedPerSecond: verifierCached,
    cardProofCachedPerSecond: cardProofCached,
    p50Ms: repeat.p50Ms,
    p99Ms: repeat.p99Ms,
    repeatLogins: repeat,
    repeatLoginsCached: repeatCached,
    firstLogins: first,
    concurrency: CONCURRENCY,
    devices: DEVICES,
    cards: CARDS,
    grownTown: grown,
    ...machine(loadAverage),
  };
}

await runBenchmark(run);
