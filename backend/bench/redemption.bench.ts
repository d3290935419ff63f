// Counter redemption: card payments per second through the real API server with 32 registers
// paying at once, against the raw rate of a two-statement MySQL transaction (BEGIN; UPDATE one
// row; INSERT one row; COMMIT) with 32 connections, measured in the same run on the same MariaDB.
//
// A payment as timed here is the backend's path from challenge to receipt: POST
// /auth/challenges {purpose: payment, paymentIntentId} and POST /auth/card-sessions with the
// card's signature — verification, the intent, the MyKey ID, the ledger entry, the receipt, in one
// transaction. The register's intent is opened before (timed apart) and the card's RSA signing
// (node:crypto here; a real card takes ~0.5 s that no server can shorten) is left out: payments
// run in rounds — every challenge of the round fetched (timed), signed (not timed, the server
// idle), every card session sent (timed). Latency of a payment = its two calls.
//
// 8 shops with 4 registers each (a device each), 256 residents whose cards logged in once and
// hold points; in a round no resident pays twice. Every answer is checked, and at the end the
// ledger check must be clean and hold exactly one payment entry per receipt.
//
// Ends with one line of JSON; docs/benchmarks.md says what each figure means.
import { randomUUID } from 'node:crypto';
import { loadavg } from 'node:os';
import path from 'node:path';
import { createCa, issueCrl, type IssuedCertificate } from '@mykey/dev-tools/dev-ca/index.ts';
import { DEMO_PASSWORD } from '@mykey/dev-tools/demo-towns.ts';
import { freePort } from '@mykey/dev-tools/ports.ts';
import { checkLedger } from '../src/ledger/check.ts';
import { creditConversions, inLedgerTransaction } from '../src/ledger/ledger.ts';
import { hashPassword } from '../src/staff/password.ts';
import { mykeySecret, staffPasswordCost } from '../src/config.ts';
import { customerOf } from '../src/mykey/pseudonym.ts';
import { testDatabase, type Cleanup } from '../test/helpers/env.ts';
import { cardProof, enrollDevice, signInStaff, type Staff } from '../test/helpers/identity.ts';
import { startServer, type BackendProcess } from '../test/helpers/processes.ts';
import { testIdentity } from '../test/helpers/server.ts';
import { grownTownSetting, loadGrownTown } from './lib/grown-town.ts';
import { cardsOnKeys, expectStatus, keptAlive, leanPoster, inPool, logger, machine, now, percentile, rawTransactionsPerSecond, round, runBenchmark, runDir, serverEnv, serverProfileArgs, setting } from './lib/bench.ts';

const REGISTERS = setting('BENCH_REGISTERS', 32);
const SHOPS = setting('BENCH_SHOPS', 8);
const RESIDENTS = setting('BENCH_RESIDENTS', 256);
/** How long payments are measured for (timed phases only). */
const SECONDS = setting('BENCH_SECONDS', 10);
const BASELINE_SECONDS = setting('BENCH_BASELINE_SECONDS', 3);
/** RSA key generation takes ~0.1 s: the cards share this many keys. */
const KEYS = setting('BENCH_KEYS', 32);
const POINTS_EACH = 1_000_000;
/** BENCH_GROWN_RESIDENTS / BENCH_GROWN_ENTRIES: measure in a grown town (docs/benchmarks.md); none by default. */
const GROWN = grownTownSetting();
const WARM_UP_ROUNDS = 2;

const log = logger('redemption');

/** A shop's register: its clerk, and its device calling through the lean kept-alive client (`fetch` would spend the shared cores: bench/lib). */
interface Register { shop: Staff; merchantId: number; post: ReturnType<typeof leanPoster> }
/** `customer`: the resident as each shop's receipts name them, by merchant id. */
interface Resident { card: IssuedCertificate; mykeyId: string; customer: Map<number, string> }
interface Tally { payments: number; points: number; intentMs: number; challengeMs: number; sessionMs: number; latencies: number[] }

