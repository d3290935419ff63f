// Processing partner conversions: one transaction credits and moves the request, so a request
// processed twice (or twice at once) credits once; the premium comes from the municipality's
// campaign and is cut when its budget runs low; what can never succeed ends rejected with a
// code, without holding back the others; and the worker process does it all from Bull, through
// a lost MySQL connection, telling the partner by a signed webhook.
import test from 'ava';
import { once } from 'node:events';
import type { Db } from '../src/db.ts';
import { processConversions } from '../src/conversions/process.ts';
import { addConversionJobs, CONVERSION_QUEUE, enqueueConversions, type ConversionJob } from '../src/conversions/queue.ts';
import { checkLedger } from '../src/ledger/check.ts';
import { residentPoints } from '../src/ledger/ledger.ts';
import { tokyoDate } from '../src/ledger/rules.ts';
import { bodySha256, parseTimestamp, partnerKey, signatureMatches } from '@mykey/contracts/partner-signature.ts';
import { createQueue } from '../src/queue.ts';
import { waitFor } from '@mykey/dev-tools/wait.ts';
import { fileFixture, queuePrefix, redisUrl, testDatabase } from './helpers/env.ts';
import { acceptedConversion, conversionRow, partnerWebhook } from './helpers/conversions.ts';
import { httpServer } from './helpers/jpki.ts';
import { DAY, NOW, creditConversion, resident, run, town } from './helpers/ledger.ts';
import { startBackend } from './helpers/processes.ts';

const fixture = fileFixture(test, async (cleanup) => testDatabase(cleanup));

const entriesOf = async (db: Db, id: number) => Number((await db('ledger_entries').where({ reference: `conversion:${id}` }).count({ n: '*' }))[0]!.n);

test('a request processed twice, or by two transactions at once, is credited once', async (t) => {
  const { db } = await fixture();
  const city = await town(db, { premiumPercent: 10 });
  const [alice, bob] = [await resident(db), await resident(db)];
  const a = await acceptedConversion(db, { partnerId: city.partnerId, municipalityCode: city.code, mykeyId: alice, points: 1_000 });
  const b = await acceptedConversion(db, { partnerId: city.partnerId, municipalityCode: city.code, mykeyId: bob, points: 300 });
  const results = await Promise.all([processConversions(db, [a, b], NOW), processConversions(db, [b, a], NOW), processConversions(db, [a], NOW)]);
  t.true(results.every((failed) => failed.size === 0));
  t.deepEqual(await processConversions(db, [a, b], NOW), new Map());
  t.is(await entriesOf(db, a), 1);
  t.is(await entriesOf(db, b), 1);
  t.like(await conversionRow(db, a), { state: 'credited', base_points: 1_000, premium_points: 100, campaign_id: city.campaignId, webhook_state: 'none', reject_code: null });
  t.like(await conversionRow(db, b), { state: 'credited', base_points: 300, premium_points: 30 });
  t.deepEqual(await residentPoints(db, city.code, alice, NOW), { balance: 1_100, spendable: 1_100 });
  t.like(await checkLedger(db), { ok: true, violations: [] });
});

test('the premium comes from the running campaign ending soonest, and is cut when its budget runs low', async (t) => {
  const { db } = await fixture();
  const city = await town(db, { premiumPercent: 10 }); // ends 2027-03-31
  await city.campaign({ premiumPercent: 0, endsOn: '2026-11-30' }); // no premium: not chosen
  await city.campaign({ premiumPercent: 90, startsOn: '2026-01-01', endsOn: '2026-10-31' }); // over: not chosen
  const soonest = await city.campaign({ premiumPercent: 50, endsOn: '2026-12-31', budgetPoints: 150 });
  await city.campaign({ premiumPercent: 30, endsOn: '2026-12-31' }); // same end, higher id
  const residents = [await resident(db), await resident(db), await resident(db)];
  const ids: number[] = [];
  for (const mykeyId of residents) ids.push(await acceptedConversion(db, { partnerId: city.partnerId, municipalityCode: city.code, mykeyId, points: 200 }));
  t.deepEqual(await processConversions(db, ids, NOW), new Map());
  const rows = await Promise.all(ids.map((id) => conversionRow(db, id)));
  t.deepEqual(rows.map((row) => [row.base_points, row.premium_points, row.campaign_id]), [[200, 100, soonest], [200, 50, soonest], [200, 0, soonest]],
    'the budget of 150 gives 100, then the 50 left, then nothing; the converted points are never cut');
  t.deepEqual(await residentPoints(db, city.code, residents[2]!, NOW), { balance: 200, spendable: 200 });
  t.like(await checkLedger(db), { ok: true, violations: [] });
});

