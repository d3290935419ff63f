// `npm start` as a newcomer runs it: the whole platform comes up, answers ready, serves the
// console to a real browser, and Ctrl-C stops every part it started.
import test from 'ava';
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { testDatabase, redisUrl } from '@mykey/backend/test/helpers/env.ts';
import { freePort } from '@mykey/dev-tools/ports.ts';
import { launchBrowser } from '@mykey/backend/test/helpers/browser.ts';
import { waitFor } from '@mykey/dev-tools/wait.ts';
import { DEMO_MERCHANTS, DEMO_SECOND_MERCHANTS } from '@mykey/dev-tools/demo-towns.ts';

const DEMO_SHOPS = DEMO_MERCHANTS.length + DEMO_SECOND_MERCHANTS.length;

function npmStart(databaseUrl: string, port: number, metrics: { server: number; worker: number }, args: string[] = []) {
  const child = spawn(process.execPath, ['scripts/bootstrap.mjs', 'scripts/start.ts', ...args], {
    env: { PATH: process.env.PATH, DATABASE_URL: databaseUrl, REDIS_URL: redisUrl(), PORT: String(port), MYKEY_SERVER_METRICS_PORT: String(metrics.server), MYKEY_WORKER_METRICS_PORT: String(metrics.worker) },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let output = '';
  child.stdout.on('data', (chunk) => { output += chunk; });
  child.stderr.on('data', (chunk) => { output += chunk; });
  return { child, output: () => output };
}

/** pids of the server and worker, from their JSON log lines. */
function partPids(output: string): number[] {
  const pids = ['server', 'worker'].map((name) => {
    const line = output.split('\n').find((l) => l.startsWith(`[${name}] {`));
    return line ? JSON.parse(line.slice(name.length + 3)).pid : undefined;
  });
  return pids.filter((pid): pid is number => typeof pid === 'number');
}

function running(pid: number): boolean {
  try { process.kill(pid, 0); return true; } catch { return false; }
}

// npm start migrates, seeds, makes the demo towns' sixty days and builds the console: beside a
// whole suite on 2 cores that outlasted two minutes once. How fast it starts is not this test's matter.
const PATIENT_START_MS = 300_000;

/** Free ports for the server's and the worker's metrics. */
const metricsPorts = async () => ({ server: await freePort(), worker: await freePort() });

async function startAndWait(databaseUrl: string, port: number, metrics: { server: number; worker: number }, args: string[] = []) {
  const run = npmStart(databaseUrl, port, metrics, args);
  const exited = once(run.child, 'exit').then(() => { throw new Error(`npm start exited early:\n${run.output()}`); });
  await Promise.race([waitFor('npm start to print its URLs', async () => run.output().includes('MyKey platform is running.'), PATIENT_START_MS), exited]);
  exited.catch(() => {});
  return run;
}

async function interrupt(run: ReturnType<typeof npmStart>): Promise<number | null> {
  run.child.kill('SIGINT');
  const [code] = await once(run.child, 'exit');
  return code;
}

test('npm start brings the platform up, serves the console, and Ctrl-C stops it all', async (t) => {
  const { url, db } = await testDatabase((fn) => t.teardown(fn), { migrate: false });
  const port = await freePort();
  const metrics = await metricsPorts();
  // A configured DATABASE_URL gets the demo towns only when asked.
  const run = await startAndWait(url, port, metrics, ['--seed-demo']);
  t.teardown(() => { run.child.kill('SIGKILL'); });
  const base = `http://127.0.0.1:${port}`;
  t.regex(run.output(), new RegExp(`Console \\(コンソール\\): +${base}/`));

  const ready = await fetch(`${base}/readyz`);
  t.is(ready.status, 200);
  t.is((await ready.json()).status, 'ready');
  t.is(Number((await db('merchants').count({ n: '*' }))[0]!.n), DEMO_SHOPS, 'the demo towns are seeded');
  t.regex(run.output(), /Demo sign-in: .*demo-city.*demo-aoba-city/);
  t.regex(run.output(), /\[demo\] みらい市（デモ）, the 60 days before [-0-9]+: 24 residents, .*; made now: /, 'the demo towns come with their recent activity');
  t.regex(run.output(), /"env":"development"/, 'npm start runs the platform in development, said explicitly');
  for (const part of ['server', 'worker'] as const) {
    t.regex(run.output(), new RegExp(`http://127\\.0\\.0\\.1:${metrics[part]}/metrics \\(${part}\\)`));
    t.regex(await (await fetch(`http://127.0.0.1:${metrics[part]}/metrics`)).text(), /^mykey_db_pool_connections\{state="used"\} \d+$/m, `the ${part}'s metrics`);
  }

  const browser = await launchBrowser((fn) => t.teardown(fn));
  const page = await browser.newPage();
  await page.goto(base);
  await page.getByLabel('ログインID').waitFor();
  t.is(await page.title(), 'MyKey プラットフォーム');

  const pids = partPids(run.output());
  t.is(pids.length, 2, 'server and worker both logged');
  t.is(await interrupt(run), 0);
  t.regex(run.output(), /stopped; data is kept in place/);
  t.deepEqual(pids.filter(running), [], 'no part of the platform is left running');
  await t.throwsAsync(fetch(`${base}/healthz`));

  // A second start finds everything in place: nothing to migrate, nothing to build.
  const again = await startAndWait(url, port, metrics, ['--seed-demo']);
  t.teardown(() => { again.child.kill('SIGKILL'); });
  t.regex(again.output(), /schema is up to date/);
  t.notRegex(again.output(), /building the console|installing npm dependencies/);
  t.is(Number((await db('merchants').count({ n: '*' }))[0]!.n), DEMO_SHOPS, 'seeding again duplicated nothing');
  t.regex(again.output(), /\[demo\] みらい市（デモ）, .*; all there already/, 'nor did the activity');
  t.is(await interrupt(again), 0);
});

test('npm start stops everything and says why when a part cannot start; a configured database gets no demo unasked', async (t) => {
  const { url, db } = await testDatabase((fn) => t.teardown(fn), { migrate: false });
  const port = await freePort();
  const blocker = (await import('node:net')).createServer().listen(port, '127.0.0.1');
  t.teardown(() => { blocker.close(); });
  const run = npmStart(url, port, await metricsPorts());
  t.teardown(() => { run.child.kill('SIGKILL'); });
  const [code] = await once(run.child, 'exit');
  t.is(code, 1);
  t.regex(run.output(), /EADDRINUSE/);
  t.regex(run.output(), /\[start\] server exited with code 1/);
  t.deepEqual(partPids(run.output()).filter(running), []);
  t.regex(run.output(), /demo towns not seeded: DATABASE_URL is configured \(npm start -- --seed-demo seeds them\)/);
  t.is(Number((await db('staff_accounts').count({ n: '*' }))[0]!.n), 0, 'migrated, and no demo account');
  t.is(Number((await db('merchants').count({ n: '*' }))[0]!.n), 0);
});