/** Times `phase`, adding its wall time to `field`. */
async function timed<T>(into: Tally, field: 'intentMs' | 'challengeMs' | 'sessionMs', phase: () => Promise<T>): Promise<T> {
  const started = now();
  const result = await phase();
  into[field] += now() - started;
  return result;
}

/** One payment per resident of the round, register i paying the i-th (modulo) at once with the others. */
async function paymentRound(registers: Register[], residents: Resident[], into: Tally): Promise<void> {
  const payments = residents.map((resident, i) => ({ resident, register: registers[i % registers.length]!, amount: 1 + (i % 500) }));
  const intents = await timed(into, 'intentMs', () => inPool(payments, REGISTERS, ({ register, amount }) =>
    register.shop.post('/api/v1/merchant/payment-intents', { amount }).then((reply) => expectStatus('intent', reply, 201).intentId as string)));
  const challengeLatency = new Array<number>(payments.length);
  const challenges = await timed(into, 'challengeMs', () => inPool(payments, REGISTERS, async ({ register }, i) => {
    const started = now();
    const reply = await register.post('/api/v1/auth/challenges', { purpose: 'payment', paymentIntentId: intents[i] });
    challengeLatency[i] = now() - started;
    return expectStatus('challenge', reply, 201);
  }));
  // The card's part, outside the timed phases.
  const proofs = payments.map((payment, i) => cardProof(challenges[i], payment.resident.card));
  await timed(into, 'sessionMs', () => inPool(payments, REGISTERS, async ({ register, resident, amount }, i) => {
    const started = now();
    const reply = await register.post('/api/v1/auth/card-sessions', proofs[i]);
    into.latencies.push(challengeLatency[i]! + now() - started);
    const receipt = expectStatus('payment', reply, 201);
    if (receipt.intentId !== intents[i] || receipt.amount !== amount || receipt.customer !== resident.customer.get(register.merchantId)) throw new Error(`receipt: ${JSON.stringify(receipt)}`);
  }));
  into.payments += payments.length;
  into.points += payments.reduce((sum, p) => sum + p.amount, 0);
}

