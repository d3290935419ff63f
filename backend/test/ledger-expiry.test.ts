// Expiry: the job moves exactly what is left of expired lots to the expired account, running
// it again (or twice at once) moves nothing more, and the worker runs it on one schedule
// shared by every worker process.
import test from 'ava';
import { once } from 'node:events';
import type { Db } from '../src/db.ts';
import { checkLedger } from '../src/ledger/check.ts';
import { LEDGER_EXPIRY_QUEUE, expireDueLots } from '../src/ledger/expiry-job.ts';
import { grantPoints, payMerchant, residentPoints } from '../src/ledger/ledger.ts';
import { createQueue } from '../src/queue.ts';
import { waitFor } from '@mykey/dev-tools/wait.ts';
import { queuePrefix, redisUrl, silentLog, testDatabase } from './helpers/env.ts';
import { NOW, ref, resident, run, town, type Town } from './helpers/ledger.ts';
import { startBackend } from './helpers/processes.ts';

const grant = (db: Db, campaignId: number, mykeyId: string, points: number, now = NOW) =>
  run(db, (trx) => grantPoints(trx, { reference: ref('grant'), campaignId, kind: 'administrative', mykeyId, points, now }));

const expiredBalance = async (db: Db, city: Town) =>
  Number((await db('ledger_accounts').where({ municipality_code: city.code, kind: 'expired' }).first('balance'))?.balance ?? 0);

test('the job moves exactly what is left of expired lots, page after page, and a second run moves nothing more', async (t) => {
  const { db } = await testDatabase((fn) => t.teardown(fn));
  const city = await town(db, { kind: 'administrative' });
  const november = await city.campaign({ kind: 'administrative', endsOn: '2026-11-30' });
  const [alice, bob, carol] = [await resident(db), await resident(db), await resident(db)];
  for (const mykeyId of [alice, bob, carol]) {
    await grant(db, november, mykeyId, 100);
    await grant(db, november, mykeyId, 40);
    await grant(db, city.campaignId, mykeyId, 1_000); // valid until 2027-03-31: untouched
  }
  await run(db, (trx) => payMerchant(trx, { reference: ref('payment'), merchantId: city.merchantId, mykeyId: alice, points: 120, now: NOW }));

  const december = new Date('2026-12-01T00:00:00.000Z');
  // Pages of two lots: the six expired lots of three residents take several pages.
  t.deepEqual(await expireDueLots(db, silentLog, december, 2), { accounts: 3, entries: 5, points: 20 + 140 + 140, failed: 0 });
  t.is(await expiredBalance(db, city), 300);
  for (const mykeyId of [alice, bob, carol]) t.deepEqual(await residentPoints(db, city.code, mykeyId, december), { balance: 1_000, spendable: 1_000 });
  t.deepEqual(await expireDueLots(db, silentLog, december, 2), { accounts: 0, entries: 0, points: 0, failed: 0 });
  t.is(await expiredBalance(db, city), 300);
  t.like(await checkLedger(db), { ok: true, violations: [] });
});

test('two expiry runs at once move each lot\'s remainder once', async (t) => {
  const { db } = await testDatabase((fn) => t.teardown(fn));
  const city = await town(db);
  const november = await city.campaign({ kind: 'administrative', endsOn: '2026-11-30' });
  const residents = await Promise.all(Array.from({ length: 8 }, () => resident(db)));
  for (const mykeyId of residents) await grant(db, november, mykeyId, 25);
  const december = new Date('2026-12-01T00:00:00.000Z');
  const runs = await Promise.all([expireDueLots(db, silentLog, december, 3), expireDueLots(db, silentLog, december, 3)]);
  t.is(runs[0]!.points + runs[1]!.points, 200);
  t.is(runs[0]!.entries + runs[1]!.entries, 8);
  t.is(await expiredBalance(db, city), 200);
  t.like(await checkLedger(db), { ok: true, violations: [] });
});

function startWorker(databaseUrl: string, prefix: string) {
  const { child: worker, output } = startBackend('worker', { DATABASE_URL: databaseUrl, REDIS_URL: redisUrl(), QUEUE_PREFIX: prefix, LEDGER_EXPIRY_INTERVAL_MS: '300' });
  return { worker, output };
}

test('two workers share one expiry schedule and expire points that are past their date', async (t) => {
  const { db, url } = await testDatabase((fn) => t.teardown(fn));
  const city = await town(db, { kind: 'administrative', startsOn: '2020-04-01', endsOn: '2021-03-31' });
  const alice = await resident(db);
  await grant(db, city.campaignId, alice, 500, new Date('2020-06-01T00:00:00.000Z'));
  const prefix = queuePrefix((fn) => t.teardown(fn));
  const workers = [startWorker(url, prefix), startWorker(url, prefix)];
  t.teardown(() => { for (const { worker } of workers) worker.kill('SIGKILL'); });
  await waitFor('both workers to be ready', async () => workers.every(({ output }) => output().includes('worker ready')), 60_000);
  const queue = createQueue(LEDGER_EXPIRY_QUEUE, { REDIS_URL: redisUrl(), QUEUE_PREFIX: prefix });
  t.teardown(() => queue.close());
  t.deepEqual((await queue.getRepeatableJobs()).map((job) => job.every), [300]);
  await waitFor('the expired points to move', async () => (await expiredBalance(db, city)) === 500, 60_000);
  t.deepEqual(await residentPoints(db, city.code, alice), { balance: 0, spendable: 0 });
  for (const { worker } of workers) worker.kill('SIGTERM');
  t.deepEqual(await Promise.all(workers.map(async ({ worker }) => (await once(worker, 'exit'))[0])), [0, 0]);
  t.like(await checkLedger(db), { ok: true, violations: [] });
  t.is((await db('ledger_entries').where({ kind: 'expiry' }).count({ n: '*' }))[0]!.n, 1);
});
