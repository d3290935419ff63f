// Batch files of partner conversions (docs/partner-api.md#batches): each line checked like a
// single request, per-line results in order, re-uploads that store nothing twice, an
// interrupted batch resumed, and a file of 200,000 lines streamed through.
import test, { type ExecutionContext } from 'ava';
import { createHash, randomBytes, randomInt } from 'node:crypto';
import { createReadStream, createWriteStream } from 'node:fs';
import { mkdtemp, readdir, rm } from 'node:fs/promises';
import http from 'node:http';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { Readable } from 'node:stream';
import { once } from 'node:events';
import { fileFixture, queuePrefix, redisUrl, silentLog, testDatabase } from './helpers/env.ts';
import { startApp } from './helpers/server.ts';
import { addPartner, addResident, declared, newMykeyId, signedFetch, type TestPartner } from './helpers/partners.ts';
import { createQueue } from '../src/queue.ts';
import { CONVERSION_QUEUE, type ConversionJob } from '../src/conversions/queue.ts';
import { bodySha256, partnerKey, signedHeaders, signedUploadHeaders } from '@mykey/contracts/partner-signature.ts';
import { createRedis } from '../src/redis.ts';
import { town } from './helpers/ledger.ts';
import type { Redis } from 'ioredis';
import { waitFor } from '@mykey/dev-tools/wait.ts';

const BATCHES = '/api/v1/partner/conversion-batches';
const NDJSON = { contentType: 'application/x-ndjson', upload: true };

const fixture = fileFixture(test, async (cleanup) => {
  const { db } = await testDatabase(cleanup);
  const conversions = createQueue<ConversionJob>(CONVERSION_QUEUE, { REDIS_URL: redisUrl(), QUEUE_PREFIX: queuePrefix(cleanup) })
    .on('error', (error) => silentLog.warn({ err: error }, 'queue error'));
  cleanup(() => conversions.close());
  const spoolDir = path.join(await mkdtemp(path.join(tmpdir(), 'partner-batches-spool-')), 'spool');
  cleanup(() => rm(path.dirname(spoolDir), { recursive: true, force: true }));
  const base = await startApp(cleanup, db, { conversions, batchUploads: { spoolDir, spoolMaxBytes: 1024 ** 3, perPartner: 4 } });
  const municipality = String(randomInt(100_000, 1_000_000));
  await db('municipalities').insert({ code: municipality, name_ja: 'テスト市', name_en: 'Test City' });
  const residents = await Promise.all(Array.from({ length: 20 }, () => addResident(db)));
  const dir = await mkdtemp(path.join(tmpdir(), 'partner-batches-test-'));
  cleanup(() => rm(dir, { recursive: true, force: true }));
  return { db, base, conversions, municipality, residents, dir, spoolDir };
});

/** A partner with an agreement with the file's municipality. */
async function partnerHere(rate?: { units: number; points: number }) {
  const { db, municipality } = await fixture();
  return addPartner(db, { rate, agreements: [municipality] });
}

const batchId = () => `batch-${randomBytes(6).toString('hex')}`;
const line = (fields: Record<string, unknown>) => JSON.stringify(fields);

async function upload(partner: TestPartner, id: string, body: string) {
  const { base } = await fixture();
  return signedFetch(base, partner, 'PUT', `${BATCHES}/${id}`, body, NDJSON);
}

async function results(partner: TestPartner, id: string) {
  const { base } = await fixture();
  const reply = await signedFetch(base, partner, 'GET', `${BATCHES}/${id}/results`);
  return { ...reply, lines: reply.text.split('\n').filter(Boolean).map((l) => JSON.parse(l)) };
}

async function partnerRows(partner: TestPartner) {
  const { db } = await fixture();
  return Number((await db('conversion_requests').where({ partner_id: partner.id }).count({ n: '*' }).first())!.n);
}