async function run(cleanup: Cleanup): Promise<Record<string, unknown>> {
  const loadAverage = loadavg()[0]!;
  const dir = runDir(cleanup, 'redemption');
  const { db, url } = await testDatabase(cleanup);
  await db.seed.run();

  const ca = await createCa({ kind: 'auth' });
  const cards = await cardsOnKeys(ca, RESIDENTS, KEYS);
  const identity = testIdentity(db, [ca.certificate]);
  await identity.addCrl((await issueCrl(ca, { revoked: [], thisUpdate: new Date(Date.now() - 3_600_000) })).der);

  // Shops of the demo town, each with a clerk.
  const town = await db('municipalities').first('code');
  const passwordHash = await hashPassword(DEMO_PASSWORD, staffPasswordCost());
  const merchantIds: number[] = [];
  for (let s = 0; s < SHOPS; s++) {
    const [merchantId] = await db('merchants').insert({ municipality_code: town.code, slug: `bench-shop-${s}`, name_ja: `ベンチ商店${s + 1}`, name_en: `Bench shop ${s + 1}`, status: 'approved' });
    await db('staff_accounts').insert({ login_id: `bench-clerk-${s}`, display_name: `店員${s + 1}`, organization_kind: 'merchant', roles: 'owner', merchant_id: merchantId, password_hash: passwordHash });
    merchantIds.push(Number(merchantId));
  }
  const grown = GROWN && await loadGrownTown(db, town.code, GROWN.residents, GROWN.entries, log);

  // The baseline with no server running, in the town as it is now (grown or not), as card-session's.
  const rawPerSecond = await rawTransactionsPerSecond(url, REGISTERS, BASELINE_SECONDS);
  log(`raw MySQL transactions (UPDATE + INSERT): ${rawPerSecond}/s with ${REGISTERS} connections`);

  const port = await freePort();
  const env = serverEnv(cleanup, url, dir, ca.certificatePem);
  const secret = mykeySecret({ NODE_ENV: 'test', MYKEY_SECRET: env.MYKEY_SECRET });
  const server: BackendProcess = await startServer(port, env, { logFile: path.join(dir, 'server.log'), nodeArgs: serverProfileArgs() });
  cleanup(() => server.stop());
  const base = `http://127.0.0.1:${port}`;

  const clerks = await Promise.all(Array.from({ length: SHOPS }, (_, s) => signInStaff(base, `bench-clerk-${s}`)));
  const registers: Register[] = [];
  const agent = keptAlive(REGISTERS);
  for (let r = 0; r < REGISTERS; r++) {
    const shop = clerks[r % SHOPS]!;
    registers.push({ shop, merchantId: merchantIds[r % SHOPS]!, post: leanPoster(base, (await enrollDevice(base, shop, `レジ${r + 1}`)).token, agent) });
  }
  // Each card logs in once (its MyKey ID is issued) and receives points, as from a partner.
  const city = await signInStaff(base, 'demo-city');
  const counter = await enrollDevice(base, city, 'ベンチ窓口');
  const partner = await db('partners').first('id');
  const residents: Resident[] = await inPool(cards, 16, async (card) => {
    const challenge = expectStatus('login challenge', await counter.post('/api/v1/auth/challenges', { purpose: 'login' }), 201);
    const { mykeyId } = expectStatus('login', await counter.post('/api/v1/auth/card-sessions', cardProof(challenge, card)), 201);
    await inLedgerTransaction(db, (trx) => creditConversions(trx, [{ reference: `bench:${randomUUID()}`, municipalityCode: town.code, mykeyId, partnerId: Number(partner.id), points: POINTS_EACH }]));
    return { card, mykeyId, customer: new Map(merchantIds.map((id) => [id, customerOf(secret, id, mykeyId)])) };
  });
  log(`${SHOPS} shops, ${REGISTERS} registers, ${RESIDENTS} residents with ${POINTS_EACH} points each`);

  const warmUp: Tally = { payments: 0, points: 0, intentMs: 0, challengeMs: 0, sessionMs: 0, latencies: [] };
  for (let i = 0; i < WARM_UP_ROUNDS; i++) await paymentRound(registers, residents, warmUp);
  const tally: Tally = { payments: 0, points: 0, intentMs: 0, challengeMs: 0, sessionMs: 0, latencies: [] };
  while (tally.challengeMs + tally.sessionMs < SECONDS * 1000) await paymentRound(registers, residents, tally);

  const report = await checkLedger(db);
  const entries = Number((await db('ledger_entries').where({ kind: 'payment' }).count({ n: '*' }).first())!.n) - (grown?.payments ?? 0);
  if (!report.ok || entries !== warmUp.payments + tally.payments) throw new Error(`ledger after the run: ${entries} payment entries for ${warmUp.payments + tally.payments} receipts, ${JSON.stringify(report.violations)}`);

  const sorted = [...tally.latencies].sort((a, b) => a - b);
  const paymentsPerSecond = round(tally.payments / ((tally.challengeMs + tally.sessionMs) / 1000));
  const figures = {
    payments: tally.payments,
    challengeCallsPerSecond: round(tally.payments / (tally.challengeMs / 1000)),
    cardSessionCallsPerSecond: round(tally.payments / (tally.sessionMs / 1000)),
    intentsPerSecond: round(tally.payments / (tally.intentMs / 1000)),
  };
  log(`payments: ${paymentsPerSecond}/s, p50 ${percentile(sorted, 0.5)} ms, p99 ${percentile(sorted, 0.99)} ms; ${JSON.stringify(figures)}; ledger check clean`);
  return {
    benchmark: 'redemption',
    paymentsPerSecond,
    rawTransactionsPerSecond: rawPerSecond,
    ratio: round(paymentsPerSecond / rawPerSecond, 3),
    p50Ms: percentile(sorted, 0.5),
    p99Ms: percentile(sorted, 0.99),
    aim: { ratioAtLeast: 0.5, p99MsBelow: 25 },
    ...figures,
    registers: REGISTERS,
    shops: SHOPS,
    residents: RESIDENTS,
    grownTown: grown,
    ...machine(loadAverage),
  };
}

await runBenchmark(run);
