// The sweeper: accepted conversions whose job is not in Bull — never enqueued, lost with
// Redis's data, or failed — are enqueued again; those whose job still stands to run are only
// stamped; and a worker recovers from a Redis that lost everything, crediting each once.
import test from 'ava';
import { once } from 'node:events';
import { Redis } from 'ioredis';
import type { Db } from '../src/db.ts';
import { processConversions } from '../src/conversions/process.ts';
import { addConversionJobs, CONVERSION_QUEUE, enqueueConversions, type ConversionJob } from '../src/conversions/queue.ts';
import { sweepConversions } from '../src/conversions/sweeper.ts';
import { checkLedger } from '../src/ledger/check.ts';
import { createQueue } from '../src/queue.ts';
import { waitFor } from '@mykey/dev-tools/wait.ts';
import { queuePrefix, redisUrl, silentLog, testDatabase } from './helpers/env.ts';
import { acceptedConversion, conversionRow } from './helpers/conversions.ts';
import { resident, town } from './helpers/ledger.ts';
import { startBackend } from './helpers/processes.ts';

const database = (t: { teardown(fn: () => unknown): void }) => testDatabase((fn) => t.teardown(fn));

function conversionQueue(t: { teardown(fn: () => unknown): void }) {
  const prefix = queuePrefix((fn) => t.teardown(fn));
  const queue = createQueue<ConversionJob>(CONVERSION_QUEUE, { REDIS_URL: redisUrl(), QUEUE_PREFIX: prefix });
  t.teardown(() => queue.close());
  return { prefix, queue };
}

async function conversions(db: Db, n: number) {
  const city = await town(db, { premiumPercent: 0 });
  const ids: number[] = [];
  for (let i = 0; i < n; i++) ids.push(await acceptedConversion(db, { partnerId: city.partnerId, municipalityCode: city.code, mykeyId: await resident(db), points: 10 + i }));
  return ids;
}

const MINUTE = 60_000;

test('the sweeper enqueues requests never queued, lost or failed, stamps those still waiting, and leaves the recent and finished ones', async (t) => {
  const { db } = await database(t);
  const { queue } = conversionQueue(t);
  const [neverQueued, lost, failed, waiting, recent, credited, justAccepted] = await conversions(db, 7) as [number, number, number, number, number, number, number];
  const now = new Date();
  const longAgo = new Date(now.getTime() - 10 * MINUTE);
  await db('conversion_requests').whereNot({ id: justAccepted }).update({ accepted_at: longAgo });
  await enqueueConversions(queue, db, [lost, failed, waiting], longAgo);
  await enqueueConversions(queue, db, [recent], now);
  await (await queue.getJob(String(lost)))!.remove();
  // Bull gives up on the failed one: taken as a worker would, failed for good.
  const taken = (await queue.getNextJob())!;
  t.is(taken.id, String(failed));
  taken.discard();
  await taken.moveToFailed({ message: 'gave up' });
  t.is(await (await queue.getJob(String(failed)))!.getState(), 'failed');
  t.deepEqual(await processConversions(db, [credited]), new Map());

  t.deepEqual(await sweepConversions(db, queue, silentLog, 5 * MINUTE, now), { checked: 4, enqueued: 3 });
  for (const id of [neverQueued, lost, failed, waiting, recent]) {
    t.is(await (await queue.getJob(String(id)))!.getState(), 'waiting', `conversion ${id} has a job waiting`);
  }
  t.is((await queue.getJob(String(failed)))!.attemptsMade, 0, 'the failed job was replaced by a new one');
  t.is(await queue.getJob(String(credited)), null);
  t.is(await queue.getJob(String(justAccepted)), null, 'one just accepted is left for the API to queue');
  for (const id of [neverQueued, lost, failed, waiting]) t.deepEqual((await conversionRow(db, id)).queued_at, now);
  t.deepEqual(await sweepConversions(db, queue, silentLog, 5 * MINUTE, now), { checked: 0, enqueued: 0 }, 'a second sweep finds nothing to do');
  t.is(await queue.count(), 5);
});

