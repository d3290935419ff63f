// Taps at a town service's counters: member numbers looked up per second through the real API
// server with 32 counters tapping at once, PIN-less and with the PIN, against the raw rate of a
// two-statement MySQL transaction (BEGIN; UPDATE one row; INSERT one row; COMMIT) with 32
// connections, measured in the same run on the same MariaDB.
//
// A PIN-less tap is one call, POST /auth/card-taps {purpose: service_lookup, certificate}: the
// certificate checked (revocation included), the device's service, the card's MyKey ID and its
// membership read (each read shared with the other counters' reads of the same moment), then the
// use and the idempotent answer committed with the other taps of the moment (group commit). A tap
// with the PIN is two: POST /auth/challenges {purpose: service_lookup} and POST
// /auth/card-sessions with the card's signature. The card's RSA signing is left out as in the
// other benches: PIN taps run in rounds — every challenge of the round fetched (timed), signed
// (not timed, the server idle), every card session sent (timed). Latency of a PIN tap = its two
// calls. Last, PIN-less taps offered at the aim's rate (half the raw rate) at a steady pace: the
// latency a counter sees when the town taps that fast.
//
// A library of the demo town with tap policy `tap`, served by 32 counters (enrolled devices);
// residents whose cards logged in once and linked a member number through the real API (the
// clerk's membership request, the card's service_link session). In a round every resident taps
// once. The counters call through a lean node:http client: the bench shares the server's cores.
// Every answer is checked (linked, the resident's own number), and at the end the service must
// hold exactly one use per tap. Per kind: CPU per tap of server, bench and MariaDB (when it runs
// here), and the statements MariaDB received per tap.
//
// Ends with one line of JSON; docs/benchmarks.md says what each figure means.
import { loadavg } from 'node:os';
import path from 'node:path';
import type { Knex } from 'knex';
import { createCa, type IssuedCertificate } from '@mykey/dev-tools/dev-ca/index.ts';
import { freePort } from '@mykey/dev-tools/ports.ts';
import { testDatabase, type Cleanup } from '../test/helpers/env.ts';
import { cardProof, enrollDevice, signInStaff, type Device } from '../test/helpers/identity.ts';
import { startServer, type BackendProcess } from '../test/helpers/processes.ts';
import { testIdentity } from '../test/helpers/server.ts';
import { cardsOnKeys, globalStatus, cpuMsOf, databasePid, keptAlive, leanPoster, crlWithRevocations, expectStatus, inPool, logger, machine, now, ownCpuMs, percentile, rawTransactionsPerSecond, round, runBenchmark, runDir, serverEnv, serverProfileArgs, setting } from './lib/bench.ts';

const COUNTERS = setting('BENCH_COUNTERS', 32);
const RESIDENTS = setting('BENCH_RESIDENTS', 256);
/** How long each kind of tap is measured for (timed phases only). */
const SECONDS = setting('BENCH_SECONDS', 10);
const BASELINE_SECONDS = setting('BENCH_BASELINE_SECONDS', 3);
/** RSA key generation takes ~0.1 s: the cards share this many keys. */
const KEYS = setting('BENCH_KEYS', 32);
/** Revoked serials on the CRL (none of them the bench's cards), as in card-session. */
const CRL_ENTRIES = setting('BENCH_CRL_ENTRIES', 10_000);
const WARM_UP_ROUNDS = 1;
/** The aim: PIN-less taps at half the raw rate at least. */
const AIM_RATIO = 0.5;

const log = logger('service-taps');

interface Resident { card: IssuedCertificate; memberNumber: string }
/** A counter as the timed phases use it: its POSTs through the bench's lean client. */
type Counter = ReturnType<typeof leanPoster>;
interface Tally { taps: number; ms: number; serverCpuMs: number; benchCpuMs: number; databaseCpuMs: number; latencies: number[]; statements: number }

const tally = (): Tally => ({ taps: 0, ms: 0, serverCpuMs: 0, benchCpuMs: 0, databaseCpuMs: 0, latencies: [], statements: 0 });

/** MariaDB's process, when it runs here (its CPU time is then counted too). */
let mariadbPid: number | undefined;
const databaseCpuMs = () => (mariadbPid === undefined ? 0 : cpuMsOf(mariadbPid));

/** Times `phase`, adding its wall time and the CPU time of server and bench to `into`. */
async function timed<T>(server: BackendProcess, into: Tally, phase: () => Promise<T>): Promise<T> {
  const [wall, serverCpu, benchCpu, dbCpu] = [now(), cpuMsOf(server.pid), ownCpuMs(), databaseCpuMs()];
  const result = await phase();
  into.ms += now() - wall;
  into.serverCpuMs += cpuMsOf(server.pid) - serverCpu;
  into.benchCpuMs += ownCpuMs() - benchCpu;
  into.databaseCpuMs += databaseCpuMs() - dbCpu;
  return result;
}

