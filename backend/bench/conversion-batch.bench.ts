// One partner batch file of BENCH_BATCH_FILE_LINES (1,000,000) lines, uploaded to the real API
// server, timed from the first byte to the answer and until every chunk's job is in Bull, with
// the server's memory growth (docs/benchmarks.md#conversion-batch). Beside it, in the same run
// and against the same MySQL and Redis: the same number of comparable rows inserted raw, 1,000
// per statement through one connection, and the same number of empty jobs added to Bull 1,000
// per addBulk (what a job per line, as intake once added, costs). No worker runs: the jobs stay
// waiting, and consuming them is not timed here.
import { createHash } from 'node:crypto';
import { once } from 'node:events';
import { createReadStream, createWriteStream, readFileSync } from 'node:fs';
import { request } from 'node:http';
import { loadavg } from 'node:os';
import path from 'node:path';
import knex from 'knex';
import { createCa } from '@mykey/dev-tools/dev-ca/index.ts';
import { freePort } from '@mykey/dev-tools/ports.ts';
import { waitFor } from '@mykey/dev-tools/wait.ts';
import { partnerKey, signedUploadHeaders } from '@mykey/contracts/partner-signature.ts';
import { BATCH_CHUNK_LINES, CONVERSION_QUEUE, type ConversionJob } from '../src/conversions/queue.ts';
import { knexConfig } from '../src/db.ts';
import { newPartnerSecret } from '../src/partners/credentials.ts';
import { setPartnerCredentials } from '../src/partners/service.ts';
import { createQueue } from '../src/queue.ts';
import { queuePrefix, redisUrl, testDatabase, type Cleanup } from '../test/helpers/env.ts';
import { town } from '../test/helpers/ledger.ts';
import { startServer } from '../test/helpers/processes.ts';
import { Redis } from 'ioredis';
import { cpuMsOf, databasePid, logger, machine, now, ownCpuMs, residents, round, runBenchmark, runDir, serverEnv, serverProfileArgs, setting } from './lib/bench.ts';

const LINES = setting('BENCH_BATCH_FILE_LINES', 1_000_000);
const RESIDENTS = setting('BENCH_RESIDENTS', 10_000);
/** Rows per statement and jobs per addBulk in the baselines: the server's chunk of lines. */
const BASELINE_CHUNK = 1_000;
const MIB = 1024 * 1024;

const log = logger('conversion-batch');

// ---- baselines ----

/** Seconds to insert `rows` rows shaped like conversion requests, BASELINE_CHUNK per INSERT, through one connection. */
async function rawInsertSeconds(url: string, rows: number): Promise<number> {
  const db = knex({ ...knexConfig(url), pool: { min: 0, max: 1 } });
  try {
    await db.schema.createTable('bench_raw_requests', (t) => {
      t.bigIncrements('id');
      t.integer('partner_id').notNullable();
      t.string('partner_tx_id', 64).notNullable();
      t.binary('request_hash', 32).notNullable();
      t.string('municipality_code', 6).notNullable();
      t.bigInteger('mykey_pk').notNullable();
      t.bigInteger('partner_points').notNullable();
      t.bigInteger('points').notNullable();
      t.datetime('accepted_at', { precision: 3 }).notNullable();
      t.unique(['partner_id', 'partner_tx_id']);
    });
    const hash = createHash('sha256').update('row').digest();
    const at = new Date();
    const started = now();
    for (let i = 0; i < rows; i += BASELINE_CHUNK) {
      await db('bench_raw_requests').insert(Array.from({ length: Math.min(BASELINE_CHUNK, rows - i) }, (_, j) => ({
        partner_id: 1, partner_tx_id: `raw-${i + j}`, request_hash: hash, municipality_code: '131016', mykey_pk: (i + j) % 10_000, partner_points: 100, points: 100, accepted_at: at,
      })));
    }
    return (now() - started) / 1000;
  } finally {
    await db.schema.dropTableIfExists('bench_raw_requests');
    await db.destroy();
  }
}

/** Seconds to add `jobs` empty jobs with ids to a Bull queue, BASELINE_CHUNK per addBulk, one after the other. */
async function bullAddSeconds(prefix: string, jobs: number): Promise<number> {
  const queue = createQueue<{ n: number }>('bench-add', { REDIS_URL: redisUrl(), QUEUE_PREFIX: prefix });
  try {
    const started = now();
    for (let i = 0; i < jobs; i += BASELINE_CHUNK) {
      await queue.addBulk(Array.from({ length: Math.min(BASELINE_CHUNK, jobs - i) }, (_, j) => ({ data: { n: i + j }, opts: { jobId: String(i + j), removeOnComplete: true } })));
    }
    return (now() - started) / 1000;
  } finally {
    await queue.obliterate({ force: true });
    await queue.close();
  }
}

