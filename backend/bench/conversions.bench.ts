// Partner conversions end to end: BENCH_CONVERSIONS (200,000) conversions sent to the real API
// server as signed batch files, credited by a real worker process, measured from the first
// request to the last credit (docs/benchmarks.md#conversions). Beside it, in the same run and
// against the same MySQL and Redis: Bull's rate for empty jobs at the worker's concurrency, and
// the raw rate of a single-row MySQL transaction (UPDATE one row + INSERT one row) at the same
// concurrency. Then a smaller run of single requests (BENCH_SINGLE), the other way partners
// send. Every conversion is checked credited, the ledger checked, and one line of JSON printed.
import { loadavg } from 'node:os';
import path from 'node:path';
import type { Knex } from 'knex';
import { createCa } from '@mykey/dev-tools/dev-ca/index.ts';
import { freePort } from '@mykey/dev-tools/ports.ts';
import { waitFor } from '@mykey/dev-tools/wait.ts';
import { loadConfig } from '../src/config.ts';
import type { Db } from '../src/db.ts';
import { checkLedger } from '../src/ledger/check.ts';
import { newPartnerSecret } from '../src/partners/credentials.ts';
import { setPartnerCredentials } from '../src/partners/service.ts';
import { partnerKey } from '@mykey/contracts/partner-signature.ts';
import { createQueue } from '../src/queue.ts';
import { queuePrefix, redisUrl, testDatabase, type Cleanup } from '../test/helpers/env.ts';
import { town } from '../test/helpers/ledger.ts';
import { startServer, startWorker } from '../test/helpers/processes.ts';
import { PartnerClient, PartnerSimulator, WebhookReceiver } from '@mykey/dev-tools/partner-sim/index.ts';
import { logger, machine, now, rawTransactionsPerSecond, residents, round, runBenchmark, runDir, serverEnv, setting } from './lib/bench.ts';

const CONVERSIONS = setting('BENCH_CONVERSIONS', 200_000);
/** Lines per batch file, and files uploaded at once. */
const BATCH_LINES = setting('BENCH_BATCH_LINES', 10_000);
const UPLOADS = setting('BENCH_UPLOADS', 2);
/** Single requests after the batches, and how many in flight. */
const SINGLE = setting('BENCH_SINGLE', 20_000);
const SINGLE_CONCURRENCY = setting('BENCH_SINGLE_CONCURRENCY', 64);
const RESIDENTS = setting('BENCH_RESIDENTS', 10_000);
/** The worker's own settings: config.ts's defaults unless these are set, so the bench measures what runs. */
const WORKER_SETTINGS = ['CONVERSION_CONCURRENCY', 'CONVERSION_TRANSACTIONS', 'CONVERSION_BATCH_SIZE'] as const;
/** Transactions in flight for the raw MySQL baseline (one connection each). */
const RAW_CONCURRENCY = setting('BENCH_RAW_CONCURRENCY', 32);
/** Rows the raw transactions spread over, enough that they do not wait on each other's locks. */
const RAW_ROWS = 1_000;
const BULL_JOBS = setting('BENCH_BULL_JOBS', 50_000);
const BASELINE_SECONDS = setting('BENCH_BASELINE_SECONDS', 5);

const log = logger('conversions');

// ---- baselines ----

/** Bull alone: `jobs` empty jobs added in bulk and processed with `concurrency`, first add to last completion. */
async function bullEmptyJobsPerSecond(prefix: string, jobs: number, concurrency: number): Promise<number> {
  const queue = createQueue<{ n: number }>('bench-empty', { REDIS_URL: redisUrl(), QUEUE_PREFIX: prefix });
  try {
    let done = 0;
    const finished = new Promise<void>((resolve) => {
      void queue.process(concurrency, async () => {
        if (++done === jobs) resolve();
      });
    });
    const started = now();
    for (let i = 0; i < jobs; i += 1_000) {
      await queue.addBulk(Array.from({ length: Math.min(1_000, jobs - i) }, (_, j) => ({ data: { n: i + j }, opts: { jobId: String(i + j), removeOnComplete: true } })));
    }
    await finished;
    return round(jobs / ((now() - started) / 1000));
  } finally {
    await queue.close();
  }
}