test('a batch line is swept by its chunk\'s job: stamped while that job waits, enqueued alone once it is gone', async (t) => {
  const { db } = await database(t);
  const { queue } = conversionQueue(t);
  const [a, b, c, d] = await conversions(db, 4) as [number, number, number, number];
  const now = new Date();
  const longAgo = new Date(now.getTime() - 10 * MINUTE);
  const [batchId] = await db('conversion_batches').insert({
    partner_id: (await conversionRow(db, a)).partner_id, partner_batch_id: 'sweep', content_sha256: Buffer.alloc(32), line_count: 2_000, received_at: longAgo,
  });
  // a and b from the first chunk of lines, c and d from the second; every row queued long ago.
  for (const [id, line] of [[a, 1], [b, 1_000], [c, 1_001], [d, 2_000]] as const) {
    await db('conversion_requests').where({ id }).update({ batch_id: batchId, batch_line: line, accepted_at: longAgo, queued_at: longAgo });
  }
  await addConversionJobs(queue, [a, b, c, d].map((id, i) => ({ id, batch: { id: Number(batchId), line: [1, 1_000, 1_001, 2_000][i]! } })));
  t.deepEqual((await queue.getJob(`batch:${batchId}:0`))!.data, { conversionIds: [a, b] });
  // The second chunk's job is lost; the first one's still waits.
  await (await queue.getJob(`batch:${batchId}:1`))!.remove();

  t.deepEqual(await sweepConversions(db, queue, silentLog, 5 * MINUTE, now), { checked: 4, enqueued: 2 });
  t.is(await (await queue.getJob(`batch:${batchId}:0`))!.getState(), 'waiting');
  for (const id of [a, b]) t.is(await queue.getJob(String(id)), null, `conversion ${id} is left to its chunk's job`);
  for (const id of [c, d]) t.deepEqual((await queue.getJob(String(id)))!.data, { conversionId: id }, `conversion ${id} has a job of its own`);
  for (const id of [a, b, c, d]) t.deepEqual((await conversionRow(db, id)).queued_at, now);
  t.deepEqual(await sweepConversions(db, queue, silentLog, -1, new Date(now.getTime() + MINUTE)), { checked: 4, enqueued: 0 }, 'each job found standing the next time');
  t.is(await queue.count(), 3);
});

test('after Redis lost every job, before the worker started or while it runs, the sweeper gets each accepted conversion credited once', async (t) => {
  const { db, url } = await database(t);
  const { prefix, queue } = conversionQueue(t);
  const ids = await conversions(db, 30);
  await enqueueConversions(queue, db, ids.slice(0, 20));
  // Redis loses its data: every key of this deployment's queues goes.
  const redis = new Redis(redisUrl());
  t.teardown(() => redis.disconnect());
  const keys = await redis.keys(`${prefix}:*`);
  t.true(keys.length > 0);
  await redis.unlink(...keys);

  const { child: worker, output } = startBackend('worker', {
    DATABASE_URL: url, REDIS_URL: redisUrl(), QUEUE_PREFIX: prefix, CONVERSION_SWEEP_INTERVAL_MS: '200', CONVERSION_REQUEUE_AFTER_MS: '100',
  });
  t.teardown(() => { worker.kill('SIGKILL'); });

  await waitFor('every conversion credited', async () =>
    Number((await db('conversion_requests').whereIn('id', ids).where({ state: 'credited' }).count({ n: '*' }))[0]!.n) === ids.length, 60_000);
  const entries = await db('ledger_entries').whereIn('reference', ids.map((id) => `conversion:${id}`)).count({ n: '*' });
  t.is(Number(entries[0]!.n), ids.length);
  t.regex(output(), /accepted conversions enqueued again/);

  // Redis loses everything again while the worker runs, the repeatable jobs' schedules too;
  // then conversions arrive that were never enqueued: only a sweep can find them.
  await redis.unlink(...await redis.keys(`${prefix}:*`));
  const more = await conversions(db, 10);
  await waitFor('the conversions after the second loss credited', async () =>
    Number((await db('conversion_requests').whereIn('id', more).where({ state: 'credited' }).count({ n: '*' }))[0]!.n) === more.length, 60_000);
  t.regex(output(), /schedule was missing in Redis; restored/);
  const all = [...ids, ...more];
  t.is(Number((await db('ledger_entries').whereIn('reference', all.map((id) => `conversion:${id}`)).count({ n: '*' }))[0]!.n), all.length);
  t.like(await checkLedger(db), { ok: true, violations: [] });
  worker.kill('SIGTERM');
  t.is((await once(worker, 'exit'))[0], 0);
});
