// What the backend benchmarks share: their settings from the environment, figures and
// percentiles, a pool of concurrent work, the raw MySQL transaction baseline, the machine they
// ran on, the CPU time of the server and the bench, and running one that prints its figures as its
// last line of JSON (scripts/bench.ts collects those lines).
import { spawnSync } from 'node:child_process';
import { randomBytes, randomUUID } from 'node:crypto';
import { Agent, request } from 'node:http';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { availableParallelism, cpus, loadavg, tmpdir } from 'node:os';
import path from 'node:path';
import knex, { type Knex } from 'knex';
import { generateKeyPair, issueCertificate, issueCrl, type CertificateAuthority, type IssuedCertificate } from '@mykey/dev-tools/dev-ca/index.ts';
import { knexConfig } from '../../src/db.ts';
import type { Db } from '../../src/db.ts';
import { queuePrefix, redisUrl, type Cleanup } from '../../test/helpers/env.ts';
import { newMykeyId } from '../../test/helpers/partners.ts';
import { waitFor } from '@mykey/dev-tools/wait.ts';

/**
 * A counter's JSON POSTs over kept-alive connections, by node:http. The load comes from this
 * process on the server's own cores, so it must cost little: fetch spent ~0.9 ms of CPU a call
 * here, this a fraction of it, which leaves the cores to the server and MariaDB being measured.
 */
export function leanPoster(base: string, token: string, agent: Agent) {
  const { hostname, port } = new URL(base);
  return (path: string, body: unknown, key: string = randomUUID()) => new Promise<{ status: number; body: any }>((resolve, reject) => {
    const payload = Buffer.from(JSON.stringify(body));
    const req = request({
      agent, hostname, port, path, method: 'POST',
      headers: { authorization: `Bearer ${token}`, 'idempotency-key': key, 'content-type': 'application/json', 'content-length': payload.length },
    }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (chunk: Buffer) => chunks.push(chunk));
      res.on('end', () => {
        const text = Buffer.concat(chunks).toString('utf8');
        resolve({ status: res.statusCode ?? 0, body: text ? JSON.parse(text) : undefined });
      });
      res.on('error', reject);
    });
    req.on('error', reject);
    req.end(payload);
  });
}

/** Kept-alive connections for `connections` callers at once. */
export const keptAlive = (connections: number) => new Agent({ keepAlive: true, maxSockets: connections });

/** A positive whole number from the environment variable `name`, else `fallback`. */
export function setting(name: string, fallback: number): number {
  const value = Number(process.env[name] ?? fallback);
  if (!Number.isInteger(value) || value < 1) throw new Error(`${name} must be a positive whole number, got "${process.env[name]}"`);
  return value;
}

export const now = () => performance.now();

export function round(value: number, places = 1): number {
  const factor = 10 ** places;
  return Math.round(value * factor) / factor;
}

/** The `p` (0 to 1) percentile of ascending `sorted`, in hundredths. */
export function percentile(sorted: number[], p: number): number {
  return round(sorted[Math.min(sorted.length - 1, Math.floor(p * sorted.length))]!, 2);
}

/** Progress lines, each marked with the benchmark's name. */
export function logger(name: string): (line: string) => void {
  return (line) => console.log(`[${name}] ${line}`);
}

/** The body of an HTTP answer of the `status` expected; any other fails the benchmark with what came instead. */
export function expectStatus(what: string, reply: { status: number; body: any }, status: number): any {
  if (reply.status !== status) throw new Error(`${what}: ${reply.status} ${JSON.stringify(reply.body)}`);
  return reply.body;
}

// CPU time of another process (all its threads, libuv's pool included), from /proc.
const CLOCK_TICKS = Number(spawnSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).stdout.trim()) || 100;

/** CPU milliseconds process `pid` has used so far (the server's, read from the bench). */
export function cpuMsOf(pid: number): number {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  // utime and stime are fields 14 and 15 of the line; this list starts at field 3, after the name.
  return ((Number(fields[11]) + Number(fields[12])) * 1000) / CLOCK_TICKS;
}

/**
 * MariaDB's process when it runs on this machine (its pid file readable here), for its CPU time
 * beside the server's; undefined for a database elsewhere.
 */