// ---- the platform ----

/** When every conversion of the partner is past `accepted`, the time of the last credit (ms since the epoch). */
async function lastCredit(db: Db, partnerId: number, expected: number, timeoutMs: number): Promise<number> {
  const requests = () => db('conversion_requests').where({ partner_id: partnerId });
  await waitFor(`${expected} conversions to be credited`, async () =>
    (await countOf(requests().where({ state: 'accepted' }))) === 0 && (await countOf(requests())) === expected, timeoutMs);
  const [row] = await requests().max({ last: 'finished_at' });
  return new Date(row!.last).getTime();
}

async function countOf(query: Knex.QueryBuilder): Promise<number> {
  const [row] = await query.count({ n: '*' });
  return Number((row as { n: number | string }).n);
}

async function run(cleanup: Cleanup): Promise<Record<string, unknown>> {
  const loadAverage = loadavg()[0]!;
  const dir = runDir(cleanup, 'conversions');
  const { db, url } = await testDatabase(cleanup);
  // Premiums from a campaign whose budget never runs out: every conversion posts three accounts.
  const city = await town(db, { premiumPercent: 10, budgetPoints: 1_000_000_000, capPerResidentPoints: 10_000_000 });
  const mykeyIds = await residents(db, RESIDENTS, city.code);
  log(`database ${url.replace(/\/\/[^@]*@/, '//')}, ${RESIDENTS} residents`);

  const ca = await createCa({ kind: 'auth' });
  const env = { ...serverEnv(cleanup, url, dir, ca.certificatePem), ...Object.fromEntries(WORKER_SETTINGS.flatMap((name) => process.env[name] ? [[name, process.env[name]]] : [])) };
  const { CONVERSION_CONCURRENCY: JOB_CONCURRENCY, CONVERSION_TRANSACTIONS: TRANSACTIONS, CONVERSION_BATCH_SIZE: BATCH_SIZE } = loadConfig(env);

  const rawPerSecond = await rawTransactionsPerSecond(url, RAW_CONCURRENCY, BASELINE_SECONDS, RAW_ROWS);
  log(`raw MySQL single-row transactions: ${rawPerSecond}/s with ${RAW_CONCURRENCY} connections`);
  // The Bull baseline runs empty jobs at the worker's concurrency.
  const bullPerSecond = await bullEmptyJobsPerSecond(queuePrefix(cleanup), BULL_JOBS, JOB_CONCURRENCY);
  log(`Bull empty jobs: ${bullPerSecond}/s (${BULL_JOBS} jobs, concurrency ${JOB_CONCURRENCY})`);

  const { slug } = await db('partners').where({ id: city.partnerId }).first('slug');
  const apiSecret = newPartnerSecret();
  // No webhook URL: the partner polls, and the figures are the conversions' alone.
  await setPartnerCredentials(db, Buffer.from(env.MYKEY_SECRET!, 'hex'), slug, { apiSecret, webhookUrl: null });
  const port = await freePort();
  const server = await startServer(port, env, { logFile: path.join(dir, 'server.log') });
  cleanup(() => server.stop());
  const worker = await startWorker(env, { logFile: path.join(dir, 'worker.log') });
  cleanup(() => worker.stop());
  const identity = { partner: slug as string, key: partnerKey(apiSecret) };
  const client = new PartnerClient({ ...identity, baseUrl: `http://127.0.0.1:${port}`, timeoutMs: 600_000 });

  // Batch files: partnerTxIds b-<n>, points varying, residents in turn.
  const files = Math.ceil(CONVERSIONS / BATCH_LINES);
  const body = (file: number) => Array.from({ length: Math.min(BATCH_LINES, CONVERSIONS - file * BATCH_LINES) }, (_, i) => {
    const n = file * BATCH_LINES + i;
    return `${JSON.stringify({ partnerTxId: `b-${n}`, mykeyId: mykeyIds[n % mykeyIds.length], municipality: city.code, partnerPoints: 100 + (n % 900) })}\n`;
  }).join('');
  const bodies = Array.from({ length: files }, (_, file) => body(file));
  const started = Date.now();
  let next = 0;
  let acceptedLines = 0;
  await Promise.all(Array.from({ length: Math.min(UPLOADS, files) }, async () => {
    while (next < files) {
      const file = next++;
      const reply = await client.uploadBatch(`bench-${file}`, bodies[file]!);
      if (reply.status !== 200 || reply.body.state !== 'done') throw new Error(`batch ${file}: ${reply.status} ${JSON.stringify(reply.body)}`);
      acceptedLines += reply.body.acceptedLines;
    }
  }));
  const intakeMs = Date.now() - started;
  if (acceptedLines !== CONVERSIONS) throw new Error(`${acceptedLines} of ${CONVERSIONS} lines accepted`);
  log(`${CONVERSIONS} conversions accepted in ${files} batch files in ${round(intakeMs / 1000)} s`);
  const batchEnd = await lastCredit(db, city.partnerId, CONVERSIONS, 30 * 60_000);
  const batchMs = batchEnd - started;
  const perSecond = round(CONVERSIONS / (batchMs / 1000));
  log(`credited by ${round(batchMs / 1000)} s after the first request: ${perSecond}/s end to end`);

  // Single requests, the way a partner sends as its customers ask.
  const sim = new PartnerSimulator(new PartnerClient({ ...identity, baseUrl: `http://127.0.0.1:${port}` }), new WebhookReceiver(identity));
  const singleStarted = Date.now();
  const traffic = await sim.run({ count: SINGLE, mykeyIds, municipality: city.code, concurrency: SINGLE_CONCURRENCY, txPrefix: 's' });
  if (traffic.accepted !== SINGLE || traffic.inconsistent.length > 0) throw new Error(`single requests: ${JSON.stringify({ ...traffic, inconsistent: traffic.inconsistent.length })}`);
  const singleEnd = await lastCredit(db, city.partnerId, CONVERSIONS + SINGLE, 30 * 60_000);
  const single = {
    conversions: SINGLE, concurrency: SINGLE_CONCURRENCY,
    intakePerSecond: round(SINGLE / (traffic.ms / 1000)),
    perSecond: round(SINGLE / ((singleEnd - singleStarted) / 1000)),
  };
  log(`single requests: ${JSON.stringify(single)}`);

  const report = await checkLedger(db);
  const entries = await countOf(db('ledger_entries').where({ municipality_code: city.code, kind: 'conversion' }));
  const credited = await countOf(db('conversion_requests').where({ partner_id: city.partnerId, state: 'credited' }));
  if (!report.ok || entries !== CONVERSIONS + SINGLE || credited !== CONVERSIONS + SINGLE) {
    throw new Error(`after the run: ledger ${report.ok ? 'ok' : JSON.stringify(report.violations.slice(0, 3))}, ${entries} conversion entries, ${credited} credited`);
  }
  return {
    benchmark: 'conversions',
    conversionsPerSecond: perSecond,
    rawTransactionsPerSecond: rawPerSecond,
    bullEmptyJobsPerSecond: bullPerSecond,
    ratioToRawTransactions: round(perSecond / rawPerSecond, 3),
    ratioToBullEmptyJobs: round(perSecond / bullPerSecond, 3),
    conversions: CONVERSIONS,
    intake: 'batch files',
    batchLines: BATCH_LINES,
    uploadsAtOnce: UPLOADS,
    intakePerSecond: round(CONVERSIONS / (intakeMs / 1000)),
    seconds: round(batchMs / 1000),
    single,
    worker: { concurrency: JOB_CONCURRENCY, transactions: TRANSACTIONS, batchSize: BATCH_SIZE },
    rawConcurrency: RAW_CONCURRENCY,
    bullJobs: BULL_JOBS,
    ledgerOk: report.ok,
    ...machine(loadAverage),
  };
}

await runBenchmark(run);
