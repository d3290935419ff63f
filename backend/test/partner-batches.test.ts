// Batch files of partner conversions (docs/partner-api.md#batches): each line checked like a
// single request, per-line results in order, re-uploads that store nothing twice, an
// interrupted batch resumed, and a file of 200,000 lines streamed through.
import test from 'ava';
import { createHash, randomBytes, randomInt } from 'node:crypto';
import { createReadStream, createWriteStream } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import http from 'node:http';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { Readable } from 'node:stream';
import { once } from 'node:events';
import { fileFixture, queuePrefix, redisUrl, silentLog, testDatabase } from './helpers/env.ts';
import { startApp } from './helpers/server.ts';
import { addPartner, addResident, newMykeyId, signedFetch, type TestPartner } from './helpers/partners.ts';
import { createQueue } from '../src/queue.ts';
import { CONVERSION_QUEUE, type ConversionJob } from '../src/conversions/queue.ts';
import { partnerKey, signedHeaders, signature } from '../src/partners/signature.ts';

const BATCHES = '/api/v1/partner/conversion-batches';
const NDJSON = { contentType: 'application/x-ndjson' };

const fixture = fileFixture(test, async (cleanup) => {
  const { db } = await testDatabase(cleanup);
  const conversions = createQueue<ConversionJob>(CONVERSION_QUEUE, { REDIS_URL: redisUrl(), QUEUE_PREFIX: queuePrefix(cleanup) })
    .on('error', (error) => silentLog.warn({ err: error }, 'queue error'));
  cleanup(() => conversions.close());
  const base = await startApp(cleanup, db, { conversions });
  const municipality = String(randomInt(100_000, 1_000_000));
  await db('municipalities').insert({ code: municipality, name_ja: 'テスト市', name_en: 'Test City' });
  const residents = await Promise.all(Array.from({ length: 20 }, () => addResident(db)));
  const dir = await mkdtemp(path.join(tmpdir(), 'partner-batches-test-'));
  cleanup(() => rm(dir, { recursive: true, force: true }));
  return { db, base, conversions, municipality, residents, dir };
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
  for (const row of rows) t.truthy(await conversions.getJob(String(row.id)), `job for ${row.partner_tx_id}`);
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

test('an interrupted batch resumes after its last stored line when uploaded again', async (t) => {
  const { db, municipality, residents } = await fixture();
  const partner = await partnerHere();
  const id = batchId();
  const body = Array.from({ length: 2_500 }, (_, i) => line({ partnerTxId: `resume-${i}`, mykeyId: residents[i % residents.length], municipality, partnerPoints: 1000 })).join('\n');
  await upload(partner, id, body);
  // As if the server had died after the first chunk: lines 1,001 on and the counts never written.
  const batch = await db('conversion_batches').where({ partner_id: partner.id, partner_batch_id: id }).first();
  await db('conversion_batch_lines').where({ batch_id: batch.id }).andWhere('line', '>', 1000).delete();
  await db('conversion_batches').where({ id: batch.id }).update({ state: 'processing', accepted_lines: null, rejected_lines: null, finished_at: null });
  const pending = await results(partner, id);
  t.is(pending.status, 409);
  t.is(pending.body.code, 'batch_processing');
  const resumed = await upload(partner, id, body);
  t.like(resumed.body, { state: 'done', lines: 2_500, acceptedLines: 2_500, rejectedLines: 0 });
  t.is(await partnerRows(partner), 2_500);
  const got = await results(partner, id);
  t.is(got.lines.length, 2_500);
  t.true(got.lines.every((r, i) => r.line === i + 1 && r.partnerTxId === `resume-${i}` && r.state === 'accepted'));
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
    const headers = { ...signedHeaders(partner.slug, partnerKey(partner.apiSecret), 'PUT', `${BATCHES}/${id}`, ''), 'Content-Type': 'application/x-ndjson', 'Content-Length': String(300 * 1024 * 1024) };
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
  for await (const chunk of createReadStream(file)) hash.update(chunk);
  const id = batchId();
  const target = `${BATCHES}/${id}`;
  const timestamp = Math.floor(Date.now() / 1000);
  const headers = {
    'X-MyKey-Partner': partner.slug, 'X-MyKey-Timestamp': String(timestamp), 'Content-Type': 'application/x-ndjson',
    'X-MyKey-Signature': signature(partnerKey(partner.apiSecret), { timestamp, method: 'PUT', path: target, bodySha256: hash.digest('hex') }),
  };
  const response = await fetch(`${base}${target}`, { method: 'PUT', headers, body: Readable.toWeb(createReadStream(file)) as ReadableStream, duplex: 'half' } as RequestInit);
  const summary = await response.json();
  t.is(response.status, 200, JSON.stringify(summary));
  t.like(summary, { state: 'done', lines, acceptedLines: lines, rejectedLines: 0 });
  t.is(await partnerRows(partner), lines);
  const { waiting } = await conversions.getJobCounts();
  t.true(waiting >= lines, `${waiting} jobs waiting`);
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
