// The partner simulator's own parts, against tiny local servers: its requests are signed as
// docs/partner-api.md says and retried with the same body; its webhook receiver accepts only
// signed deliveries, records each outcome once and notices disagreeing repeats; and it
// misbehaves exactly as told.
import test from 'ava';
import { randomBytes } from 'node:crypto';
import { createServer, request, type IncomingMessage, type ServerResponse } from 'node:http';
import { once } from 'node:events';
import type { AddressInfo } from 'node:net';
import { bodySha256, parseTimestamp, signatureMatches, signedHeaders } from '@mykey/contracts/partner-signature.ts';
import { PartnerClient, PartnerSimulator, WebhookReceiver, paced, type PartnerIdentity } from '../src/partner-sim/index.ts';

const identity = (): PartnerIdentity => ({ partner: 'sim-card', key: randomBytes(32) });

interface Seen { method: string; url: string; body: string; signed: boolean }

/** A loopback server answering with `reply(seen, n)` and recording what it saw; closed after the test. */
async function tinyServer(t: { teardown(fn: () => unknown): void }, who: PartnerIdentity, reply: (seen: Seen, n: number, res: ServerResponse) => void) {
  const seen: Seen[] = [];
  const server = createServer(async (req: IncomingMessage, res) => {
    const chunks: Buffer[] = [];
    for await (const chunk of req) chunks.push(chunk as Buffer);
    const body = Buffer.concat(chunks).toString('utf8');
    const timestamp = parseTimestamp(req.headers['x-mykey-timestamp'] as string) ?? 0;
    // A batch upload is signed over its declared hash and length, which the body must then match.
    const declared = req.headers['x-mykey-content-sha256'] as string | undefined;
    const length = Number(req.headers['content-length']);
    const parts = declared === undefined
      ? { timestamp, method: req.method!, path: req.url!, bodySha256: bodySha256(body) }
      : { timestamp, method: req.method!, path: req.url!, bodySha256: declared, contentLength: length };
    const signed = req.headers['x-mykey-partner'] === who.partner && signatureMatches(who.key, parts, String(req.headers['x-mykey-signature']))
      && (declared === undefined || (declared === bodySha256(body) && Buffer.byteLength(body) === length));
    const entry = { method: req.method!, url: req.url!, body, signed };
    seen.push(entry);
    reply(entry, seen.length, res);
  }).listen(0, '127.0.0.1');
  await once(server, 'listening');
  t.teardown(() => { server.closeAllConnections(); server.close(); });
  return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, seen };
}

const json = (res: ServerResponse, status: number, body: unknown) => {
  res.writeHead(status, { 'Content-Type': 'application/json' });
  res.end(JSON.stringify(body));
};

/**
 * Posts `body` to the receiver as the platform would, signed with `key` (or as told): resolves
 * to the status, or to why there was none. With `signal`, the sender gives up when it aborts.
 */
async function deliver(url: string, who: PartnerIdentity, body: unknown, options: { key?: Uint8Array; timestamp?: number; signal?: AbortSignal } = {}) {
  const raw = JSON.stringify(body);
  const { pathname } = new URL(url);
  const headers = signedHeaders(who.partner, options.key ?? who.key, 'POST', pathname, raw, options.timestamp);
  return new Promise<number | string>((resolve) => {
    const req = request(url, { method: 'POST', headers: { ...headers, 'Content-Type': 'application/json' }, signal: options.signal }, (res) => {
      res.resume();
      res.on('end', () => resolve(res.statusCode!));
    });
    req.on('error', (error: NodeJS.ErrnoException) => resolve(error.name === 'AbortError' ? 'gave up' : error.code ?? 'error'));
    req.end(raw);
  });
}

const finished = (partnerTxId: string, extra: Record<string, unknown> = {}) =>
  ({ event: 'conversion.finished', conversionId: 7, partnerTxId, state: 'credited', points: 120, basePoints: 100, premiumPoints: 20, ...extra });

