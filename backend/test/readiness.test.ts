import test from 'ava';
import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { fileFixture, silentLog, testDatabase } from './helpers/env.ts';
import { startApp } from './helpers/server.ts';
import { freePort } from '@mykey/dev-tools/ports.ts';
import { createDb } from '../src/db.ts';
import { createRedis } from '../src/redis.ts';
import { waitFor } from '@mykey/dev-tools/wait.ts';
import { pino } from 'pino';

const migrated = fileFixture(test, async (cleanup) => (await testDatabase(cleanup)).db);

async function readyz(base: string) {
  const response = await fetch(`${base}/readyz`);
  return { status: response.status, body: await response.json() };
}

type Answer = Awaited<ReturnType<typeof readyz>>;

/**
 * /readyz polled, as an orchestrator polls it, until an answer is `wanted`. Each check has 2 s,
 * and this process, which also runs the app, may be held up longer by the file's other tests on
 * a loaded machine: an answer in which a check ran out of time says nothing, and is passed over.
 */
function readyzUntil(base: string, what: string, wanted: (answer: Answer) => boolean = () => true): Promise<Answer> {
  const outOfTime = (answer: Answer) => Object.values(answer.body.checks as Record<string, { reason?: string }>).some((c) => c.reason?.endsWith('_timeout'));
  return waitFor(what, async () => {
    const answer = await readyz(base);
    return !outOfTime(answer) && wanted(answer) && answer;
  }, 60_000);
}

/** A logger whose lines the test reads: where /readyz's detail goes. */
function capturedLog() {
  const lines: string[] = [];
  const log = pino({ level: 'warn' }, { write: (line: string) => { lines.push(line); } });
  return { log, text: () => lines.join('') };
}

/** A private, real Redis that the test can stop and start again on the same port. */
function startRedis(port: number): ChildProcess {
  return spawn('redis-server', ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no'], { stdio: 'ignore' });
}

test('ready when MySQL, Redis and the schema are all in order', async (t) => {
  const base = await startApp((fn) => t.teardown(fn), await migrated());
  const { status, body } = await readyzUntil(base, 'ready', (answer) => answer.status === 200);
  t.is(status, 200);
  t.deepEqual(body, { status: 'ready', checks: { mysql: { ok: true }, redis: { ok: true }, migrations: { ok: true } } });
});

test('alive says nothing about dependencies', async (t) => {
  const down = createDb('mysql://mykey:mykey@127.0.0.1:1/none', silentLog);
  t.teardown(() => down.destroy());
  const response = await fetch(`${await startApp((fn) => t.teardown(fn), down)}/healthz`);
  t.is(response.status, 200);
  t.deepEqual(await response.json(), { status: 'alive' });
});

test('not ready, with a reason code, when migrations are pending; which ones, only the log says', async (t) => {
  const { db } = await testDatabase((fn) => t.teardown(fn), { migrate: false });
  const { log, text } = capturedLog();
  const { status, body } = await readyzUntil(await startApp((fn) => t.teardown(fn), db, { log }), 'an answer');
  t.is(status, 503);
  t.deepEqual(body, { status: 'not_ready', checks: { mysql: { ok: true }, redis: { ok: true }, migrations: { ok: false, reason: 'migrations_pending' } } });
  t.regex(text(), /"check":"migrations","reason":"migrations_pending","pending":\["\d+_foundation\.ts"/);
});

test('not ready, with a reason code, when MySQL is down; the driver\'s error goes to the log only', async (t) => {
  const down = createDb('mysql://mykey:mykey@127.0.0.1:1/none', silentLog);
  t.teardown(() => down.destroy());
  const { log, text } = capturedLog();
  const { status, body } = await readyzUntil(await startApp((fn) => t.teardown(fn), down, { log }), 'an answer');
  t.is(status, 503);
  t.deepEqual(body, { status: 'not_ready', checks: { mysql: { ok: false, reason: 'database_unavailable' }, redis: { ok: true }, migrations: { ok: false, reason: 'database_unavailable' } } });
  t.regex(text(), /"check":"mysql","reason":"database_unavailable".*ECONNREFUSED/);
});

test('not ready while Redis is down, and ready again when it comes back', async (t) => {
  const port = await freePort();
  let redisServer = startRedis(port);
  t.teardown(() => { redisServer.kill('SIGKILL'); });
  const redis = createRedis(`redis://127.0.0.1:${port}`, silentLog);
  t.teardown(() => redis.disconnect());
  const base = await startApp((fn) => t.teardown(fn), await migrated(), { redis });
  await readyzUntil(base, 'Redis to be reachable', (answer) => answer.status === 200);

  redisServer.kill('SIGTERM');
  await once(redisServer, 'exit');
  const { status, body } = await readyzUntil(base, 'readiness to notice', (answer) => answer.status === 503);
  t.is(status, 503);
  t.true(body.checks.mysql.ok);
  t.deepEqual(body.checks.redis, { ok: false, reason: 'redis_unavailable' });

  redisServer = startRedis(port);
  await readyzUntil(base, 'readiness to recover', (answer) => answer.status === 200);
  t.pass();
});
