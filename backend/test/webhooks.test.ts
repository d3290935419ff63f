// Webhooks: each finished conversion is POSTed to the partner's webhook URL, signed with the
// partner's secret; a 500, a timeout, a refused connection or a redirect is retried later, the
// wait doubling up to a cap; a slow partner does not hold up another; two deliverers at once
// send each webhook once. The deliverer runs on a clock the test moves, so no assertion
// depends on how fast anything ran.
import test from 'ava';
import { once } from 'node:events';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { createServer, type AddressInfo } from 'node:net';
import type { Db } from '../src/db.ts';
import { processConversions } from '../src/conversions/process.ts';
import { conversionOutbox } from '../src/conversions/webhooks.ts';
import { retryDelay, webhookDeliverer, type WebhookSettings } from '../src/webhooks/delivery.ts';
import { checkLedger } from '../src/ledger/check.ts';
import { bodySha256, parseTimestamp, partnerKey, signatureMatches } from '@mykey/contracts/partner-signature.ts';
import { silentLog, testDatabase } from './helpers/env.ts';
import { acceptedConversion, conversionRow, partnerWebhook, workerMykeySecret } from './helpers/conversions.ts';
import { httpServer } from './helpers/jpki.ts';
import { resident, town } from './helpers/ledger.ts';
import { waitFor } from '@mykey/dev-tools/wait.ts';

// Each test has a database of its own: a deliverer sends whatever is due in its database.
const database = (t: { teardown(fn: () => unknown): void }) => testDatabase((fn) => t.teardown(fn));

// Long enough that a loaded machine's local answer is never taken for a timeout; the test of timeouts shortens it.
const SETTINGS: WebhookSettings = { timeoutMs: 10_000, retryBaseMs: 1_000, retryMaxMs: 8_000, perPartner: 4, allowPlainHttp: false };

/** A clock the test moves by hand, starting a little ahead of the real one (processing stamps real times). */
function manualClock() {
  let now = Date.now() + 1_000;
  return { now: () => new Date(now), advance: (ms: number) => { now += ms; } };
}

/** A loopback port nothing listens on (one just let go). */
async function closedPort(): Promise<number> {
  const server = createServer().listen(0, '127.0.0.1');
  await once(server, 'listening');
  const { port } = server.address() as AddressInfo;
  await new Promise((resolve) => server.close(resolve));
  return port;
}

interface Delivery { path: string; signed: boolean; body: Record<string, unknown> }

/** A partner's webhook endpoint: answers with `reply(n)` (a status, or 'hang' to never answer), verifies each signature. */
async function endpoint(t: { teardown(fn: () => unknown): void }, db: Db, partnerId: number, reply: (n: number) => number | 'hang', path = '/hooks/mykey?x=1') {
  const partner = await db('partners').where({ id: partnerId }).first('slug');
  const deliveries: Delivery[] = [];
  let secret = '';
  const url = await httpServer((fn) => t.teardown(fn), async (req: IncomingMessage, res: ServerResponse) => {
    const chunks: Buffer[] = [];
    for await (const chunk of req) chunks.push(chunk as Buffer);
    const raw = Buffer.concat(chunks).toString('utf8');
    const timestamp = parseTimestamp(req.headers['x-mykey-timestamp'] as string) ?? 0;
    const signed = req.headers['x-mykey-partner'] === partner.slug && req.headers['content-type'] === 'application/json'
      && signatureMatches(partnerKey(secret), { timestamp, method: req.method!, path: req.url!, bodySha256: bodySha256(raw) }, String(req.headers['x-mykey-signature']));
    deliveries.push({ path: req.url!, signed, body: JSON.parse(raw) });
    const status = reply(deliveries.length);
    if (status !== 'hang') res.writeHead(status, status >= 300 && status < 400 ? { location: `${url}/elsewhere` } : {}).end('{}');
  });
  secret = await partnerWebhook(db, partnerId, `${url}${path}`);
  return { url, deliveries };
}

/** A town whose partner has a webhook, and one finished conversion of 100 points in it. */
async function finishedConversion(db: Db, premiumPercent = 0) {
  const city = await town(db, { premiumPercent });
  const id = await acceptedConversion(db, { partnerId: city.partnerId, municipalityCode: city.code, mykeyId: await resident(db), points: 100, partnerPoints: 125 });
  return { city, id };
}

const process = async (db: Db, id: number) => {
  if ((await processConversions(db, [id])).size > 0) throw new Error(`conversion ${id} was not processed`);
};

const webhookOf = async (db: Db, id: number) => {
  const row = await conversionRow(db, id);
  return { state: row.webhook_state, attempts: row.webhook_attempts, nextAt: row.webhook_next_at as Date | null, error: row.webhook_last_error as string | null };
};