test('requests are signed over method, path and body, and a 5xx is retried with the same body until answered', async (t) => {
  const who = identity();
  const api = await tinyServer(t, who, (_seen, n, res) => (n <= 2 ? json(res, 503, { code: 'database_unavailable' }) : json(res, 202, { conversionId: 41 })));
  // A ceiling far above a loaded machine's slowest answer: only the 503s may cause a retry here.
  const client = new PartnerClient({ ...who, baseUrl: api.url, timeoutMs: 30_000 });
  const reply = await client.submit({ partnerTxId: 'tx-1', mykeyId: 'ABCD2345', municipality: '139998', partnerPoints: 100 });
  t.like(reply, { status: 202, attempts: 3, body: { conversionId: 41 } });
  t.is(api.seen.length, 3);
  t.true(api.seen.every((s) => s.signed && s.method === 'POST' && s.url === '/api/v1/partner/conversions'));
  t.is(new Set(api.seen.map((s) => s.body)).size, 1, 'every retry carries the same body');
  t.is(client.retries.serverErrors, 2);

  const status = await client.status('tx/1 ü');
  t.is(api.seen.at(-1)!.url, '/api/v1/partner/conversions/tx%2F1%20%C3%BC', 'the path is signed as sent, escaped');
  t.true(api.seen.at(-1)!.signed);
  t.is(status.status, 202);
});

test('a batch file is uploaded signed over its declared length and hash, and a busy answer (429) is retried with the same file', async (t) => {
  const who = identity();
  const api = await tinyServer(t, who, (_seen, n, res) => (n === 1 ? json(res, 429, { code: 'batch_uploads_busy' }) : json(res, 200, { state: 'done' })));
  // As above: only the 429 may cause a retry.
  const client = new PartnerClient({ ...who, baseUrl: api.url, timeoutMs: 30_000 });
  const file = '{"partnerTxId":"b-1"}\n{"partnerTxId":"b-2","note":"ü"}\n';
  t.like(await client.uploadBatch('batch 1', file), { status: 200, attempts: 2 });
  t.is(api.seen.length, 2);
  t.true(api.seen.every((s) => s.signed && s.method === 'PUT' && s.url === '/api/v1/partner/conversion-batches/batch%201' && s.body === file));
});

test('a request that is never answered is retried after the timeout; a 4xx is not retried', async (t) => {
  const who = identity();
  const api = await tinyServer(t, who, (seen, n, res) => {
    if (n === 1) return; // the first attempt to arrive hangs
    json(res, seen.body.includes('"other"') ? 409 : 202, { n });
  });
  const client = new PartnerClient({ ...who, baseUrl: api.url, timeoutMs: 300 });
  const reply = await client.submit('{"partnerTxId":"tx-2"}');
  t.like(reply, { status: 202 });
  // A busy machine may answer a later attempt after 300 ms too: each timeout costs one more
  // attempt with the same body, and nothing else does.
  t.true(client.retries.timeouts >= 1);
  t.is(reply.attempts, client.retries.timeouts + 1);
  t.is(new Set(api.seen.map((s) => s.body)).size, 1);
  const patient = new PartnerClient({ ...who, baseUrl: api.url });
  t.like(await patient.submit('{"partnerTxId":"tx-2","other":1}'), { status: 409, attempts: 1 });
  t.deepEqual(patient.retries, { timeouts: 0, connectionErrors: 0, serverErrors: 0 });
});

test('a partner that cannot reach the platform gives up after retryForMs and says so', async (t) => {
  const who = identity();
  const api = await tinyServer(t, who, () => {});
  const client = new PartnerClient({ ...who, baseUrl: api.url.replace(/:\d+$/, ':1'), timeoutMs: 200, retryForMs: 300 });
  await t.throwsAsync(client.submit('{}'), { message: /gave up after \d+ attempts/ });
  t.true(client.retries.connectionErrors >= 1);
});

