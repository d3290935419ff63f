import { PATIENT_WAIT_MS } from '../src/database-admin.ts';
import test from 'ava';
import { once } from 'node:events';
import { queuePrefix, redisUrl, testDatabase } from './helpers/env.ts';
import { createQueue } from '../src/queue.ts';
import { HEARTBEAT_QUEUE } from '../src/jobs/heartbeat.ts';
import { addResident } from './helpers/partners.ts';
import { waitFor } from '@mykey/dev-tools/wait.ts';
import { READY_WITHIN_MS, startBackend, startWorker as startReadyWorker } from './helpers/processes.ts';

const workerEnv = (databaseUrl: string, prefix: string, env: Record<string, string>) => ({ DATABASE_URL: databaseUrl, REDIS_URL: redisUrl(), QUEUE_PREFIX: prefix, HEARTBEAT_INTERVAL_MS: '200', ...env });

function startWorker(databaseUrl: string, prefix: string, env: Record<string, string> = {}) {
  const { child: worker, output } = startBackend('worker', workerEnv(databaseUrl, prefix, env));
  return { worker, output };
}

// The schedule tests start their worker through the helpers' startWorker, which waits for it to say
// ready with their start-up ceiling; each test's own wait is then for its schedule alone. Beside
// another suite (load ~25) this file's schedule tests failed together, their 60 s counting seven start-ups.

test('the worker records heartbeats through Bull and stops cleanly on SIGTERM', async (t) => {
  const { db, url } = await testDatabase((fn) => t.teardown(fn));
  const prefix = queuePrefix((fn) => t.teardown(fn));
  // How fast it stops is not what this test is about either: a loaded machine gets the patient limit.
  const { worker, output } = startWorker(url, prefix, { SHUTDOWN_TIMEOUT_MS: String(PATIENT_WAIT_MS) });
  t.teardown(() => { worker.kill('SIGKILL'); });

  const beat = await waitFor('two heartbeats', async () => {
    const row = await db('worker_heartbeats').first();
    return row && row.beats >= 2 && row;
    // The worker's start-up (tsx compiling it) is not what this test is about: on a loaded machine it
    // alone outlasted 30 s, and 60 s beside another suite (docs/testing.md: limits a test is not about are generous).
  }, READY_WITHIN_MS);
  t.regex(beat.worker_id, new RegExp(`:${worker.pid}$`));

  worker.kill('SIGTERM');
  const [code] = await once(worker, 'exit');
  t.is(code, 0, output());
  const lines = output().trim().split('\n').map((line) => JSON.parse(line));
  t.true(lines.every((line) => line.name === 'worker' && typeof line.level === 'number'), 'every line is structured JSON');
  // The signal may come while the worker still starts (its heartbeat runs first): it finishes
  // starting, then stops the same way.
  const said = lines.map((line) => line.msg);
  const stopping = ['shutting down; letting work in flight finish', 'stopped'];
  t.deepEqual(said.filter((msg) => stopping.includes(msg)), stopping);
  t.is(said.at(-1), 'stopped');
  t.true(said.includes('worker ready'));
});

test('two workers share one heartbeat schedule', async (t) => {
  const { db, url } = await testDatabase((fn) => t.teardown(fn));
  const prefix = queuePrefix((fn) => t.teardown(fn));
  const workers = [startWorker(url, prefix), startWorker(url, prefix)];
  t.teardown(() => { for (const { worker } of workers) worker.kill('SIGKILL'); });
  await waitFor('both workers to be ready', async () => workers.every(({ output }) => output().includes('worker ready')), READY_WITHIN_MS);
  const queue = createQueue(HEARTBEAT_QUEUE, { REDIS_URL: redisUrl(), QUEUE_PREFIX: prefix });
  t.teardown(() => queue.close());
  t.is((await queue.getRepeatableJobs()).length, 1);
  await waitFor('a heartbeat', async () => (await db('worker_heartbeats').count({ n: '*' }))[0]!.n, PATIENT_WAIT_MS);
  for (const { worker } of workers) worker.kill('SIGTERM');
  const codes = await Promise.all(workers.map(async ({ worker }) => (await once(worker, 'exit'))[0]));
  t.deepEqual(codes, [0, 0]);
});

test('the worker deletes ended staff sessions on its schedule and keeps live ones', async (t) => {
  const { db, url } = await testDatabase((fn) => t.teardown(fn));
  await db.seed.run();
  const { id } = await db('staff_accounts').where({ login_id: 'demo-shop' }).first('id');
  const now = Date.now();
  await db('staff_sessions').insert([
    { token_hash: Buffer.alloc(32, 1), staff_id: id, expires_at: new Date(now - 1000), last_seen_at: new Date(now - 2000) },
    { token_hash: Buffer.alloc(32, 2), staff_id: id, expires_at: new Date(now + 3600_000), last_seen_at: new Date(now - 3600_000), idle_seconds: 1800 },
    { token_hash: Buffer.alloc(32, 3), staff_id: id, expires_at: new Date(now + 3600_000), last_seen_at: new Date(now) },
  ]);
  const { child: worker } = await startReadyWorker(workerEnv(url, queuePrefix((fn) => t.teardown(fn)), { STAFF_SESSION_PURGE_INTERVAL_MS: '200' }));
  t.teardown(() => { worker.kill('SIGKILL'); });
  await waitFor('the ended sessions to go', async () => Number((await db('staff_sessions').count({ n: '*' }))[0]!.n) === 1, PATIENT_WAIT_MS);
  t.deepEqual(await db('staff_sessions').pluck('token_hash'), [Buffer.alloc(32, 3)]);
});