test('each line is checked like a single request and gets its result, in order', async (t) => {
  const { db, municipality, residents, conversions, base } = await fixture();
  const partner = await partnerHere();
  const [a, b] = residents as [string, string];
  // Submitted singly first: the batch's line for it is a replay of the same conversion.
  const single = await signedFetch(base, partner, 'POST', '/api/v1/partner/conversions', line({ partnerTxId: 'single-1', mykeyId: a, municipality, partnerPoints: 500 }));
  const lines = [
    line({ partnerTxId: 'ok-1', mykeyId: a, municipality, partnerPoints: 1250 }),
    '{"partnerTxId":"broken",',
    '',
    line({ partnerTxId: 'unknown-mykey', mykeyId: newMykeyId(), municipality, partnerPoints: 100 }),
    line({ partnerTxId: 'ok-1', mykeyId: a.toLowerCase(), municipality, partnerPoints: 1250 }),
    line({ partnerTxId: 'ok-1', mykeyId: b, municipality, partnerPoints: 1250 }),
    line({ partnerTxId: 'single-1', mykeyId: a, municipality, partnerPoints: 500 }),
    line({ partnerTxId: 'tiny', mykeyId: b, municipality, partnerPoints: 1 }),
    `${line({ partnerTxId: 'crlf', mykeyId: b, municipality, partnerPoints: 100 })}\r`,
    line({ partnerTxId: 'too-long', mykeyId: b, municipality, partnerPoints: 100, pad: 'x'.repeat(17 * 1024) }),
    line({ partnerTxId: 'no-newline-at-end', mykeyId: b, municipality, partnerPoints: 200 }),
  ];
  const id = batchId();
  const reply = await upload(partner, id, lines.join('\n'));
  t.is(reply.status, 200);
  t.like(reply.body, { batchId: id, state: 'done', lines: 11, acceptedLines: 5, rejectedLines: 6 });
  const got = await results(partner, id);
  t.is(got.status, 200);
  t.regex(got.headers.get('content-type') ?? '', /^application\/x-ndjson/);
  t.deepEqual(got.lines.map((r) => r.line), Array.from({ length: 11 }, (_, i) => i + 1));
  const byLine = (n: number) => got.lines[n - 1];
  t.like(byLine(1), { partnerTxId: 'ok-1', state: 'accepted', points: 1000 });
  t.like(byLine(2), { partnerTxId: null, error: { code: 'request_invalid', status: 400 } });
  t.like(byLine(3), { partnerTxId: null, error: { code: 'request_invalid' } });
  t.like(byLine(4), { partnerTxId: 'unknown-mykey', error: { code: 'mykey_not_found', status: 404 } });
  t.truthy(byLine(4).error.messages.ja && byLine(4).error.messages.en);
  t.is(byLine(5).conversionId, byLine(1).conversionId, 'the same line again is the same conversion');
  t.like(byLine(6), { partnerTxId: 'ok-1', error: { code: 'conversion_conflict' } });
  t.is(byLine(7).conversionId, single.body.conversionId, 'a replay of a single request');
  t.like(byLine(8), { partnerTxId: 'tiny', error: { code: 'conversion_below_minimum' } });
  t.like(byLine(9), { partnerTxId: 'crlf', state: 'accepted', points: 80 });
  t.like(byLine(10), { partnerTxId: null, error: { code: 'body_too_large' } });
  t.like(byLine(11), { partnerTxId: 'no-newline-at-end', state: 'accepted', points: 160 });
  t.is(await partnerRows(partner), 4, 'single-1, ok-1, crlf, no-newline-at-end');
  const rows = await db('conversion_requests').where({ partner_id: partner.id, batch_id: db('conversion_batches').select('id').where({ partner_batch_id: id }) }).orderBy('batch_line');
  t.deepEqual(rows.map((r) => [r.partner_tx_id, r.batch_line]), [['ok-1', 1], ['crlf', 9], ['no-newline-at-end', 11]]);
  // The answer waits for the queue only so long (batches.ts BATCH_ENQUEUE_WAIT_MS): the job may come just after it.
  const job = await waitFor('the job of the lines', () => conversions.getJob(`batch:${rows[0].batch_id}:0`));
  t.deepEqual(job!.data, { conversionIds: rows.map((row) => Number(row.id)) }, 'one job for the chunk, with the conversions it stored');
});