test('the receiver accepts signed deliveries, refuses unsigned, stale or foreign ones with 401, and records each outcome once', async (t) => {
  const who = identity();
  const receiver = new WebhookReceiver(who);
  const url = await receiver.start();
  t.teardown(() => receiver.stop());

  t.is(await deliver(url, who, finished('tx-1')), 204);
  t.is(await deliver(url, who, finished('tx-1')), 204, 'a repeated delivery is answered 2xx too');
  t.is(await deliver(url, who, finished('tx-2'), { key: randomBytes(32) }), 401);
  t.is(await deliver(url, who, finished('tx-3'), { timestamp: Math.floor(Date.now() / 1000) - 301 }), 401);
  t.is(await deliver(url, { ...who, partner: 'someone-else' }, finished('tx-4')), 401);
  t.is(await deliver(url, who, { event: 'something.else' }), 400);
  t.is(await deliver(url.replace('/mykey/webhooks', '/elsewhere'), who, finished('tx-5')), 400);

  t.deepEqual([...receiver.outcomes.keys()], ['tx-1']);
  t.deepEqual(receiver.outcomes.get('tx-1'), { conversionId: '7', partnerTxId: 'tx-1', state: 'credited', points: 120, basePoints: 100, premiumPoints: 20 });
  t.like(receiver.counts, { deliveries: 7, accepted: 2, repeated: 1, unsigned: 3, malformed: 2 });
  t.deepEqual(receiver.disagreements, []);

  t.is(await deliver(url, who, finished('tx-1', { state: 'rejected', rejectCode: 'mykey_suspended', points: 0 })), 204);
  t.is(receiver.disagreements.length, 1, 'a repeat that disagrees with the first is noticed');
  t.is(receiver.outcomes.get('tx-1')!.state, 'credited', 'the first outcome stands in the record');
});

test('the receiver misbehaves as told: 500, no answer and a dropped connection for the next N calls, then recovers', async (t) => {
  const who = identity();
  const receiver = new WebhookReceiver(who);
  const url = await receiver.start();
  t.teardown(() => receiver.stop());

  receiver.misbehave('error', { calls: 2 });
  t.deepEqual([await deliver(url, who, finished('tx-a')), await deliver(url, who, finished('tx-a')), await deliver(url, who, finished('tx-a'))], [500, 500, 204]);

  // Armed for named deliveries: tx-b's plan waits for tx-b however late it arrives, and
  // tx-c's cannot be taken by it.
  receiver.misbehave('timeout', { calls: 1, partnerTxId: 'tx-b' });
  receiver.misbehave('close', { calls: 1, partnerTxId: 'tx-c' });
  const giveUp = new AbortController();
  const held = deliver(url, who, finished('tx-b'), { signal: giveUp.signal });
  await receiver.delivered('tx-b');
  giveUp.abort();
  t.is(await held, 'gave up', 'the receiver held tx-b without an answer until the sender gave up');
  t.is(await deliver(url, who, finished('tx-c')), 'ECONNRESET');
  t.is(await deliver(url, who, finished('tx-c')), 204);
  t.is(await deliver(url, who, finished('tx-b')), 204, 'the plan for tx-b was used up');

  // A 500 is answered after the outcome was seen; a held or dropped delivery was not recorded.
  t.deepEqual([...receiver.outcomes.keys()].sort(), ['tx-a', 'tx-b', 'tx-c']);
  t.like(receiver.counts, { error: 2, timeout: 1, close: 1, accepted: 3, repeated: 2 });
});

test('the receiver misbehaves on a fraction of calls until told to behave', async (t) => {
  const who = identity();
  const receiver = new WebhookReceiver(who);
  const url = await receiver.start();
  t.teardown(() => receiver.stop());
  receiver.misbehave('error', { fraction: 1 });
  t.deepEqual(await Promise.all(Array.from({ length: 5 }, (_, i) => deliver(url, who, finished(`tx-${i}`)))), [500, 500, 500, 500, 500]);
  receiver.misbehave('error', { fraction: 0.5 });
  const answers = await Promise.all(Array.from({ length: 200 }, (_, i) => deliver(url, who, finished(`tx-${i}`))));
  t.true(answers.includes(500) && answers.includes(204), 'some of each');
  receiver.behave();
  t.is(await deliver(url, who, finished('tx-x')), 204);
});