/** The answer of a tap must be the resident's own membership. */
function checkAnswer(what: string, reply: { status: number; body: any }, resident: Resident): void {
  const answer = expectStatus(what, reply, 201);
  if (answer.linked !== true || answer.memberNumber !== resident.memberNumber) throw new Error(`${what}: ${JSON.stringify(answer)}`);
}

/** Every resident taps once without the PIN, resident i at counter i (modulo), 32 at once. */
async function pinlessRound(server: BackendProcess, counters: Counter[], residents: Resident[], into: Tally): Promise<void> {
  await timed(server, into, () => inPool(residents, COUNTERS, async (resident, i) => {
    const started = now();
    const reply = await counters[i % counters.length]!('/api/v1/auth/card-taps', { purpose: 'service_lookup', certificate: resident.card.certificateDer.toString('base64') });
    into.latencies.push(now() - started);
    checkAnswer('PIN-less tap', reply, resident);
  }));
  into.taps += residents.length;
}

/**
 * PIN-less taps offered at `rate` a second, the counters taking turns (open loop): counter c's
 * k-th tap is due at (k + c/n) × n/rate, n counters. A counter taps one card at a time, so a tap due
 * while its counter is still waiting starts late, and its latency counts from when it was due,
 * not from when it started (no coordinated omission): what a resident in the queue would see.
 */
async function pacedTaps(server: BackendProcess, counters: Counter[], residents: Resident[], rate: number, into: Tally): Promise<void> {
  const interval = (counters.length / rate) * 1000;
  const start = now() + interval;
  await timed(server, into, () => Promise.all(counters.map(async (counter, c) => {
    for (let k = 0; ; k++) {
      const due = start + (k + c / counters.length) * interval;
      if (due - start >= SECONDS * 1000) return;
      if (due > now()) await new Promise((resolve) => setTimeout(resolve, due - now()));
      const resident = residents[(k * counters.length + c) % residents.length]!;
      const reply = await counter('/api/v1/auth/card-taps', { purpose: 'service_lookup', certificate: resident.card.certificateDer.toString('base64') });
      into.latencies.push(now() - due);
      checkAnswer('paced PIN-less tap', reply, resident);
      into.taps++;
    }
  })));
}

/** Every resident taps once with the PIN: all challenges, then (untimed) all signatures, then all card sessions. */
async function pinRound(server: BackendProcess, counters: Counter[], residents: Resident[], into: Tally): Promise<void> {
  const challengeLatency = new Array<number>(residents.length);
  const challenges = await timed(server, into, () => inPool(residents, COUNTERS, async (_, i) => {
    const started = now();
    const reply = await counters[i % counters.length]!('/api/v1/auth/challenges', { purpose: 'service_lookup' });
    challengeLatency[i] = now() - started;
    return expectStatus('challenge', reply, 201);
  }));
  // The card's part, outside the timed phases.
  const proofs = residents.map((resident, i) => cardProof(challenges[i], resident.card));
  await timed(server, into, () => inPool(residents, COUNTERS, async (resident, i) => {
    const started = now();
    const reply = await counters[i % counters.length]!('/api/v1/auth/card-sessions', proofs[i]);
    into.latencies.push(challengeLatency[i]! + now() - started);
    checkAnswer('PIN tap', reply, resident);
  }));
  into.taps += residents.length;
}

type Round = (server: BackendProcess, counters: Counter[], residents: Resident[], into: Tally) => Promise<void>;

/** The statements MariaDB has been sent since it started (its `Questions`), the asking one included. */
function statementsSoFar(db: Knex): Promise<number> {
  return globalStatus(db, 'Questions');
}

/** Runs `work`, adding the statements MariaDB received meanwhile (the counting one left out) to `into`. */
async function counting(db: Knex, into: Tally, work: () => Promise<void>): Promise<Tally> {
  const before = await statementsSoFar(db);
  await work();
  into.statements += (await statementsSoFar(db)) - before - 1;
  return into;
}

/** Rounds after a warm-up, until `SECONDS` of timed phases; the server's statements counted in MariaDB. */
async function measure(db: Knex, server: BackendProcess, counters: Counter[], residents: Resident[], round: Round): Promise<Tally> {
  for (let i = 0; i < WARM_UP_ROUNDS; i++) await round(server, counters, residents, tally());
  const into = tally();
  return counting(db, into, async () => {
    while (into.ms < SECONDS * 1000) await round(server, counters, residents, into);
  });
}

function figures(t: Tally) {
  const sorted = [...t.latencies].sort((a, b) => a - b);
  return {
    taps: t.taps,
    perSecond: round(t.taps / (t.ms / 1000)),
    p50Ms: percentile(sorted, 0.5),
    p99Ms: percentile(sorted, 0.99),
    serverCpuMsPerTap: round(t.serverCpuMs / t.taps, 3),
    benchCpuMsPerTap: round(t.benchCpuMs / t.taps, 3),
    ...(mariadbPid === undefined ? {} : { databaseCpuMsPerTap: round(t.databaseCpuMs / t.taps, 3) }),
    statementsPerTap: round(t.statements / t.taps, 2),
  };
}

