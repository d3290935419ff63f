// A library's own system learns of the taps at its counters: a webhook signed with the
// service's API secret (the partner scheme), delivered by the worker's loop with retries, and a
// last-tap API it signs its own requests for. A real HTTP server plays the library's system; the
// deliverer runs on a clock the test moves, so no assertion depends on how fast anything ran.
import test from 'ava';
import { randomUUID } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { eventsAbout } from '../src/audit/chain.ts';
import { tapEventOutbox } from '../src/town-services/tap-events.ts';
import { webhookDeliverer, type WebhookSettings } from '../src/webhooks/delivery.ts';
import { bodySha256, parseTimestamp, partnerKey, signatureMatches } from '@mykey/contracts/partner-signature.ts';
import type { IssuedCertificate } from '@mykey/dev-tools/dev-ca/index.ts';
import { waitFor } from '@mykey/dev-tools/wait.ts';
import { fileFixture, queuePrefix, redisUrl, silentLog } from './helpers/env.ts';
import { cardProof, enrollDevice, firstLogin, municipalCounter, type Device } from './helpers/identity.ts';
import { httpServer } from './helpers/jpki.ts';
import { signedFetch } from './helpers/partners.ts';
import { startBackend } from './helpers/processes.ts';

const fixture = fileFixture(test, async (cleanup) => municipalCounter(cleanup));
type Fixture = Awaited<ReturnType<typeof fixture>>;

const SETTINGS: WebhookSettings = { timeoutMs: 10_000, retryBaseMs: 1_000, retryMaxMs: 8_000, perPartner: 4, allowPlainHttp: false };

/** A clock the test moves by hand, a little ahead of the real one (taps stamp real times). */
function manualClock() {
  let now = Date.now() + 1_000;
  return { now: () => new Date(now), advance: (ms: number) => { now += ms; } };
}

let serial = 0;

/** A library of the clerk's town with PIN-less taps at a counter of its own, and a member linked there. */
async function libraryWithMember(f: Fixture) {
  const { staff, base, pki } = f;
  const counter = await enrollDevice(base, staff, `図書館カウンター${++serial}`);
  const created = await staff.post('/api/v1/services', { kind: 'library', nameJa: `みらい市立図書館 連携${serial}`, nameEn: `Mirai Library ${serial}`, tapPolicy: 'tap' });
  const service = created.body as { id: number; nameJa: string; nameEn: string };
  await staff.put(`/api/v1/services/${service.id}/devices`, { deviceIds: [counter.id] });
  const resident = await firstLogin(pki, counter);
  const memberNumber = `L${String(900_000 + serial).padStart(7, '0')}`;
  const request = await staff.post(`/api/v1/services/${service.id}/membership-requests`, { action: 'link', memberNumber });
  const challenge = await counter.post('/api/v1/auth/challenges', { purpose: 'service_link', membershipRequestId: request.body.requestId });
  const linked = await counter.post('/api/v1/auth/card-sessions', cardProof(challenge.body, resident.card));
  if (linked.status !== 201) throw new Error(JSON.stringify(linked.body));
  return { service, counter, resident, memberNumber, pseudonym: linked.body.membership.pseudonym as string };
}

/** The service's API secret, issued by the clerk. */
async function issueSecret(f: Fixture, serviceId: number): Promise<{ keyId: string; apiSecret: string; issuedAt: string }> {
  const issued = await f.staff.post(`/api/v1/services/${serviceId}/api-secret`, {});
  if (issued.status !== 201) throw new Error(JSON.stringify(issued.body));
  return issued.body;
}

const tap = (device: Device, card: IssuedCertificate) => device.post('/api/v1/auth/card-taps', { purpose: 'service_lookup', certificate: card.certificateDer.toString('base64') });

interface Delivery { path: string; signed: boolean; keyId: string; body: Record<string, any> }

/** The library's system: answers each delivery with `reply(n)`, checks each signature with the secret `key()` gives. */
async function librarySystem(t: { teardown(fn: () => unknown): void }, key: () => { keyId: string; apiSecret: string }, reply: (n: number) => number = () => 200) {
  const deliveries: Delivery[] = [];
  const url = await httpServer((fn) => t.teardown(fn), async (req: IncomingMessage, res: ServerResponse) => {
    const chunks: Buffer[] = [];
    for await (const chunk of req) chunks.push(chunk as Buffer);
    const raw = Buffer.concat(chunks).toString('utf8');
    const { keyId, apiSecret } = key();
    const timestamp = parseTimestamp(req.headers['x-mykey-timestamp'] as string) ?? 0;
    const signed = req.headers['x-mykey-partner'] === keyId && req.headers['content-type'] === 'application/json'
      && signatureMatches(partnerKey(apiSecret), { timestamp, method: req.method!, path: req.url!, bodySha256: bodySha256(raw) }, String(req.headers['x-mykey-signature']));
    deliveries.push({ path: req.url!, signed, keyId: String(req.headers['x-mykey-partner']), body: JSON.parse(raw) });
    res.writeHead(reply(deliveries.length)).end('{}');
  });
  return { url: `${url}/mykey/taps?branch=central`, deliveries };
}