export async function databasePid(db: Knex): Promise<number | undefined> {
  try {
    const [rows] = await db.raw('SELECT @@pid_file AS file');
    const pid = Number(readFileSync(rows[0].file, 'utf8').trim());
    cpuMsOf(pid);
    return pid;
  } catch {
    return undefined;
  }
}

/** CPU milliseconds the bench itself has used so far (its HTTP client). */
export function ownCpuMs(): number {
  const { user, system } = process.cpuUsage();
  return (user + system) / 1000;
}

/** `work` on every item, `concurrency` at a time; results in item order. */
export async function inPool<T, R>(items: T[], concurrency: number, work: (item: T, index: number) => Promise<R>): Promise<R[]> {
  const results = new Array<R>(items.length);
  let next = 0;
  await Promise.all(Array.from({ length: Math.min(concurrency, items.length) }, async () => {
    while (next < items.length) {
      const index = next++;
      results[index] = await work(items[index]!, index);
    }
  }));
  return results;
}

/**
 * Waits until InnoDB has written its dirty pages out (at most 1 % of the buffer pool left), so
 * that a baseline is not measured while the page cleaner still writes out a bulk load or a
 * dropped database: the full-size grown town's run measured 574 and 722 raw transactions/s in
 * that state, against ~1,800 undisturbed. InnoDB is asked to keep no dirty pages meanwhile
 * (`innodb_max_dirty_pages_pct` 0, the account's GRANT allowing), then set back.
 */
/** One of MariaDB's global status counters (`SHOW GLOBAL STATUS`), by name. */
export async function globalStatus(db: Knex, name: string): Promise<number> {
  const [rows] = await db.raw('SHOW GLOBAL STATUS LIKE ?', [name]);
  return Number(rows[0].Value);
}

async function innodbWrittenOut(db: Knex): Promise<void> {
  // BENCH_SETTLE=0 (the suite's tiny runs): benches side by side on one server, busy with tests,
  // would set the global back under each other and wait on the tests' writes.
  if (process.env.BENCH_SETTLE === '0') return;
  const [[{ pct }]] = await db.raw('SELECT @@GLOBAL.innodb_max_dirty_pages_pct AS pct');
  await db.raw('SET GLOBAL innodb_max_dirty_pages_pct = 0');
  try {
    const pages = await globalStatus(db, 'Innodb_buffer_pool_pages_total');
    await waitFor('InnoDB to write its dirty pages out', async () => (await globalStatus(db, 'Innodb_buffer_pool_pages_dirty')) <= pages / 100, 15 * 60_000);
  } finally {
    await db.raw('SET GLOBAL innodb_max_dirty_pages_pct = ?', [Number(pct)]);
  }
}

/**
 * The raw MySQL rate: BEGIN; UPDATE one row; INSERT one row; COMMIT through knex (as the server
 * talks to MySQL), `concurrency` connections, for `seconds`, once InnoDB has written out what
 * earlier work left dirty. Lane l's n-th transaction updates row (l + n × concurrency) mod
 * `rows`: with as many rows as lanes each lane keeps to a row of its own; with more, the rows are
 * spread wide enough not to wait on each other.
 */
export async function rawTransactionsPerSecond(url: string, concurrency: number, seconds: number, rows = concurrency): Promise<number> {
  const db = knex({ ...knexConfig(url), pool: { min: 0, max: concurrency } });
  try {
    await innodbWrittenOut(db);
    await db.schema.createTable('bench_raw_accounts', (t) => { t.increments('id'); t.bigInteger('balance').notNullable(); });
    await db.schema.createTable('bench_raw_postings', (t) => { t.bigIncrements('id'); t.integer('account_id').notNullable(); t.bigInteger('amount').notNullable(); t.datetime('at', { precision: 3 }).notNullable(); });
    await db('bench_raw_accounts').insert(Array.from({ length: rows }, () => ({ balance: 0 })));
    let count = 0;
    const started = now();
    const deadline = started + seconds * 1000;
    await Promise.all(Array.from({ length: concurrency }, async (_, lane) => {
      for (let i = lane; now() < deadline; i += concurrency) {
        const account = (i % rows) + 1;
        await db.transaction(async (trx) => {
          await trx('bench_raw_accounts').where({ id: account }).increment('balance', 1);
          await trx('bench_raw_postings').insert({ account_id: account, amount: 1, at: new Date() });
        });
        count++;
      }
    }));
    return round(count / ((now() - started) / 1000));
  } finally {
    await db.schema.dropTableIfExists('bench_raw_postings');
    await db.schema.dropTableIfExists('bench_raw_accounts');
    await db.destroy();
  }
}