test('waitForOutcomes resolves when the last outcome arrives and says how many are missing otherwise', async (t) => {
  const who = identity();
  const receiver = new WebhookReceiver(who);
  const url = await receiver.start();
  t.teardown(() => receiver.stop());
  const waiting = receiver.waitForOutcomes(['tx-1', 'tx-2'], 10_000);
  await deliver(url, who, finished('tx-1'));
  await deliver(url, who, finished('tx-2'));
  await waiting;
  await t.throwsAsync(receiver.waitForOutcomes(['tx-1', 'tx-3'], 200), { message: /1 of 2 outcomes still missing/ });
});

test('traffic: duplicates are re-sent with the same body, bad requests recorded as refused, and the record reconciled', async (t) => {
  const who = identity();
  // A minimal stand-in for the platform's intake, only to drive the simulator's bookkeeping.
  const stored = new Map<string, { id: number; body: string }>();
  const api = await tinyServer(t, who, (seen, _n, res) => {
    if (seen.method === 'GET') {
      const entry = stored.get(decodeURIComponent(seen.url.split('/').at(-1)!));
      return entry ? json(res, 200, { conversionId: entry.id, state: 'credited', points: 12, basePoints: 10, premiumPoints: 2 }) : json(res, 404, { code: 'not_found' });
    }
    let body: any;
    try { body = JSON.parse(seen.body); } catch { return json(res, 400, { code: 'request_invalid' }); }
    if (!(body.partnerPoints > 0 && body.partnerPoints < 1e9) || body.mykeyId === 'ZZZZZZZZ' || body.municipality !== '139998') return json(res, 400, { code: 'request_invalid' });
    const known = stored.get(body.partnerTxId);
    if (known && known.body !== seen.body) return json(res, 409, { code: 'partner_tx_reused' });
    const entry = known ?? { id: stored.size + 1, body: seen.body };
    stored.set(body.partnerTxId, entry);
    json(res, 202, { conversionId: entry.id });
  });
  const receiver = new WebhookReceiver(who);
  t.teardown(() => receiver.stop());
  const sim = new PartnerSimulator(new PartnerClient({ ...who, baseUrl: api.url }), receiver);
  const report = await sim.run({ count: 40, mykeyIds: ['ABCD2345', 'EFGH6789'], municipality: '139998', concurrency: 8, duplicateFraction: 0.5, bad: 7, txPrefix: 'run1', partnerPoints: () => 10 });
  t.like(report, { conversions: 40, accepted: 40, inconsistent: [], unacknowledged: [] });
  t.is(report.requests, 40 + report.duplicates + 7);
  t.like(report.bad, { sent: 7, refused: 7, notRefused: [] });
  t.deepEqual(report.bad.codes, { request_invalid: 6, partner_tx_reused: 1 });
  t.is(stored.size, 40);
  const reconciled = await sim.reconcile({ rate: { units: 1, points: 1 } });
  t.like(reconciled, { credited: 40, rejected: 0, pending: [], mismatches: [], storedRefusals: [], pointsCredited: 480 });
  t.is(reconciled.missingWebhooks.length, 40, 'no webhooks came');
});

test('paced starts no more than the rate allows and keeps to the concurrency', async (t) => {
  let inFlight = 0;
  let most = 0;
  const starts: number[] = [];
  const started = Date.now();
  await paced(Array.from({ length: 20 }, () => async () => {
    starts.push(Date.now() - started);
    most = Math.max(most, ++inFlight);
    await new Promise((resolve) => setTimeout(resolve, 5));
    inFlight--;
  }), 4, 100);
  t.true(most <= 4);
  // The 20th job may not start before 19 / 100 s: a lower bound, never an upper one.
  t.true(starts.at(-1)! >= 190 - 5);
});