/** A library whose system has a webhook and a secret. */
async function connectedLibrary(t: { teardown(fn: () => unknown): void }, f: Fixture, reply?: (n: number) => number) {
  const library = await libraryWithMember(f);
  let key = { keyId: '', apiSecret: '' };
  const system = await librarySystem(t, () => key, reply);
  const set = await f.staff.put(`/api/v1/services/${library.service.id}/webhook`, { url: system.url });
  if (set.status !== 200) throw new Error(JSON.stringify(set.body));
  key = await issueSecret(f, library.service.id);
  return { ...library, system, key };
}

const pendingEvents = async (f: Fixture, serviceId: number) => f.db('service_webhook_events').where({ service_id: serviceId }).orderBy('id').select();

// One deliverer at a time sends what is due in the file's database: the tests run one by one.
test.serial('the clerk sets the webhook and issues the secret: shown once, stored sealed, never in the view; bad URLs are refused', async (t) => {
  const f = await fixture();
  const { service } = await libraryWithMember(f);
  for (const url of ['ftp://library.example/hook', 'http://library.example/hook', 'not a url']) {
    t.like(await f.staff.put(`/api/v1/services/${service.id}/webhook`, { url }), { status: 400, body: { code: 'webhook_url_refused' } }, url);
  }
  t.like(await f.staff.put(`/api/v1/services/${service.id}/webhook`, { url: 'https://library.example/hook', extra: 1 }), { status: 400, body: { code: 'request_invalid' } });
  t.like(await f.staff.put(`/api/v1/services/${service.id}/webhook`, { url: 'https://library.example/mykey' }), { status: 200, body: { webhookUrl: 'https://library.example/mykey', apiSecretIssuedAt: null } });

  const key = randomUUID();
  const issued = await f.staff.post(`/api/v1/services/${service.id}/api-secret`, {}, key);
  t.is(issued.status, 201);
  t.is(issued.body.keyId, `service-${service.id}`);
  t.regex(issued.body.apiSecret, /^[0-9a-f]{64}$/);
  t.deepEqual((await f.staff.post(`/api/v1/services/${service.id}/api-secret`, {}, key)).body, issued.body, 'a replay answers the same secret');
  const stored = await f.db('idempotency_keys').where({ idempotency_key: key }).first('response');
  t.false(String(stored.response).includes(issued.body.apiSecret), 'the stored answer holds the secret sealed');
  const row = await f.db('services').where({ id: service.id }).first('api_secret_sealed');
  t.false(Buffer.from(row.api_secret_sealed).toString('latin1').includes(issued.body.apiSecret));
  const view = await f.staff.get(`/api/v1/services/${service.id}`);
  t.like(view.body, { webhookUrl: 'https://library.example/mykey', apiSecretIssuedAt: issued.body.issuedAt });
  t.false(JSON.stringify(view.body).includes(issued.body.apiSecret));
  t.false(JSON.stringify((await f.staff.get('/api/v1/services')).body).includes(issued.body.apiSecret));

  const rotated = await issueSecret(f, service.id);
  t.not(rotated.apiSecret, issued.body.apiSecret);
  t.like(await f.staff.put(`/api/v1/services/${service.id}/webhook`, { url: null }), { status: 200, body: { webhookUrl: null } });
  const events = (await eventsAbout(f.db, `service:${service.id}`)).map((e) => e.action).reverse();
  t.deepEqual(events.filter((a) => a.startsWith('service.webhook') || a.startsWith('service.secret')),
    ['service.webhook_set', 'service.secret_issued', 'service.secret_rotated', 'service.webhook_removed']);
  t.false(JSON.stringify(await eventsAbout(f.db, `service:${service.id}`)).includes(rotated.apiSecret), 'the audit log never holds a secret');
});