/** `count` residents of municipality `home`, their MyKey IDs inserted directly, 1,000 a statement. */
export async function residents(db: Db, count: number, home: string): Promise<string[]> {
  const ids = new Set<string>();
  while (ids.size < count) ids.add(newMykeyId());
  const list = [...ids];
  for (let i = 0; i < list.length; i += 1_000) await db('mykeys').insert(list.slice(i, i + 1_000).map((mykey_id) => ({ mykey_id, home_municipality_code: home })));
  return list;
}

/** `count` card certificates of `ca` on `keyCount` RSA keys: making a key takes ~0.1 s, and the server keeps nothing per key. */
export async function cardsOnKeys(ca: CertificateAuthority, count: number, keyCount: number): Promise<IssuedCertificate[]> {
  const keys = await Promise.all(Array.from({ length: Math.min(keyCount, count) }, () => generateKeyPair()));
  return Promise.all(Array.from({ length: count }, (_, i) => issueCertificate(ca, { keys: keys[i % keys.length] })));
}

/**
 * A CRL of `ca` an hour old listing `entries` revoked serials, none of them a card the bench
 * issues (theirs are 8 bytes, these 10): the server looks its cards up in a list of realistic size.
 */
export async function crlWithRevocations(ca: CertificateAuthority, entries: number): Promise<Buffer> {
  const revoked = Array.from({ length: entries }, () => ({ serialNumberHex: `7F${randomBytes(9).toString('hex')}` }));
  return (await issueCrl(ca, { revoked, thisUpdate: new Date(Date.now() - 3_600_000) })).der;
}

/** A temporary folder for the run's files (CA anchors, logs), removed at its end. */
export function runDir(cleanup: Cleanup, name: string): string {
  const dir = mkdtempSync(path.join(tmpdir(), `${name}-bench-`));
  cleanup(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

/**
 * The environment of the run's API server (and worker) as in production: the run's database, a
 * queue prefix of its own, a fresh secret, and `anchorsPem` (the run's CA) written into `dir` as
 * the trusted JPKI anchors. NODE_ENV=test only because production refuses a development CA as
 * an anchor; nothing else in the processes depends on it.
 */
export function serverEnv(cleanup: Cleanup, url: string, dir: string, anchorsPem: string): Record<string, string> {
  const anchors = path.join(dir, 'anchors.pem');
  writeFileSync(anchors, anchorsPem);
  return {
    NODE_ENV: 'test', DATABASE_URL: url, REDIS_URL: redisUrl(), QUEUE_PREFIX: queuePrefix(cleanup),
    MYKEY_SECRET: randomBytes(32).toString('hex'), JPKI_TRUST_ANCHORS: anchors,
  };
}

/** Node arguments for the API server: BENCH_CPU_PROF=DIR has it write a V8 CPU profile there when it stops. */
export function serverProfileArgs(): string[] {
  return process.env.BENCH_CPU_PROF ? ['--cpu-prof', `--cpu-prof-dir=${path.resolve(process.env.BENCH_CPU_PROF)}`] : [];
}

/**
 * The machine the figures come from. Other work on it moves every figure, so the reader is told
 * the busier of the load average at the start (`loadAtStart`) and now.
 */
export function machine(loadAtStart: number) {
  return {
    cores: availableParallelism(),
    loadAverage: round(Math.max(loadAtStart, loadavg()[0]!), 2),
    cpu: cpus()[0]?.model ?? 'unknown',
    node: process.version,
  };
}

/** Runs `run` with its cleanups done at the end, even on failure, and prints its figures as one line of JSON. */
export async function runBenchmark(run: (cleanup: Cleanup) => Promise<Record<string, unknown>>): Promise<void> {
  const cleanups: Array<() => unknown> = [];
  try {
    console.log(JSON.stringify(await run((fn) => { cleanups.push(fn); })));
  } finally {
    for (const fn of cleanups.reverse()) await fn();
  }
}
