// Prometheus metrics (docs/operations.md#metrics): an API server and a worker, as processes, serve
// GET /metrics on a listener of their own and never on the public one; requests are counted by
// route template (never a path holding an ID), the pool and the queues are on every scrape, and a
// worker counts the jobs it finishes and shows its queues in Bull Board, read-only. In this
// process: certificate checks by verdict, and points counted only once their entry commits.
import test from 'ava';
import { randomBytes } from 'node:crypto';
import { freePort } from '@mykey/dev-tools/ports.ts';
import { waitFor } from '@mykey/dev-tools/wait.ts';
import { consoleDir, fileFixture, redisUrl } from './helpers/env.ts';
import { firstLogin, municipalCounter } from './helpers/identity.ts';
import { startServer, startWorker } from './helpers/processes.ts';
import { afterCommit, certificateChecks, pointsMoved } from '../src/metrics/metrics.ts';

const fixture = fileFixture(test, async (cleanup) => {
  const counter = await municipalCounter(cleanup);
  const [port, serverMetrics, workerMetrics] = await Promise.all([freePort(), freePort(), freePort()]);
  const env = { DATABASE_URL: counter.url, REDIS_URL: redisUrl(), QUEUE_PREFIX: `mykey_metrics_${randomBytes(4).toString('hex')}`, CONSOLE_DIR: consoleDir(), HEARTBEAT_INTERVAL_MS: '200' };
  const server = await startServer(port, { ...env, METRICS_PORT: String(serverMetrics) });
  cleanup(() => server.stop());
  const worker = await startWorker({ ...env, METRICS_PORT: String(workerMetrics) });
  cleanup(() => worker.stop());
  return { ...counter, api: `http://127.0.0.1:${port}`, serverMetrics: `http://127.0.0.1:${serverMetrics}/metrics`, workerMetrics: `http://127.0.0.1:${workerMetrics}/metrics` };
});

const scrape = async (url: string) => {
  const response = await fetch(url);
  return { status: response.status, type: response.headers.get('content-type'), text: await response.text() };
};

/** The value of one series in a scrape, or undefined. */
function sample(text: string, series: string): number | undefined {
  const line = text.split('\n').find((l) => l.startsWith(`${series} `));
  return line === undefined ? undefined : Number(line.slice(series.length + 1));
}

test('the server counts requests by route template and status, with its pool and queue, on its own listener only', async (t) => {
  const f = await fixture();
  const unknownId = 'MK-NOSUCH-ID-0000';
  t.is((await fetch(`${f.api}/healthz`)).status, 200);
  t.is((await fetch(`${f.api}/api/v1/staff/mykeys/${unknownId}`)).status, 401);
  t.is((await fetch(`${f.api}/api/v1/no-such-route`)).status, 404);
  const { status, type, text } = await scrape(f.serverMetrics);
  t.is(status, 200);
  t.regex(type!, /^text\/plain; version=0\.0\.4/);
  t.true(sample(text, 'mykey_http_requests_total{method="GET",route="/healthz",status="200"}')! >= 1, text.slice(0, 2000));
  t.true(sample(text, 'mykey_http_requests_total{method="GET",route="/api/v1/staff/mykeys/:mykeyId",status="401"}')! >= 1);
  t.true(sample(text, 'mykey_http_requests_total{method="GET",route="unmatched",status="404"}')! >= 1);
  t.false(text.includes(unknownId), 'a path\'s ID is never a label');
  t.regex(text, /mykey_http_request_duration_seconds_bucket\{le="0\.005",method="GET",route="\/healthz"\} \d+/);
  t.regex(text, /^mykey_db_pool_connections\{state="used"\} \d+$/m);
  t.regex(text, /^mykey_queue_jobs\{queue="conversions",state="waiting"\} \d+$/m);
  t.regex(text, /^mykey_process_resident_memory_bytes \d+/m, 'the process\'s own figures too');

  // The public listener has no metrics; the metrics listener has nothing else.
  t.false((await (await fetch(`${f.api}/metrics`)).text()).includes('mykey_http_requests_total'));
  t.is((await fetch(f.serverMetrics.replace('/metrics', '/healthz'))).status, 404);
  t.is((await fetch(f.serverMetrics, { method: 'POST' })).status, 404);
});

test('a worker counts the jobs it finishes, per queue', async (t) => {
  const f = await fixture();
  const completed = await waitFor('the worker to count a heartbeat', async () => {
    const { text } = await scrape(f.workerMetrics);
    return sample(text, 'mykey_queue_jobs_finished_total{queue="heartbeat",outcome="completed"}');
  }, 60_000);
  t.true(completed >= 1);
  const { text } = await scrape(f.workerMetrics);
  t.regex(text, /^mykey_queue_jobs\{queue="heartbeat",state="active"\} \d+$/m);
  t.true(sample(text, 'mykey_queue_redis_connections{queue="heartbeat",status="ready"}')! >= 2, 'its connections: the client and the blocking one taking jobs');
  t.false(text.includes('status="end"'), 'none given up');
});

test('a worker shows its queues in Bull Board on the same listener, read-only; the server shows none', async (t) => {
  const f = await fixture();
  const board = f.workerMetrics.replace('/metrics', '/queues');
  const page = await fetch(board);
  t.is(page.status, 200);
  t.regex(await page.text(), /<title>[^<]*Bull/i);
  const listed = await (await fetch(`${board}/api/queues?activeQueue=heartbeat&status=completed&page=1&jobsPerPage=10`)).json() as { queues: Array<{ name: string; readOnlyMode: boolean }> };
  t.true(listed.queues.some((q) => q.name === 'heartbeat'));
  t.true(listed.queues.every((q) => q.readOnlyMode), 'no job is retried or removed by hand');
  t.is((await fetch(`${board}/api/queues/heartbeat/clean/completed`, { method: 'PUT' })).status >= 400, true, 'a cleaning is refused');
  t.is((await fetch(f.serverMetrics.replace('/metrics', '/queues'))).status, 404);
});

const points = async (movement: string) => (await pointsMoved.get()).values.find((v) => v.labels.movement === movement)?.value ?? 0;
const checks = async (verdict: string) => (await certificateChecks.get()).values.find((v) => v.labels.verdict === verdict)?.value ?? 0;

test('certificate checks by verdict, and points granted counted once their entry commits', async (t) => {
  const f = await fixture();
  const accepted = await checks('accepted');
  const resident = await firstLogin(f.pki, f.device);
  t.true((await checks('accepted')) > accepted);
  const issued = await points('issued');
  t.is((await f.staff.post('/api/v1/staff/grants', { mykeyId: resident.mykeyId, campaign: 'demo-grants-2026', points: 70, reason: '測定' })).status, 201);
  t.is(await points('issued'), issued + 70);
});

test('what a rolled-back transaction did is never counted', async (t) => {
  const f = await fixture();
  let counted = 0;
  await t.throwsAsync(f.db.transaction(async (trx) => {
    afterCommit(trx, () => { counted++; });
    throw new Error('rolled back');
  }), { message: 'rolled back' });
  await f.db.transaction(async (trx) => afterCommit(trx, () => { counted += 10; }));
  t.is(counted, 10);
});