// ---- the file and its upload ----

/** Writes the batch file line by line (never whole in memory) and answers its length and hex SHA-256. */
async function writeBatchFile(file: string, lines: number, mykeyIds: string[], municipality: string): Promise<{ length: number; sha256: string }> {
  const out = createWriteStream(file);
  const hash = createHash('sha256');
  let length = 0;
  for (let n = 0; n < lines; n++) {
    const line = `${JSON.stringify({ partnerTxId: `f-${n}`, mykeyId: mykeyIds[n % mykeyIds.length], municipality, partnerPoints: 100 + (n % 900) })}\n`;
    hash.update(line);
    length += Buffer.byteLength(line);
    if (!out.write(line)) await once(out, 'drain');
  }
  out.end();
  await once(out, 'finish');
  return { length, sha256: hash.digest('hex') };
}

/** PUTs the file, streamed from disk, and answers the status and parsed body. */
function upload(base: string, target: string, headers: Record<string, string>, file: string): Promise<{ status: number; body: any }> {
  const { hostname, port } = new URL(base);
  return new Promise((resolve, reject) => {
    const req = request({ hostname, port, path: target, method: 'PUT', headers }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (chunk: Buffer) => chunks.push(chunk));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body: JSON.parse(Buffer.concat(chunks).toString('utf8')) }));
      res.on('error', reject);
    });
    req.on('error', reject);
    createReadStream(file).pipe(req);
  });
}

/**
 * CPU seconds used, while `work` runs, by the processes named (by /proc) and by the bench itself:
 * on a machine shared with other work, wall time mostly measures the others, CPU time much less.
 */
async function cpuSecondsOf(pids: Record<string, number | undefined>, work: () => Promise<void>): Promise<Record<string, number>> {
  const named = Object.entries(pids).flatMap(([name, pid]) => (pid === undefined ? [] : [[name, pid] as const]));
  const before = named.map(([, pid]) => cpuMsOf(pid));
  const ownBefore = ownCpuMs();
  await work();
  return Object.fromEntries([...named.map(([name, pid], i) => [name, round((cpuMsOf(pid) - before[i]!) / 1000, 2)]), ['bench', round((ownCpuMs() - ownBefore) / 1000, 2)]]);
}

/** Redis's process when it runs on this machine (for its CPU time), else undefined. */
async function redisPid(): Promise<number | undefined> {
  const redis = new Redis(redisUrl());
  try {
    const pid = Number(/process_id:(\d+)/.exec(await redis.info('server'))?.[1]);
    cpuMsOf(pid);
    return pid;
  } catch {
    return undefined;
  } finally {
    redis.disconnect();
  }
}

/** A field of /proc/<pid>/status in MiB (VmRSS, VmHWM: given there in kB). */
function memoryMiB(pid: number, field: 'VmRSS' | 'VmHWM'): number {
  const match = new RegExp(`^${field}:\\s+(\\d+) kB`, 'm').exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  return Number(match![1]) / 1024;
}

/** Samples the process's VmRSS every 50 ms until stopped; answers the largest seen. */
function sampleRss(pid: number): () => number {
  let peak = memoryMiB(pid, 'VmRSS');
  const timer = setInterval(() => { peak = Math.max(peak, memoryMiB(pid, 'VmRSS')); }, 50);
  return () => {
    clearInterval(timer);
    return Math.max(peak, memoryMiB(pid, 'VmRSS'));
  };
}