async function run(cleanup: Cleanup): Promise<Record<string, unknown>> {
  const loadAverage = loadavg()[0]!;
  const dir = runDir(cleanup, 'service-taps');
  const { db, url } = await testDatabase(cleanup);
  await db.seed.run();
  mariadbPid = await databasePid(db);

  // Baseline first, with no server running.
  const rawPerSecond = await rawTransactionsPerSecond(url, COUNTERS, BASELINE_SECONDS);
  log(`raw MySQL transactions (UPDATE + INSERT): ${rawPerSecond}/s with ${COUNTERS} connections`);

  const ca = await createCa({ kind: 'auth' });
  const cards = await cardsOnKeys(ca, RESIDENTS, KEYS);
  await testIdentity(db, [ca.certificate]).addCrl(await crlWithRevocations(ca, CRL_ENTRIES));

  const port = await freePort();
  const server = await startServer(port, serverEnv(cleanup, url, dir, ca.certificatePem), { logFile: path.join(dir, 'server.log'), nodeArgs: serverProfileArgs() });
  cleanup(() => server.stop());
  const base = `http://127.0.0.1:${port}`;

  // The town's library, PIN-less taps allowed, and its counters.
  const city = await signInStaff(base, 'demo-city');
  const counters: Device[] = [];
  for (let c = 0; c < COUNTERS; c++) counters.push(await enrollDevice(base, city, `図書館カウンター${c + 1}`));
  const library = expectStatus('service', await city.post('/api/v1/services', { kind: 'library', nameJa: 'ベンチ市立図書館', nameEn: 'Bench City Library', tapPolicy: 'tap' }), 201);
  expectStatus('service devices', await city.put(`/api/v1/services/${library.id}/devices`, { deviceIds: counters.map((c) => c.id) }), 200);

  // Each card logs in once (its MyKey ID is issued), then links a member number as at the counter.
  const residents: Resident[] = await inPool(cards, 16, async (card, i) => {
    const counter = counters[i % counters.length]!;
    const memberNumber = `L${String(i + 1).padStart(7, '0')}`;
    const login = expectStatus('login challenge', await counter.post('/api/v1/auth/challenges', { purpose: 'login' }), 201);
    expectStatus('login', await counter.post('/api/v1/auth/card-sessions', cardProof(login, card)), 201);
    const request = expectStatus('membership request', await city.post(`/api/v1/services/${library.id}/membership-requests`, { action: 'link', memberNumber }), 201);
    const link = expectStatus('link challenge', await counter.post('/api/v1/auth/challenges', { purpose: 'service_link', membershipRequestId: request.requestId }), 201);
    expectStatus('link', await counter.post('/api/v1/auth/card-sessions', cardProof(link, card)), 201);
    return { card, memberNumber };
  });
  log(`a library with ${COUNTERS} counters, ${RESIDENTS} residents linked, a CRL of ${CRL_ENTRIES} serials`);

  const agent = keptAlive(COUNTERS);
  cleanup(() => agent.destroy());
  const tappers = counters.map((counter) => leanPoster(base, counter.token, agent));
  const pinless = figures(await measure(db, server, tappers, residents, pinlessRound));
  log(`PIN-less taps: ${JSON.stringify(pinless)}`);
  const pin = figures(await measure(db, server, tappers, residents, pinRound));
  log(`taps with the PIN: ${JSON.stringify(pin)}`);
  // The aim's rate offered steadily: the latency a counter sees when the town taps that fast.
  const aimRate = round(AIM_RATIO * rawPerSecond);
  const pacedTally = tally();
  const paced = { offeredPerSecond: aimRate, ...figures(await counting(db, pacedTally, () => pacedTaps(server, tappers, residents, aimRate, pacedTally))) };
  log(`PIN-less taps offered at ${aimRate}/s: ${JSON.stringify(paced)}`);

  // Every tap, warm-up included, logged exactly one use.
  const expectedUses = pinless.taps + pin.taps + paced.taps + 2 * WARM_UP_ROUNDS * RESIDENTS;
  const uses = Number((await db('service_uses').where({ service_id: library.id }).count({ n: '*' }))[0]?.n);
  if (uses !== expectedUses) throw new Error(`${uses} uses logged for ${expectedUses} taps`);

  return {
    benchmark: 'service-taps',
    tapsPerSecond: pinless.perSecond,
    rawTransactionsPerSecond: rawPerSecond,
    ratio: round(pinless.perSecond / rawPerSecond, 3),
    p50Ms: pinless.p50Ms,
    p99Ms: pinless.p99Ms,
    pinTapRatio: round(pin.perSecond / rawPerSecond, 3),
    pacedP50Ms: paced.p50Ms,
    pacedP99Ms: paced.p99Ms,
    aim: { ratioAtLeast: AIM_RATIO, p99MsBelow: 25 },
    pinless,
    pin,
    paced,
    counters: COUNTERS,
    residents: RESIDENTS,
    ...machine(loadAverage),
  };
}

await runBenchmark(run);