test.serial('a tap that finds the member is POSTed to the library\'s system, signed with the service\'s secret, once; no MyKey ID in it', async (t) => {
  const f = await fixture();
  const library = await connectedLibrary(t, f);
  const answer = await tap(library.counter, library.resident.card);
  t.like(answer, { status: 201, body: { linked: true, memberNumber: library.memberNumber } });
  const [event] = await pendingEvents(f, library.service.id);
  t.truthy(event, 'the tap recorded its event in its own transaction');
  const deliverer = webhookDeliverer(f.db, silentLog, tapEventOutbox(f.identity.secret), SETTINGS, manualClock().now);
  t.is(await deliverer.tick(), 1);
  await deliverer.drain();
  t.is(library.system.deliveries.length, 1);
  const [delivery] = library.system.deliveries;
  t.true(delivery!.signed, 'signed with the service\'s secret over the URL\'s path and query');
  t.is(delivery!.keyId, library.key.keyId);
  t.is(delivery!.path, '/mykey/taps?branch=central');
  t.deepEqual(delivery!.body, {
    type: 'member.tapped', eventId: event.event_id, service: { id: library.service.id, nameJa: library.service.nameJa, nameEn: library.service.nameEn },
    device: { id: library.counter.id }, memberNumber: library.memberNumber, pseudonym: library.pseudonym, usedAt: answer.body.usedAt,
  });
  t.regex(event.event_id, /^evt_[A-Za-z0-9_-]{22}$/);
  t.false(JSON.stringify(delivery!.body).includes(library.resident.mykeyId), 'the service never sees the MyKey ID');
  t.deepEqual(await pendingEvents(f, library.service.id), [], 'a delivered event is not kept');
  t.is(await deliverer.tick(), 0, 'nothing more is due');

  // A card linked to no membership here finds no member: nothing to tell.
  const stranger = await firstLogin(f.pki, library.counter);
  t.like(await tap(library.counter, stranger.card), { status: 201, body: { linked: false } });
  t.deepEqual(await pendingEvents(f, library.service.id), []);
});

test.serial('a failing system gets the same event again after the backoff until it answers 2xx; then no more', async (t) => {
  const f = await fixture();
  const library = await connectedLibrary(t, f, (n) => (n === 1 ? 500 : 200));
  t.is((await tap(library.counter, library.resident.card)).status, 201);
  const clock = manualClock();
  const deliverer = webhookDeliverer(f.db, silentLog, tapEventOutbox(f.identity.secret), SETTINGS, clock.now);
  t.is(await deliverer.tick(), 1);
  await deliverer.drain();
  const [failed] = await pendingEvents(f, library.service.id);
  t.like(failed, { attempts: 1, last_error: 'HTTP 500' });
  t.is(failed.next_at.getTime() - clock.now().getTime(), SETTINGS.retryBaseMs, 'the first wait is the base');
  t.is(await deliverer.tick(), 0, 'not due before its time');
  clock.advance(SETTINGS.retryBaseMs);
  t.is(await deliverer.tick(), 1);
  await deliverer.drain();
  t.is(library.system.deliveries.length, 2);
  t.true(library.system.deliveries.every((d) => d.signed));
  t.is(library.system.deliveries[0]!.body.eventId, library.system.deliveries[1]!.body.eventId, 'the same eventId: the system can drop the second copy');
  t.deepEqual(library.system.deliveries[0]!.body, library.system.deliveries[1]!.body);
  t.deepEqual(await pendingEvents(f, library.service.id), []);
  clock.advance(60_000);
  t.is(await deliverer.tick(), 0);
  t.is(library.system.deliveries.length, 2, 'one event per tap');

  // Two taps, two events of their own.
  await tap(library.counter, library.resident.card);
  await tap(library.counter, library.resident.card);
  t.is(await deliverer.tick(), 2);
  await deliverer.drain();
  t.is(new Set(library.system.deliveries.map((d) => d.body.eventId)).size, 3);
});

test.serial('the worker process delivers the tap\'s event on its own queue', async (t) => {
  const f = await fixture();
  const library = await connectedLibrary(t, f);
  const worker = startBackend('worker', { DATABASE_URL: f.url, REDIS_URL: redisUrl(), QUEUE_PREFIX: queuePrefix((fn) => t.teardown(fn)), WEBHOOK_POLL_INTERVAL_MS: '100' });
  // Stopped before the next test's own deliverer runs: one sender at a time in this database.
  t.teardown(() => worker.stop());
  t.is((await tap(library.counter, library.resident.card)).status, 201);
  await waitFor('the event at the library\'s system', async () => library.system.deliveries.length > 0, 60_000);
  t.true(library.system.deliveries[0]!.signed);
  t.like(library.system.deliveries[0]!.body, { type: 'member.tapped', memberNumber: library.memberNumber });
  await waitFor('the delivered event gone from the outbox', async () => (await pendingEvents(f, library.service.id)).length === 0, 30_000);
});