test('a line for a municipality without an agreement in force is refused on its own line (partner_agreement_missing): nothing stored, no budget touched', async (t) => {
  const { db, municipality, residents } = await fixture();
  const partner = await partnerHere();
  const city = await town(db);
  const budget = async () => Number((await db('ledger_accounts').where({ municipality_code: city.code, kind: 'campaign_budget' }).first('balance')).balance);
  const entries = async () => Number((await db('ledger_entries').where({ municipality_code: city.code }).count({ n: '*' }).first())!.n);
  const [budgetBefore, entriesBefore] = [await budget(), await entries()];
  const [a, b] = residents as [string, string];
  const id = batchId();
  const reply = await upload(partner, id, [
    line({ partnerTxId: 'agreed', mykeyId: a, municipality, partnerPoints: 100 }),
    line({ partnerTxId: 'not-agreed', mykeyId: b, municipality: city.code, partnerPoints: 100 }),
  ].join('\n'));
  t.like(reply.body, { state: 'done', lines: 2, acceptedLines: 1, rejectedLines: 1 });
  const got = await results(partner, id);
  t.like(got.lines[1], { line: 2, partnerTxId: 'not-agreed', error: { code: 'partner_agreement_missing', status: 403 } });
  t.deepEqual(await db('conversion_requests').where({ partner_id: partner.id }).pluck('partner_tx_id'), ['agreed']);
  t.is(await budget(), budgetBefore, 'the campaign budget is untouched');
  t.is(await entries(), entriesBefore, 'no ledger entry');
});

test('a re-upload stores nothing twice; other content under the same id is 409; other partners see nothing', async (t) => {
  const { db, municipality, residents } = await fixture();
  const partner = await partnerHere();
  const id = batchId();
  const body = residents.map((mykeyId, i) => line({ partnerTxId: `re-${i}`, mykeyId, municipality, partnerPoints: 100 + i })).join('\n') + '\n';
  const first = await upload(partner, id, body);
  t.like(first.body, { state: 'done', lines: 20, acceptedLines: 20, rejectedLines: 0 });
  const again = await upload(partner, id, body);
  t.is(again.status, 200);
  t.deepEqual(again.body, first.body);
  // Counting an upload is the write that holds its answer back until the batch is on disk (docs/architecture.md#a-replay-is-answered-only-once-durable).
  t.is(Number((await db('conversion_batches').where({ partner_batch_id: id }).first('uploads')).uploads), 2, 'both uploads were counted before they were answered');
  const underAnotherId = await upload(partner, batchId(), body);
  t.like(underAnotherId.body, { acceptedLines: 20 });
  t.is(await partnerRows(partner), 20, 'no conversion twice');
  const conflict = await upload(partner, id, body.replace('"partnerPoints":100,', '"partnerPoints":101,').replace('"partnerPoints":100}', '"partnerPoints":101}'));
  t.is(conflict.status, 409);
  t.is(conflict.body.code, 'batch_conflict');
  const other = await partnerHere();
  const { base } = await fixture();
  for (const p of [`${BATCHES}/${id}`, `${BATCHES}/${id}/results`]) {
    const foreign = await signedFetch(base, other, 'GET', p);
    t.is(foreign.status, 404, p);
    t.is(foreign.body.code, 'batch_not_found');
  }
  const summary = await signedFetch(base, partner, 'GET', `${BATCHES}/${id}`);
  t.deepEqual(summary.body, first.body);
});

test('each download of a result file is audited with the partner and the batch, and a refused one is not', async (t) => {
  const { db, base } = await fixture();
  const partner = await partnerHere();
  const other = await partnerHere();
  const id = batchId();
  await upload(partner, id, await linesFor(3, 'audited'));
  const batch = await db('conversion_batches').where({ partner_id: partner.id, partner_batch_id: id }).first('id');
  const events = () => db('audit_events').where({ subject: `conversion-batch:${batch.id}` }).orderBy('seq').select('action', 'actor_kind', 'actor_id', 'details');
  t.deepEqual(await events(), []);
  t.is((await results(partner, id)).lines.length, 3);
  t.is((await results(partner, id)).lines.length, 3);
  t.is((await signedFetch(base, other, 'GET', `${BATCHES}/${id}/results`)).status, 404);
  t.deepEqual(await events(), Array(2).fill({ action: 'partner.batch_results_downloaded', actor_kind: 'partner', actor_id: String(partner.id), details: { lines: 3 } }));
});