test('a suspended MyKey ID or partner, or a refusal by the ledger, ends rejected with its code; the others are credited', async (t) => {
  const { db } = await fixture();
  const city = await town(db, { premiumPercent: 0 });
  const other = await town(db);
  await db('partners').where({ id: other.partnerId }).update({ status: 'suspended' });
  await partnerWebhook(db, city.partnerId, 'http://127.0.0.1:1/hook');
  const [alice, suspended, carol] = [await resident(db), await resident(db), await resident(db)];
  await db('mykeys').where({ mykey_id: suspended }).update({ status: 'suspended' });
  const ok = await acceptedConversion(db, { partnerId: city.partnerId, municipalityCode: city.code, mykeyId: alice, points: 100 });
  const bySuspendedMykey = await acceptedConversion(db, { partnerId: city.partnerId, municipalityCode: city.code, mykeyId: suspended, points: 100 });
  const bySuspendedPartner = await acceptedConversion(db, { partnerId: other.partnerId, municipalityCode: other.code, mykeyId: alice, points: 100 });
  const tooMany = await acceptedConversion(db, { partnerId: city.partnerId, municipalityCode: city.code, mykeyId: carol, points: 10_000_001 });
  // The ledger refuses this one: its reference was posted for another request.
  const reused = await acceptedConversion(db, { partnerId: city.partnerId, municipalityCode: city.code, mykeyId: carol, points: 100 });
  await run(db, (trx) => creditConversion(trx, { reference: `conversion:${reused}`, municipalityCode: city.code, mykeyId: carol, partnerId: city.partnerId, points: 7, now: NOW }));

  t.deepEqual(await processConversions(db, [ok, bySuspendedMykey, bySuspendedPartner, tooMany, reused], NOW), new Map());
  const state = async (id: number) => {
    const row = await conversionRow(db, id);
    return [row.state, row.reject_code, row.webhook_state];
  };
  t.deepEqual(await state(ok), ['credited', null, 'pending']);
  t.deepEqual(await state(bySuspendedMykey), ['rejected', 'mykey_suspended', 'pending']);
  t.deepEqual(await state(bySuspendedPartner), ['rejected', 'partner_suspended', 'none']);
  t.deepEqual(await state(tooMany), ['rejected', 'points_out_of_range', 'pending']);
  t.deepEqual(await state(reused), ['rejected', 'ledger_reference_reused', 'pending']);
  t.like(await conversionRow(db, ok), { base_points: 100, premium_points: 0, campaign_id: null });
  t.truthy((await conversionRow(db, bySuspendedMykey)).reject_detail);
  t.deepEqual(await residentPoints(db, city.code, alice, NOW), { balance: 100, spendable: 100 });
  t.like(await checkLedger(db), { ok: true, violations: [] });
});

function startWorker(databaseUrl: string, prefix: string, env: Record<string, string> = {}) {
  const { child: worker, output } = startBackend('worker', { DATABASE_URL: databaseUrl, REDIS_URL: redisUrl(), QUEUE_PREFIX: prefix, WEBHOOK_POLL_INTERVAL_MS: '100', ...env });
  return { worker, output };
}

/** Campaign dates around today: the worker processes at the real time. */
const runningNow = () => ({ startsOn: tokyoDate(new Date(Date.now() - DAY)), endsOn: tokyoDate(new Date(Date.now() + 30 * DAY)) });

