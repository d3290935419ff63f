import test from 'ava';
import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { fileFixture, silentLog, testDatabase } from './helpers/env.ts';
import { startApp } from './helpers/server.ts';
import { freePort } from '../../scripts/lib/ports.ts';
import { createDb } from '../src/db.ts';
import { createRedis } from '../src/redis.ts';
import { waitFor } from '../../scripts/lib/wait.ts';

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
  const outOfTime = (answer: Answer) => Object.values(answer.body.checks as Record<string, { reason?: string }>).some((c) => c.reason?.startsWith('no answer within'));
  return waitFor(what, async () => {
    const answer = await readyz(base);
    return !outOfTime(answer) && wanted(answer) && answer;
  }, 60_000);
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

test('not ready, with the reason, when migrations are pending', async (t) => {
  const { db } = await testDatabase((fn) => t.teardown(fn), { migrate: false });
  const { status, body } = await readyzUntil(await startApp((fn) => t.teardown(fn), db), 'an answer');
  t.is(status, 503);
  t.is(body.status, 'not_ready');
  t.true(body.checks.mysql.ok);
  t.false(body.checks.migrations.ok);
  t.regex(body.checks.migrations.reason, /^pending migrations: \d+_foundation\.ts/);
});

test('not ready, with the reason, when MySQL is down', async (t) => {
  const down = createDb('mysql://mykey:mykey@127.0.0.1:1/none', silentLog);
  t.teardown(() => down.destroy());
  const { status, body } = await readyzUntil(await startApp((fn) => t.teardown(fn), down), 'an answer');
  t.is(status, 503);
  t.false(body.checks.mysql.ok);
  t.regex(body.checks.mysql.reason, /ECONNREFUSED/);
  t.true(body.checks.redis.ok);
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
  t.false(body.checks.redis.ok);
  t.is(typeof body.checks.redis.reason, 'string');

  redisServer = startRedis(port);
  await readyzUntil(base, 'readiness to recover', (answer) => answer.status === 200);
  t.pass();
});