test('an interrupted batch resumes after the lines stored from its start when uploaded again', async (t) => {
  const { db, municipality, residents } = await fixture();
  const partner = await partnerHere();
  const id = batchId();
  const body = Array.from({ length: 2_500 }, (_, i) => line({ partnerTxId: `resume-${i}`, mykeyId: residents[i % residents.length], municipality, partnerPoints: 1000 })).join('\n');
  await upload(partner, id, body);
  const batch = await db('conversion_batches').where({ partner_id: partner.id, partner_batch_id: id }).first();
  // As if the server had died after the first chunk (lines 1,001 on never written), after the
  // third but before the second (chunks commit side by side), or after all but the first.
  for (const [from, to] of [[1_001, 2_500], [1_001, 2_000], [1, 1_000]] as const) {
    await db('conversion_batch_lines').where({ batch_id: batch.id }).whereBetween('line', [from, to]).delete();
    await db('conversion_batches').where({ id: batch.id }).update({ state: 'processing', accepted_lines: null, rejected_lines: null, finished_at: null });
    const pending = await results(partner, id);
    t.is(pending.status, 409);
    t.is(pending.body.code, 'batch_processing');
    const resumed = await upload(partner, id, body);
    t.like(resumed.body, { state: 'done', lines: 2_500, acceptedLines: 2_500, rejectedLines: 0 }, `lines ${from} to ${to} lost`);
    t.is(await partnerRows(partner), 2_500);
    const got = await results(partner, id);
    t.is(got.lines.length, 2_500);
    t.true(got.lines.every((r, i) => r.line === i + 1 && r.partnerTxId === `resume-${i}` && r.state === 'accepted'));
  }
});

test('refused uploads store nothing: too many lines, declared too large, wrong media type, bad batch id, bad signature', async (t) => {
  const { db, base } = await fixture();
  const partner = await partnerHere();
  const tooMany = await upload(partner, batchId(), '\n'.repeat(1_000_001));
  t.is(tooMany.status, 413);
  t.is(tooMany.body.code, 'batch_too_many_lines');
  const wrongType = await signedFetch(base, partner, 'PUT', `${BATCHES}/${batchId()}`, '{}', { contentType: 'application/json' });
  t.is(wrongType.status, 415);
  const badId = await upload(partner, 'bad%20id', '{}');
  t.is(badId.status, 400);
  t.is(badId.body.code, 'request_invalid');
  const unsigned = await signedFetch(base, partner, 'PUT', `${BATCHES}/${batchId()}`, '{}', { ...NDJSON, secret: '0'.repeat(64) });
  t.is(unsigned.status, 401);
  // A declared length over 256 MiB is refused before a byte of the body is read.
  const id = batchId();
  const declared = await new Promise<{ status: number; body: any }>((resolve, reject) => {
    const headers = { ...signedUploadHeaders(partner.slug, partnerKey(partner.apiSecret), 'PUT', `${BATCHES}/${id}`, { sha256: 'a'.repeat(64), length: 300 * 1024 * 1024 }), 'Content-Type': 'application/x-ndjson' };
    const request = http.request(`${base}${BATCHES}/${id}`, { method: 'PUT', headers }, async (response) => {
      let text = '';
      for await (const chunk of response) text += chunk;
      request.destroy();
      resolve({ status: response.statusCode!, body: JSON.parse(text) });
    });
    request.on('error', reject);
    request.flushHeaders();
  });
  t.is(declared.status, 413);
  t.is(declared.body.code, 'body_too_large');
  t.is(await db('conversion_batches').where({ partner_id: partner.id }).count({ n: '*' }).first().then((r) => Number(r!.n)), 0);
  t.is(await partnerRows(partner), 0);
});