test('the outcome is POSTed signed over the URL\'s path and query, and a 2xx marks it delivered', async (t) => {
  const { db } = await database(t);
  const { city, id } = await finishedConversion(db, 20);
  const hook = await endpoint(t, db, city.partnerId, () => 200);
  await process(db, id);
  const clock = manualClock();
  const deliverer = webhookDeliverer(db, silentLog, conversionOutbox(workerMykeySecret), SETTINGS, clock.now);
  t.is(await deliverer.tick(), 1);
  await deliverer.drain();
  t.is(hook.deliveries.length, 1);
  const [delivery] = hook.deliveries;
  t.true(delivery!.signed);
  t.is(delivery!.path, '/hooks/mykey?x=1');
  const row = await conversionRow(db, id);
  t.deepEqual(delivery!.body, {
    event: 'conversion.finished', conversionId: String(id), partnerTxId: row.partner_tx_id, state: 'credited', partnerPoints: 125,
    points: 100, basePoints: 100, premiumPoints: 20, rejectCode: null, rejectDetail: null,
    acceptedAt: row.accepted_at.toISOString(), finishedAt: row.finished_at.toISOString(),
  }, 'the conversion as GET answers it');
  t.like(await webhookOf(db, id), { state: 'delivered', attempts: 1, nextAt: null, error: null });
  t.is(await deliverer.tick(), 0, 'nothing more is due');
  t.like(await checkLedger(db), { ok: true, violations: [] });
});

test('a rejected conversion\'s webhook carries its code and messages, and nothing credited', async (t) => {
  const { db } = await database(t);
  const { city, id } = await finishedConversion(db);
  await db('mykeys').whereIn('id', db('conversion_requests').where({ id }).select('mykey_pk')).update({ status: 'suspended' });
  const hook = await endpoint(t, db, city.partnerId, () => 204);
  await process(db, id);
  const deliverer = webhookDeliverer(db, silentLog, conversionOutbox(workerMykeySecret), SETTINGS, manualClock().now);
  await deliverer.tick();
  await deliverer.drain();
  t.like(hook.deliveries[0]!.body, { state: 'rejected', rejectCode: 'mykey_suspended', basePoints: null, premiumPoints: null, partnerPoints: 125, points: 100 });
  t.like(hook.deliveries[0]!.body.rejectMessage, { ja: 'このマイキーIDは利用停止中です。市区町村の窓口にお問い合わせください。' });
});

test('a 500, a timeout, a refused connection and a redirect are retried, each wait twice the last up to the cap, until the partner answers', async (t) => {
  const { db } = await database(t);
  const { city, id } = await finishedConversion(db);
  // 500, hang (timeout), 302 (not followed), then up (after a spell with nothing listening), then 200.
  const answers: Array<number | 'hang'> = [500, 'hang', 302, 200];
  const hook = await endpoint(t, db, city.partnerId, (n) => answers[n - 1] ?? 500);
  await process(db, id);
  const clock = manualClock();
  const deliverer = webhookDeliverer(db, silentLog, conversionOutbox(workerMykeySecret), { ...SETTINGS, timeoutMs: 2_000 }, clock.now);
  const attempt = async () => {
    t.is(await deliverer.tick(), 1);
    await deliverer.drain();
    const webhook = await webhookOf(db, id);
    return { ...webhook, waitMs: webhook.nextAt && webhook.nextAt.getTime() - clock.now().getTime() };
  };
  const errors: string[] = [];
  const waits: number[] = [];
  for (let i = 0; i < 3; i++) {
    const failed = await attempt();
    t.is(failed.state, 'pending');
    t.is(await deliverer.tick(), 0, 'not due before its time');
    errors.push(failed.error!);
    waits.push(failed.waitMs!);
    clock.advance(failed.waitMs!);
  }
  // The partner's server goes away: the connection is refused.
  const listening = (await db('partners').where({ id: city.partnerId }).first('webhook_url')).webhook_url as string;
  await db('partners').where({ id: city.partnerId }).update({ webhook_url: `http://127.0.0.1:${await closedPort()}/hooks` });
  for (let i = 0; i < 2; i++) {
    const failed = await attempt();
    errors.push(failed.error!);
    waits.push(failed.waitMs!);
    clock.advance(failed.waitMs!);
  }
  await db('partners').where({ id: city.partnerId }).update({ webhook_url: listening });
  t.like(await attempt(), { state: 'delivered', attempts: 6, error: null });

  t.deepEqual(waits, [1_000, 2_000, 4_000, 8_000, 8_000], 'doubling from the base, capped');
  t.is(errors[0], 'HTTP 500');
  t.is(errors[1], 'no answer within 2000 ms');
  t.is(errors[2], 'HTTP 302 (redirects are not followed)');
  t.regex(errors[3]!, /^connection failed: ECONNREFUSED/);
  t.is(hook.deliveries.length, 4, 'the redirect was not followed');
  t.true(hook.deliveries.every((d) => d.signed && d.path === '/hooks/mykey?x=1'));
  t.is(new Set(hook.deliveries.map((d) => JSON.stringify(d.body))).size, 1, 'every attempt carries the same outcome');
});