async function run(cleanup: Cleanup): Promise<Record<string, unknown>> {
  const loadAverage = loadavg()[0]!;
  const dir = runDir(cleanup, 'conversion-batch');
  const { db, url } = await testDatabase(cleanup);
  const city = await town(db, {});
  const mykeyIds = await residents(db, RESIDENTS, city.code);
  const file = path.join(dir, 'batch.ndjson');
  const declared = await writeBatchFile(file, LINES, mykeyIds, city.code);
  log(`${LINES} lines, ${round(declared.length / MIB)} MiB, ${RESIDENTS} residents`);

  const pids = { mariadb: await databasePid(db), redis: await redisPid() };
  let rawSeconds = 0;
  const rawCpu = await cpuSecondsOf(pids, async () => { rawSeconds = await rawInsertSeconds(url, LINES); });
  log(`raw INSERTs of ${LINES} rows, ${BASELINE_CHUNK} a statement, one connection: ${round(rawSeconds, 2)} s, CPU s ${JSON.stringify(rawCpu)}`);
  let bullSeconds = 0;
  const bullCpu = await cpuSecondsOf(pids, async () => { bullSeconds = await bullAddSeconds(queuePrefix(cleanup), LINES); });
  log(`Bull addBulk of ${LINES} empty jobs, ${BASELINE_CHUNK} a call: ${round(bullSeconds, 2)} s, CPU s ${JSON.stringify(bullCpu)}`);

  const ca = await createCa({ kind: 'auth' });
  const env: Record<string, string> = { ...serverEnv(cleanup, url, dir, ca.certificatePem), BATCH_SPOOL_DIR: path.join(dir, 'spool') };
  const { slug } = await db('partners').where({ id: city.partnerId }).first('slug');
  const apiSecret = newPartnerSecret();
  await setPartnerCredentials(db, Buffer.from(env.MYKEY_SECRET!, 'hex'), slug, { apiSecret, webhookUrl: null });
  const port = await freePort();
  const server = await startServer(port, env, { logFile: path.join(dir, 'server.log'), nodeArgs: serverProfileArgs() });
  cleanup(() => server.stop());
  const conversions = createQueue<ConversionJob>(CONVERSION_QUEUE, { REDIS_URL: env.REDIS_URL!, QUEUE_PREFIX: env.QUEUE_PREFIX! });
  cleanup(() => conversions.close());

  const target = `/api/v1/partner/conversion-batches/bench-file`;
  const headers = { ...signedUploadHeaders(slug, partnerKey(apiSecret), 'PUT', target, declared), 'Content-Type': 'application/x-ndjson' };
  const rssBefore = memoryMiB(server.pid, 'VmRSS');
  const rssPeak = sampleRss(server.pid);
  const started = now();
  let queuedMs: number | undefined;
  // Polled beside the upload: the answer may come before the last job is added.
  const jobs = Math.ceil(LINES / BATCH_CHUNK_LINES);
  const queued = waitFor(`${jobs} jobs in Bull`, async () => (await conversions.count()) >= jobs, 30 * 60_000).then(() => { queuedMs = now() - started; });
  let reply: { status: number; body: any } = { status: 0, body: undefined };
  let answerMs = 0;
  const uploadCpu = await cpuSecondsOf({ server: server.pid, ...pids }, async () => {
    reply = await upload(`http://127.0.0.1:${port}`, target, headers, file);
    answerMs = now() - started;
    await queued;
  });
  if (reply.status !== 200 || reply.body.state !== 'done' || reply.body.acceptedLines !== LINES) throw new Error(`upload: ${reply.status} ${JSON.stringify(reply.body)}`);
  log(`answered after ${round(answerMs / 1000, 2)} s`);
  const peak = rssPeak();
  const hwm = memoryMiB(server.pid, 'VmHWM');
  log(`every chunk's job in Bull after ${round(queuedMs! / 1000, 2)} s; server RSS ${round(rssBefore)} MiB before, ${round(peak)} MiB at most; CPU s ${JSON.stringify(uploadCpu)}`);

  const [stored] = await db('conversion_requests').where({ partner_id: city.partnerId }).count({ n: '*' });
  if (Number(stored!.n) !== LINES) throw new Error(`${stored!.n} of ${LINES} conversions stored`);
  const inJobs = new Set((await conversions.getWaiting()).flatMap((job) => ('conversionIds' in job.data ? job.data.conversionIds : [job.data.conversionId])));
  if (inJobs.size !== LINES) throw new Error(`${inJobs.size} of ${LINES} conversions in the jobs`);
  const seconds = queuedMs! / 1000;
  return {
    benchmark: 'conversion-batch',
    lines: LINES,
    fileMiB: round(declared.length / MIB),
    answerSeconds: round(answerMs / 1000, 2),
    queuedSeconds: round(seconds, 2),
    linesPerSecond: round(LINES / seconds),
    rawInsertSeconds: round(rawSeconds, 2),
    bullAddSeconds: round(bullSeconds, 2),
    ratioToRawInsert: round(seconds / rawSeconds, 2),
    ratioToBullAdd: round(seconds / bullSeconds, 2),
    ratioToBoth: round(seconds / (rawSeconds + bullSeconds), 2),
    cpuSeconds: { upload: uploadCpu, rawInsert: rawCpu, bullAdd: bullCpu },
    serverRssBeforeMiB: round(rssBefore),
    serverRssGrowthMiB: round(peak - rssBefore),
    serverVmHwmMiB: round(hwm),
    aim: { seconds: 60, rssGrowthMiB: 64 },
    ...machine(loadAverage),
  };
}

await runBenchmark(run);