/** An app of the test's own, with its own spool folder and caps, so what is in the folder is this test's. */
async function ownApp(t: ExecutionContext, settings: { spoolMaxBytes?: number; perPartner?: number; redis?: Redis } = {}) {
  const { db, conversions } = await fixture();
  const root = await mkdtemp(path.join(tmpdir(), 'partner-batches-own-'));
  t.teardown(() => rm(root, { recursive: true, force: true }));
  const spoolDir = path.join(root, 'spool');
  const base = await startApp(t.teardown.bind(t), db, {
    conversions, ...(settings.redis ? { redis: settings.redis } : {}),
    batchUploads: { spoolDir, spoolMaxBytes: settings.spoolMaxBytes ?? 1024 ** 3, perPartner: settings.perPartner ?? 4 },
  });
  const spooled = () => readdir(spoolDir).catch((error: NodeJS.ErrnoException) => (error.code === 'ENOENT' ? [] : Promise.reject(error)));
  return { base, spoolDir, spooled };
}

interface RawReply { status: number; body: any; headers: http.IncomingHttpHeaders }

/** An upload sent by hand: its headers at once; its body only as the test writes it (or never). */
function rawUpload(base: string, id: string, headers: Record<string, string>) {
  const request = http.request(`${base}${BATCHES}/${id}`, { method: 'PUT', headers: { 'Content-Type': 'application/x-ndjson', ...headers } });
  const reply = new Promise<RawReply>((resolve, reject) => {
    request.on('response', async (response) => {
      let text = '';
      for await (const chunk of response) text += chunk;
      resolve({ status: response.statusCode!, body: JSON.parse(text), headers: response.headers });
    });
    request.on('error', reject);
  });
  request.flushHeaders();
  return { request, reply };
}

const uploadHeaders = (partner: TestPartner, id: string, body: { sha256: string; length: number }, secret = partner.apiSecret) =>
  signedUploadHeaders(partner.slug, partnerKey(secret), 'PUT', `${BATCHES}/${id}`, body);

async function linesFor(count: number, prefix: string) {
  const { municipality, residents } = await fixture();
  return Array.from({ length: count }, (_, i) => line({ partnerTxId: `${prefix}-${i}`, mykeyId: residents[i % residents.length], municipality, partnerPoints: 100 })).join('\n');
}

async function batchesOf(partner: TestPartner) {
  const { db } = await fixture();
  return Number((await db('conversion_batches').where({ partner_id: partner.id }).count({ n: '*' }).first())!.n);
}

test('the signature is checked on the headers before a byte of the body is read: refusals come with the body never sent', async (t) => {
  const { base, spooled } = await ownApp(t);
  const partner = await partnerHere();
  const body = await linesFor(10, 'early');
  const refusedUnsent = async (name: string, headers: Record<string, string>, code: string, status: number) => {
    const { request, reply } = rawUpload(base, batchId(), headers);
    const got = await reply;
    request.destroy();
    t.is(got.status, status, name);
    t.is(got.body.code, code, name);
    t.is(got.headers.connection, 'close', `${name}: the connection closes, so the rest of a body is never read`);
  };
  await refusedUnsent('wrong secret', uploadHeaders(partner, batchId(), declared(body), '0'.repeat(64)), 'partner_signature_invalid', 401);
  const id = batchId();
  const right = declared(body);
  await refusedUnsent('another length than the one signed', { ...uploadHeaders(partner, id, right), 'Content-Length': String(right.length + 1) }, 'partner_signature_invalid', 401);
  await refusedUnsent('another hash than the one signed', { ...uploadHeaders(partner, id, right), 'X-MyKey-Content-SHA256': bodySha256('other') }, 'partner_signature_invalid', 401);
  await refusedUnsent('no declared hash', { ...uploadHeaders(partner, id, right), 'X-MyKey-Content-SHA256': '' }, 'batch_headers_required', 411);
  await refusedUnsent('a hash not in lower-case hex', { ...uploadHeaders(partner, id, right), 'X-MyKey-Content-SHA256': right.sha256.toUpperCase() }, 'batch_headers_required', 411);
  // The signing of a single request (over the body read) does not sign an upload.
  const old = await signedFetch(base, partner, 'PUT', `${BATCHES}/${batchId()}`, body, { contentType: 'application/x-ndjson' });
  t.is(old.status, 411);
  t.is(old.body.code, 'batch_headers_required');
  // A chunked body declares no length.
  const { 'Content-Length': _, ...chunked } = uploadHeaders(partner, id, right);
  const { request, reply } = rawUpload(base, id, chunked);
  request.end(body);
  t.like(await reply, { status: 411, body: { code: 'batch_headers_required' } });
  t.deepEqual(await spooled(), [], 'nothing reached the spool folder');
  t.is(await batchesOf(partner), 0);
});