test('a plain http webhook URL beyond loopback is never sent to in production, and is retried once the URL is https or loopback', async (t) => {
  const { db } = await database(t);
  const { city, id } = await finishedConversion(db);
  const hook = await endpoint(t, db, city.partnerId, () => 200);
  const loopbackUrl = (await db('partners').where({ id: city.partnerId }).first('webhook_url')).webhook_url as string;
  // The same listening server, named by a host that is not loopback (stored before the rule, say).
  const port = new URL(loopbackUrl).port;
  await db('partners').where({ id: city.partnerId }).update({ webhook_url: `http://mykey-partner.invalid:${port}/hooks` });
  await process(db, id);
  const clock = manualClock();
  const production = webhookDeliverer(db, silentLog, conversionOutbox(workerMykeySecret), SETTINGS, clock.now);
  t.is(await production.tick(), 1);
  await production.drain();
  const refused = await webhookOf(db, id);
  t.like(refused, { state: 'pending', attempts: 1 });
  t.regex(refused.error!, /^not sent: a plain http:\/\/ webhook URL is refused in production/);
  t.is(hook.deliveries.length, 0, 'nothing left the process');
  await db('partners').where({ id: city.partnerId }).update({ webhook_url: loopbackUrl });
  clock.advance(refused.nextAt!.getTime() - clock.now().getTime());
  t.is(await production.tick(), 1);
  await production.drain();
  t.like(await webhookOf(db, id), { state: 'delivered' });
  t.is(hook.deliveries.length, 1);
});

test('the retry wait doubles from the base and stops at the cap', (t) => {
  t.deepEqual([1, 2, 3, 4, 5, 6, 7, 60].map((n) => retryDelay(n, { retryBaseMs: 5_000, retryMaxMs: 3_600_000 })),
    [5_000, 10_000, 20_000, 40_000, 80_000, 160_000, 320_000, 3_600_000]);
});

test('a partner that never answers does not hold up another partner\'s webhooks', async (t) => {
  const { db } = await database(t);
  const slow = await finishedConversion(db);
  const fast = await finishedConversion(db);
  const slowHook = await endpoint(t, db, slow.city.partnerId, () => 'hang');
  const fastHook = await endpoint(t, db, fast.city.partnerId, () => 200);
  const more: number[] = [];
  for (let i = 0; i < 6; i++) more.push(await acceptedConversion(db, { partnerId: slow.city.partnerId, municipalityCode: slow.city.code, mykeyId: await resident(db), points: 10 }));
  for (const id of [slow.id, fast.id, ...more]) await process(db, id);
  // Long enough that the test would notice waiting for it.
  const deliverer = webhookDeliverer(db, silentLog, conversionOutbox(workerMykeySecret), { ...SETTINGS, timeoutMs: 120_000 }, manualClock().now);
  t.is(await deliverer.tick(), 4 + 1, 'the slow partner gets its four slots, the other its own');
  t.is(await deliverer.tick(), 0, 'the slow partner\'s slots are full; the rest wait for them');
  // The slow partner's deliveries are still in flight, so drain cannot be awaited.
  await waitFor('the other partner\'s webhook', async () => (await webhookOf(db, fast.id)).state === 'delivered');
  t.is(fastHook.deliveries.length, 1);
  t.is(slowHook.deliveries.length, 4);
  t.is((await webhookOf(db, slow.id)).state, 'pending');
});

test('two deliverers at once send each webhook once', async (t) => {
  const { db } = await database(t);
  const { city, id } = await finishedConversion(db);
  const ids = [id];
  for (let i = 0; i < 11; i++) ids.push(await acceptedConversion(db, { partnerId: city.partnerId, municipalityCode: city.code, mykeyId: await resident(db), points: 10 }));
  const hook = await endpoint(t, db, city.partnerId, () => 200);
  for (const one of ids) await process(db, one);
  const clock = manualClock();
  const settings = { ...SETTINGS, perPartner: 100 };
  const deliverers = [webhookDeliverer(db, silentLog, conversionOutbox(workerMykeySecret), settings, clock.now), webhookDeliverer(db, silentLog, conversionOutbox(workerMykeySecret), settings, clock.now)];
  const started = await Promise.all(deliverers.map((d) => d.tick()));
  await Promise.all(deliverers.map((d) => d.drain()));
  t.is(started[0]! + started[1]!, 12);
  t.is(hook.deliveries.length, 12);
  t.is(new Set(hook.deliveries.map((d) => d.body.conversionId)).size, 12);
  t.is(Number((await db('conversion_requests').whereIn('id', ids).where({ webhook_state: 'delivered', webhook_attempts: 1 }).count({ n: '*' }))[0]!.n), 12);
});