test('the worker deletes ended resident pages on its schedule and keeps the open one', async (t) => {
  const { db, url } = await testDatabase((fn) => t.teardown(fn));
  await db.seed.run();
  const now = Date.now();
  const { id: staffId } = await db('staff_accounts').where({ login_id: 'demo-city' }).first('id');
  const [deviceId] = await db('devices').insert({ municipality_code: '139998', name: '市役所ロビー端末', token_hash: Buffer.alloc(32, 8), enrolled_at: new Date(now), enrolled_by_staff_id: staffId });
  const { id: mykeyPk } = await db('mykeys').where({ mykey_id: await addResident(db) }).first('id');
  const page = (fill: number, lastUsed: number, ended: boolean, closesBy = lastUsed + 1_800_000) => ({
    token_hash: Buffer.alloc(32, fill), mykey_pk: mykeyPk, municipality_code: '139998', device_id: deviceId, opened_at: new Date(lastUsed), last_used_at: new Date(lastUsed), idle_seconds: 300,
    closes_by: new Date(closesBy), ended_at: ended ? new Date(now) : null, end_reason: ended ? 'card_removed' : null,
  });
  // Closed when the card left; idled out; past its limit though just used; open.
  await db('resident_sessions').insert([page(1, now, true), page(2, now - 301_000, false), page(4, now, false, now - 1_000), page(3, now, false)]);
  const { child: worker } = await startReadyWorker(workerEnv(url, queuePrefix((fn) => t.teardown(fn)), { RESIDENT_SESSION_PURGE_INTERVAL_MS: '200' }));
  t.teardown(() => { worker.kill('SIGKILL'); });
  await waitFor('the ended pages to go', async () => Number((await db('resident_sessions').count({ n: '*' }))[0]!.n) === 1, PATIENT_WAIT_MS);
  t.deepEqual(await db('resident_sessions').pluck('token_hash'), [Buffer.alloc(32, 3)]);
});

test('the worker folds service uses past their retention into hourly counts on its schedule and keeps the recent ones', async (t) => {
  const { db, url } = await testDatabase((fn) => t.teardown(fn));
  await db.seed.run();
  const now = Date.now();
  const { id: staffId } = await db('staff_accounts').where({ login_id: 'demo-city' }).first('id');
  const [deviceId] = await db('devices').insert({ municipality_code: '139998', name: 'ゲート', token_hash: Buffer.alloc(32, 9), enrolled_at: new Date(now), enrolled_by_staff_id: staffId });
  const [serviceId] = await db('services').insert({ municipality_code: '139998', kind: 'library', name_ja: '図書館', name_en: 'Library', tap_policy: 'tap', created_at: new Date(now), updated_at: new Date(now) });
  const hour = Math.floor((now - 3 * 86_400_000) / 3_600_000) * 3_600_000;
  await db('service_uses').insert([hour + 1000, hour + 2000, now - 3_600_000].map((at) => ({ service_id: serviceId, device_id: deviceId, used_at: new Date(at) })));
  const { child: worker } = await startReadyWorker(workerEnv(url, queuePrefix((fn) => t.teardown(fn)), { SERVICE_USE_RETENTION_DAYS: '2', SERVICE_USE_RETENTION_INTERVAL_MS: '200' }));
  t.teardown(() => { worker.kill('SIGKILL'); });
  await waitFor('the old uses to be counted', async () => Number((await db('service_uses').count({ n: '*' }))[0]!.n) === 1, PATIENT_WAIT_MS);
  t.deepEqual((await db('service_use_counts').select('service_id', 'hour', 'uses')).map((row) => ({ ...row, service_id: Number(row.service_id) })), [{ service_id: serviceId, hour: new Date(hour), uses: 2 }]);
});

test('the worker deletes the records of shelters closed longer ago than their retention on its schedule, and keeps the others', async (t) => {
  const { db, url } = await testDatabase((fn) => t.teardown(fn));
  await db.seed.run();
  const now = Date.now();
  const { id: staffId } = await db('staff_accounts').where({ login_id: 'demo-city' }).first('id');
  const [deviceId] = await db('devices').insert({ municipality_code: '139998', name: '避難所受付', token_hash: Buffer.alloc(32, 8), enrolled_at: new Date(now), enrolled_by_staff_id: staffId });
  const [mykeyPk] = await db('mykeys').insert({ mykey_id: 'SHLT2345', home_municipality_code: '139998' });
  const shelter = (closedDaysAgo: number) => ({
    municipality_code: '139998', name_ja: '体育館', name_en: 'Gym', place: '中央', capacity: 10, drill: true,
    opened_at: new Date(now - 10 * 86_400_000), closed_at: new Date(now - closedDaysAgo * 86_400_000), updated_at: new Date(now),
  });
  const [old] = await db('shelters').insert(shelter(3));
  const [recent] = await db('shelters').insert(shelter(1));
  for (const shelterId of [old, recent]) {
    await db('shelter_stays').insert({ shelter_id: shelterId, mykey_pk: mykeyPk, in_at: new Date(now - 5 * 86_400_000), in_device_id: deviceId, out_at: new Date(now - 4 * 86_400_000), out_by: 'close' });
  }
  const { child: worker } = await startReadyWorker(workerEnv(url, queuePrefix((fn) => t.teardown(fn)), { SHELTER_RECORD_RETENTION_DAYS: '2', SHELTER_RECORD_RETENTION_INTERVAL_MS: '200' }));
  t.teardown(() => { worker.kill('SIGKILL'); });
  await waitFor('the old records to go', async () => Number((await db('shelter_stays').count({ n: '*' }))[0]!.n) === 1, PATIENT_WAIT_MS);
  t.deepEqual((await db('shelter_stays').pluck('shelter_id')).map(Number), [recent]);
});