test('a body that is not what was signed is refused (400 batch_body_mismatch), and nothing of it is kept', async (t) => {
  const { base, spooled } = await ownApp(t);
  const partner = await partnerHere();
  const body = await linesFor(50, 'mismatch');
  const signed = declared(body);
  const sent = async (id: string, headers: Record<string, string>, bytes: string) => {
    const { request, reply } = rawUpload(base, id, headers);
    request.end(bytes);
    return reply;
  };
  const tampered = body.replace('"partnerPoints":100}', '"partnerPoints":900}');
  t.is(Buffer.byteLength(tampered), signed.length, 'the same length, other content');
  const id = batchId();
  t.like(await sent(id, uploadHeaders(partner, id, signed), tampered), { status: 400, body: { code: 'batch_body_mismatch' } });
  // Signed over the whole file's hash, but only a part of it declared and sent.
  const partId = batchId();
  t.like(await sent(partId, uploadHeaders(partner, partId, { sha256: signed.sha256, length: 100 }), body.slice(0, 100)),
    { status: 400, body: { code: 'batch_body_mismatch' } }, 'a length and hash that do not belong together');
  t.deepEqual(await spooled(), [], 'nothing kept in the spool folder');
  t.is(await batchesOf(partner), 0, 'no batch');
  t.is(await partnerRows(partner), 0, 'no conversion');
  const whole = await signedFetch(base, partner, 'PUT', `${BATCHES}/${batchId()}`, body, NDJSON);
  t.like(whole.body, { state: 'done', acceptedLines: 50 }, 'the file as signed goes through');
  t.deepEqual(await spooled(), [], 'and its spool file is gone once it is taken in');
});

test('a partner has at most its cap of uploads in progress (429 with Retry-After); another partner is not held up', async (t) => {
  const { base, spooled } = await ownApp(t, { perPartner: 1 });
  const partner = await partnerHere();
  const other = await partnerHere();
  const body = await linesFor(20, 'slow');
  const id = batchId();
  const slow = rawUpload(base, id, uploadHeaders(partner, id, declared(body)));
  slow.request.write(body.slice(0, 10));
  // The first upload holds its slot once its reservation is in the spool folder.
  await waitFor('the first upload spooling', async () => (await spooled()).length === 1);
  const busy = await signedFetch(base, partner, 'PUT', `${BATCHES}/${batchId()}`, await linesFor(3, 'busy'), NDJSON);
  t.is(busy.status, 429);
  t.is(busy.body.code, 'batch_uploads_busy');
  t.is(busy.headers.get('retry-after'), '30');
  const theirs = await signedFetch(base, other, 'PUT', `${BATCHES}/${batchId()}`, await linesFor(3, 'theirs'), NDJSON);
  t.like(theirs.body, { state: 'done', acceptedLines: 3 }, 'the other partner\'s upload goes through');
  slow.request.end(body.slice(10));
  t.like(await slow.reply, { status: 200, body: { state: 'done', acceptedLines: 20 } });
  const after = await signedFetch(base, partner, 'PUT', `${BATCHES}/${batchId()}`, await linesFor(3, 'after'), NDJSON);
  t.like(after.body, { state: 'done' }, 'the slot is free again once the upload is done');
});