// The worker tests get databases of their own: a worker's sweeper and deliverer see every row of its database.
test('the worker credits each enqueued conversion once, even enqueued twice, and tells the partner by a signed webhook', async (t) => {
  const { db, url } = await testDatabase((fn) => t.teardown(fn));
  const city = await town(db, { premiumPercent: 20, ...runningNow() });
  const partner = await db('partners').where({ id: city.partnerId }).first('slug');
  const received: Array<{ signed: boolean; body: Record<string, unknown> }> = [];
  let secret = '';
  const hook = await httpServer((fn) => t.teardown(fn), async (req, res) => {
    const chunks: Buffer[] = [];
    for await (const chunk of req) chunks.push(chunk as Buffer);
    const body = Buffer.concat(chunks).toString('utf8');
    const timestamp = parseTimestamp(req.headers['x-mykey-timestamp'] as string) ?? 0;
    const signed = req.headers['x-mykey-partner'] === partner.slug && signatureMatches(partnerKey(secret),
      { timestamp, method: req.method!, path: req.url!, bodySha256: bodySha256(body) }, String(req.headers['x-mykey-signature']));
    received.push({ signed, body: JSON.parse(body) });
    res.writeHead(204).end();
  });
  secret = await partnerWebhook(db, city.partnerId, `${hook}/mykey/hooks?partner=1`);
  const residents = await Promise.all(Array.from({ length: 5 }, () => resident(db)));
  const ids: number[] = [];
  for (let i = 0; i < 40; i++) ids.push(await acceptedConversion(db, { partnerId: city.partnerId, municipalityCode: city.code, mykeyId: residents[i % 5]!, points: 100 + i }));

  const prefix = queuePrefix((fn) => t.teardown(fn));
  const queue = createQueue<ConversionJob>(CONVERSION_QUEUE, { REDIS_URL: redisUrl(), QUEUE_PREFIX: prefix });
  t.teardown(() => queue.close());
  await enqueueConversions(queue, db, ids.slice(0, 30));
  await enqueueConversions(queue, db, ids.slice(0, 20));
  // The last ten as a batch file's lines would be: one job for the chunk, one of them also alone.
  await addConversionJobs(queue, ids.slice(30).map((id, i) => ({ id, batch: { id: 1, line: i + 1 } })));
  const { worker, output } = startWorker(url, prefix);
  t.teardown(() => { worker.kill('SIGKILL'); });
  await enqueueConversions(queue, db, ids.slice(10, 31));

  await waitFor('every webhook delivered', async () =>
    Number((await db('conversion_requests').whereIn('id', ids).where({ webhook_state: 'delivered' }).count({ n: '*' }))[0]!.n) === ids.length, 60_000);
  for (const id of ids) t.is(await entriesOf(db, id), 1);
  const rows = await db('conversion_requests').whereIn('id', ids).orderBy('id');
  t.true(rows.every((row, i) => row.state === 'credited' && row.base_points === 100 + i && row.premium_points === Math.floor((100 + i) / 5)));
  t.true(received.every((r) => r.signed), 'every webhook is signed with the partner\'s secret over the URL\'s path and query');
  const first = received.find((r) => r.body.conversionId === String(ids[0]))!;
  t.like(first.body, { event: 'conversion.finished', state: 'credited', partnerPoints: 100, points: 100, basePoints: 100, premiumPoints: 20, rejectCode: null });
  t.is(first.body.partnerTxId, rows[0]!.partner_tx_id);
  t.like(await checkLedger(db), { ok: true, violations: [] });

  worker.kill('SIGTERM');
  t.is((await once(worker, 'exit'))[0], 0, output());
});

test('a MySQL connection lost mid-transaction is retried, counted in attempts, and the request credited once', async (t) => {
  const { db, url } = await testDatabase((fn) => t.teardown(fn));
  const city = await town(db, { premiumPercent: 0 });
  const alice = await resident(db);
  // A first conversion creates the partner's clearing account, which the test then holds.
  t.deepEqual(await processConversions(db, [await acceptedConversion(db, { partnerId: city.partnerId, municipalityCode: city.code, mykeyId: alice, points: 1 })]), new Map());
  const clearing = await db('ledger_accounts').where({ municipality_code: city.code, kind: 'partner_clearing', partner_id: city.partnerId }).first('id');
  const id = await acceptedConversion(db, { partnerId: city.partnerId, municipalityCode: city.code, mykeyId: alice, points: 500 });

  const holder = await db.transaction();
  t.teardown(() => holder.rollback().catch(() => {}));
  await holder('ledger_accounts').where({ id: clearing.id }).forUpdate().select('id');
  const [[{ me }]] = await holder.raw('SELECT CONNECTION_ID() AS me');

  const prefix = queuePrefix((fn) => t.teardown(fn));
  const queue = createQueue<ConversionJob>(CONVERSION_QUEUE, { REDIS_URL: redisUrl(), QUEUE_PREFIX: prefix });
  t.teardown(() => queue.close());
  // As a batch file's line: a chunk's job fails on the passing error and is retried.
  await addConversionJobs(queue, [{ id, batch: { id: 1, line: 1 } }]);
  const { worker, output } = startWorker(url, prefix);
  t.teardown(() => { worker.kill('SIGKILL'); });

  const database = (await db.raw('SELECT DATABASE() AS name'))[0][0].name;
  const waiting = await waitFor('the worker to wait for the held account', async () => {
    const [rows] = await db.raw(`SELECT ID AS id FROM information_schema.PROCESSLIST WHERE DB = ? AND ID NOT IN (?, CONNECTION_ID()) AND LOWER(INFO) LIKE '%ledger_accounts%for update%'`, [database, me]);
    return rows[0]?.id as number | undefined;
  }, 60_000);
  await db.raw(`KILL CONNECTION ${Number(waiting)}`);
  await holder.rollback();

  await waitFor('the request to be credited', async () => (await conversionRow(db, id)).state === 'credited', 60_000);
  const row = await conversionRow(db, id);
  t.true(row.attempts >= 1, 'the lost attempt is counted');
  t.is(row.base_points, 500);
  t.is(await entriesOf(db, id), 1);
  t.regex(output(), /conversions left accepted by a passing error/);
  t.like(await checkLedger(db), { ok: true, violations: [] });
  t.deepEqual(await residentPoints(db, city.code, alice), { balance: 501, spendable: 501 });
});