test.serial('a service without a webhook or without a secret records no events; removing the webhook drops those not yet sent', async (t) => {
  const f = await fixture();
  const bare = await libraryWithMember(f);
  await f.staff.put(`/api/v1/services/${bare.service.id}/webhook`, { url: 'https://library.example/mykey' });
  t.is((await tap(bare.counter, bare.resident.card)).status, 201);
  t.deepEqual(await pendingEvents(f, bare.service.id), [], 'no secret to sign with: nothing recorded');
  const library = await connectedLibrary(t, f, () => 500);
  await tap(library.counter, library.resident.card);
  t.is((await pendingEvents(f, library.service.id)).length, 1);
  t.like(await f.staff.put(`/api/v1/services/${library.service.id}/webhook`, { url: null }), { status: 200, body: { webhookUrl: null } });
  t.deepEqual(await pendingEvents(f, library.service.id), []);
  await tap(library.counter, library.resident.card);
  t.deepEqual(await pendingEvents(f, library.service.id), []);
});

test.serial('the last-tap API answers the service\'s own last tap at its device within five minutes, to its own key only', async (t) => {
  const f = await fixture();
  const library = await libraryWithMember(f);
  const key = await issueSecret(f, library.service.id);
  const caller = { id: library.service.id, slug: key.keyId, apiSecret: key.apiSecret };
  const path = (deviceId: number | string) => `/api/v1/service-api/devices/${deviceId}/last-tap`;
  const ask = (deviceId: number | string, options = {}) => signedFetch(f.base, caller, 'GET', path(deviceId), undefined, options);

  t.like(await ask(library.counter.id), { status: 404, body: { code: 'no_recent_tap' } }, 'no tap yet');
  const answer = await tap(library.counter, library.resident.card);
  const last = await ask(library.counter.id);
  t.is(last.status, 200, last.text);
  t.deepEqual(last.body, { memberNumber: library.memberNumber, pseudonym: library.pseudonym, usedAt: answer.body.usedAt, device: { id: library.counter.id } });
  t.false(last.text.includes(library.resident.mykeyId));

  t.like(await ask(library.counter.id, { secret: 'f'.repeat(64) }), { status: 401, body: { code: 'partner_signature_invalid' } }, 'a wrong secret');
  t.like(await ask(library.counter.id, { signedPath: path(library.counter.id + 1) }), { status: 401, body: { code: 'partner_signature_invalid' } }, 'signed for another path');
  t.like(await ask(library.counter.id, { timestamp: Math.floor(Date.now() / 1000) - 3600 }), { status: 401, body: { code: 'partner_timestamp_out_of_range' } });
  t.like(await fetch(`${f.base}${path(library.counter.id)}`).then(async (r) => ({ status: r.status, body: await r.json() })), { status: 401, body: { code: 'partner_signature_required' } });
  t.like(await ask(library.counter.id, { partner: `service-${library.service.id + 1000}` }), { status: 401, body: { code: 'partner_signature_invalid' } }, 'a service that does not exist');

  // Another library of the town, with its own key and counter.
  const other = await libraryWithMember(f);
  const otherKey = await issueSecret(f, other.service.id);
  const otherCaller = { id: other.service.id, slug: otherKey.keyId, apiSecret: otherKey.apiSecret };
  await tap(other.counter, other.resident.card);
  const unknownDevice = await ask(999_999_999);
  t.like(unknownDevice, { status: 404, body: { code: 'no_recent_tap' } });
  const comparable = (reply: { status: number; body: any }) => ({ status: reply.status, code: reply.body.code, messages: reply.body.messages });
  t.deepEqual(comparable(await ask(other.counter.id)), comparable(unknownDevice), 'another service\'s device answers as an unknown one');
  t.deepEqual(comparable(await signedFetch(f.base, otherCaller, 'GET', path(library.counter.id))), comparable(unknownDevice), 'another service\'s key sees nothing of this counter');
  t.like(await signedFetch(f.base, { ...otherCaller, apiSecret: key.apiSecret }, 'GET', path(other.counter.id)), { status: 401 }, 'one service\'s secret does not sign for another');
  t.like(await ask('abc'), { status: 404, body: { code: 'no_recent_tap' } });

  // The tap grows stale: five minutes on, it is no longer "the one at the counter".
  await f.db('service_uses').where({ service_id: library.service.id, device_id: library.counter.id }).update({ used_at: new Date(Date.now() - 5 * 60_000 - 1_000) });
  t.like(await ask(library.counter.id), { status: 404, body: { code: 'no_recent_tap' } });
  // A rotated secret: the old one stops at once.
  const rotated = await issueSecret(f, library.service.id);
  await tap(library.counter, library.resident.card);
  t.like(await ask(library.counter.id), { status: 401, body: { code: 'partner_signature_invalid' } });
  t.is((await signedFetch(f.base, { ...caller, apiSecret: rotated.apiSecret }, 'GET', path(library.counter.id))).status, 200);
});