test('an upload that does not fit in the spool folder\'s cap is refused (503 with Retry-After) before a byte is written', async (t) => {
  const body = await linesFor(20, 'space');
  const { length } = declared(body);
  // Room for one such file and a half.
  const { base, spooled } = await ownApp(t, { spoolMaxBytes: Math.floor(length * 1.5) });
  const partner = await partnerHere();
  const other = await partnerHere();
  const tooBig = await signedFetch(base, partner, 'PUT', `${BATCHES}/${batchId()}`, `${body}\n${body.replaceAll('space-', 'space2-')}`, NDJSON);
  t.is(tooBig.status, 503);
  t.is(tooBig.body.code, 'batch_upload_unavailable');
  t.is(tooBig.headers.get('retry-after'), '60');
  t.deepEqual(await spooled(), []);
  // One file in progress reserves its declared length: a second does not fit beside it.
  const id = batchId();
  const first = rawUpload(base, id, uploadHeaders(partner, id, declared(body)));
  first.request.write(body.slice(0, 10));
  await waitFor('the first upload spooling', async () => (await spooled()).length === 1);
  const beside = await signedFetch(base, other, 'PUT', `${BATCHES}/${batchId()}`, body.replaceAll('space-', 'beside-'), NDJSON);
  t.like(beside, { status: 503, body: { code: 'batch_upload_unavailable' } });
  first.request.end(body.slice(10));
  t.like(await first.reply, { status: 200, body: { state: 'done', acceptedLines: 20 } });
  const later = await signedFetch(base, other, 'PUT', `${BATCHES}/${batchId()}`, body.replaceAll('space-', 'later-'), NDJSON);
  t.like(later.body, { state: 'done', acceptedLines: 20 }, 'room again once the first is done');
  t.is(await batchesOf(other), 1);
});

test('with Redis away uploads cannot be counted, so none is taken (503 with Retry-After)', async (t) => {
  const deadRedis = createRedis('redis://127.0.0.1:1', silentLog);
  t.teardown(() => deadRedis.disconnect());
  const { base, spooled } = await ownApp(t, { redis: deadRedis });
  const partner = await partnerHere();
  const reply = await signedFetch(base, partner, 'PUT', `${BATCHES}/${batchId()}`, await linesFor(3, 'redis'), NDJSON);
  t.is(reply.status, 503);
  t.is(reply.body.code, 'batch_upload_unavailable');
  t.truthy(reply.headers.get('retry-after'));
  t.deepEqual(await spooled(), []);
  t.is(await batchesOf(partner), 0);
});

test('lines across chunks of 1,000 are stored once each, stamped as queued as stored, and given a job per chunk; the file again adds none', async (t) => {
  const { db, municipality, residents, conversions } = await fixture();
  const partner = await partnerHere();
  // The last line of the first chunk, the first of the second, and the lone line of the last chunk are refused.
  const refused = new Set([1_000, 1_001, 2_001]);
  const body = Array.from({ length: 2_001 }, (_, i) => line({
    partnerTxId: `edge-${i + 1}`, mykeyId: refused.has(i + 1) ? newMykeyId() : residents[i % residents.length], municipality, partnerPoints: 100,
  })).join('\n');
  const reply = await upload(partner, batchId(), body);
  t.like(reply.body, { state: 'done', lines: 2_001, acceptedLines: 1_998, rejectedLines: 3 });
  const rows = await db('conversion_requests').where({ partner_id: partner.id }).orderBy('batch_line').select('id', 'batch_id', 'batch_line', 'accepted_at', 'queued_at');
  t.deepEqual(rows.map((row) => row.batch_line), Array.from({ length: 2_001 }, (_, i) => i + 1).filter((n) => !refused.has(n)));
  t.true(rows.every((row) => row.queued_at?.getTime() === row.accepted_at.getTime()), 'each row stamped as queued in the statement that stored it');
  const chunkJobs = () => Promise.all([0, 1, 2].map((chunk) => conversions.getJob(`batch:${rows[0].batch_id}:${chunk}`)));
  // The answer waits for the queue only so long (batches.ts BATCH_ENQUEUE_WAIT_MS): the last job may come just after it.
  await waitFor('a job for each chunk with a stored line', async () => (await chunkJobs()).slice(0, 2).every(Boolean));
  const [first, second, last] = await chunkJobs();
  const idsOf = (from: number, to: number) => rows.filter((row) => row.batch_line >= from && row.batch_line <= to).map((row) => Number(row.id));
  t.deepEqual(first!.data, { conversionIds: idsOf(1, 1_000) });
  t.deepEqual(second!.data, { conversionIds: idsOf(1_001, 2_000) });
  t.is(last, null, 'no job for a chunk that stored nothing');
  t.true((await Promise.all(rows.map((row) => conversions.getJob(String(row.id))))).every((job) => job === null), 'no job of its own for a batch line');
  // As if Redis had lost them: the same file under another id is all replays, and a replay adds no job (the sweeper restores them).
  await first!.remove();
  await second!.remove();
  const again = await upload(partner, batchId(), body);
  t.like(again.body, { state: 'done', acceptedLines: 1_998, rejectedLines: 3 });
  t.is(await partnerRows(partner), 1_998, 'no conversion twice');
  const batchTwo = await db('conversion_batches').where({ partner_id: partner.id }).whereNot({ id: rows[0].batch_id }).first('id');
  t.deepEqual(await Promise.all([0, 1, 2].map((chunk) => conversions.getJob(`batch:${batchTwo.id}:${chunk}`))), [null, null, null], 'no job added for a replay');
  t.true((await chunkJobs()).every((job) => job === null));
});

test('a file of 200,000 lines is streamed through, every line stored and queued once', async (t) => {
  const { db, municipality, residents, dir, base, conversions } = await fixture();
  const partner = await partnerHere({ units: 1, points: 1 });
  const lines = 200_000;
  const file = path.join(dir, 'big.ndjson');
  const out = createWriteStream(file);
  for (let i = 0; i < lines; i++) {
    if (!out.write(`${line({ partnerTxId: `big-${i}`, mykeyId: residents[i % residents.length], municipality, partnerPoints: 1 + (i % 1000) })}\n`)) await once(out, 'drain');
  }
  out.end();
  await once(out, 'finish');
  const hash = createHash('sha256');
  let length = 0;
  for await (const chunk of createReadStream(file)) {
    hash.update(chunk);
    length += chunk.length;
  }
  const id = batchId();
  const target = `${BATCHES}/${id}`;
  const headers = { ...signedUploadHeaders(partner.slug, partnerKey(partner.apiSecret), 'PUT', target, { sha256: hash.digest('hex'), length }), 'Content-Type': 'application/x-ndjson' };
  const response = await fetch(`${base}${target}`, { method: 'PUT', headers, body: Readable.toWeb(createReadStream(file)) as ReadableStream, duplex: 'half' } as RequestInit);
  const summary = await response.json();
  t.is(response.status, 200, JSON.stringify(summary));
  t.like(summary, { state: 'done', lines, acceptedLines: lines, rejectedLines: 0 });
  t.is(await partnerRows(partner), lines);
  // Every stored conversion in its chunk's job, once (the answer waits for the last job only so long).
  const batch = await db('conversion_batches').where({ partner_id: partner.id, partner_batch_id: id }).first('id');
  const jobs = await waitFor('a job for each chunk', async () => {
    const found = await Promise.all(Array.from({ length: lines / 1_000 }, (_, chunk) => conversions.getJob(`batch:${batch.id}:${chunk}`)));
    return found.every(Boolean) ? found : undefined;
  });
  const queued = jobs.flatMap((job) => (job!.data as { conversionIds: number[] }).conversionIds);
  t.is(new Set(queued).size, lines, `${queued.length} conversions in ${jobs.length} jobs`);
  // The results, streamed and counted a line at a time.
  const resultsPath = `${target}/results`;
  const resultsResponse = await fetch(`${base}${resultsPath}`, { headers: signedHeaders(partner.slug, partnerKey(partner.apiSecret), 'GET', resultsPath, '') });
  let count = 0;
  let rest = '';
  let inOrder = true;
  for await (const chunk of resultsResponse.body as unknown as AsyncIterable<Uint8Array>) {
    const parts = (rest + Buffer.from(chunk).toString('utf8')).split('\n');
    rest = parts.pop()!;
    for (const part of parts) {
      const result = JSON.parse(part);
      count++;
      if (result.line !== count || result.partnerTxId !== `big-${count - 1}` || result.state !== 'accepted') inOrder = false;
    }
  }
  t.is(rest, '');
  t.is(count, lines);
  t.true(inOrder, 'one accepted result per line, in order');
});
