// The partner API for single conversions (docs/partner-api.md), over real HTTP against real
// MariaDB and Redis: signatures, validation, idempotency, isolation between partners, and the
// Bull job each accepted conversion gets.
import test from 'ava';
import { readFile } from 'node:fs/promises';
import { randomBytes, randomInt } from 'node:crypto';
import { fileFixture, queuePrefix, redisUrl, silentLog, testDatabase } from './helpers/env.ts';
import { startApp } from './helpers/server.ts';
import { addPartner, addResident, newMykeyId, signedFetch, type SignedOptions, type TestPartner } from './helpers/partners.ts';
import { createQueue } from '../src/queue.ts';
import { CONVERSION_QUEUE, type ConversionJob } from '../src/conversions/queue.ts';
import { bodySha256, partnerKey, signature, signatureBase } from '../src/partners/signature.ts';
import { problemKinds } from '../src/http/problems.ts';
import { mykeySecret } from '../src/config.ts';
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';

const PATH = '/api/v1/partner/conversions';

const fixture = fileFixture(test, async (cleanup) => {
  const { db, url } = await testDatabase(cleanup);
  const conversions = createQueue<ConversionJob>(CONVERSION_QUEUE, { REDIS_URL: redisUrl(), QUEUE_PREFIX: queuePrefix(cleanup) })
    .on('error', (error) => silentLog.warn({ err: error }, 'queue error'));
  cleanup(() => conversions.close());
  // The app's clock stands still, so the 300-second window is tested to the second.
  const now = Math.floor(Date.now() / 1000);
  const base = await startApp(cleanup, db, { conversions, clock: () => new Date(now * 1000) });
  const municipality = String(randomInt(100_000, 1_000_000));
  await db('municipalities').insert({ code: municipality, name_ja: 'テスト市', name_en: 'Test City' });
  const partner = await addPartner(db);
  return { db, url, base, conversions, municipality, partner, now };
});

const txId = () => `tx-${randomBytes(6).toString('hex')}`;

async function conversionBody(overrides: Record<string, unknown> = {}) {
  const { db, municipality } = await fixture();
  return { partnerTxId: txId(), mykeyId: await addResident(db), municipality, partnerPoints: 1000, ...overrides };
}

const post = async (body: unknown, partner?: TestPartner, options: SignedOptions = {}) => {
  const { base, partner: own } = await fixture();
  return signedFetch(base, partner ?? own, 'POST', PATH, typeof body === 'string' ? body : JSON.stringify(body), options);
};
const postAs = (body: unknown, partner: TestPartner) => post(body, partner);

async function rowsFor(partnerTxId: string) {
  const { db } = await fixture();
  return db('conversion_requests').where({ partner_tx_id: partnerTxId });
}

/** The partner's conversions: tests running at the same time each count their own partner's. */
async function partnerRows(partner: TestPartner) {
  const { db } = await fixture();
  return Number((await db('conversion_requests').where({ partner_id: partner.id }).count({ n: '*' }).first())!.n);
}

test('a signed conversion is accepted (202), stored at the rate rounded down, and queued with its id as job id', async (t) => {
  const { conversions } = await fixture();
  const body = await conversionBody({ partnerPoints: 1234 });
  const reply = await post(body);
  t.is(reply.status, 202);
  t.like(reply.body, { partnerTxId: body.partnerTxId, state: 'accepted', partnerPoints: 1234, points: 987, basePoints: null, premiumPoints: null, rejectCode: null, finishedAt: null });
  t.regex(reply.body.conversionId, /^[0-9]+$/);
  const [row] = await rowsFor(body.partnerTxId);
  t.is(String(row.id), reply.body.conversionId);
  t.is(Number(row.points), 987);
  t.truthy(row.queued_at, 'stamped as queued');
  const job = await conversions.getJob(reply.body.conversionId);
  t.deepEqual(job?.data, { conversionId: Number(row.id) });
});

test('the same partnerTxId with the same body is the same answer; the MyKey ID may be spelled another way', async (t) => {
  const body = await conversionBody();
  const first = await post(body);
  const again = await post({ ...body, mykeyId: `${body.mykeyId.slice(0, 4).toLowerCase()}-${body.mykeyId.slice(4)}` });
  t.is(again.status, 202);
  t.deepEqual(again.body, first.body);
  t.is((await rowsFor(body.partnerTxId)).length, 1);
});

test('the same partnerTxId with a different body is 409 conversion_conflict and changes nothing', async (t) => {
  const body = await conversionBody();
  const first = await post(body);
  const other = await post({ ...body, partnerPoints: 2000 });
  t.is(other.status, 409);
  t.is(other.body.code, 'conversion_conflict');
  t.is(other.body.conversionId, first.body.conversionId);
  const rows = await rowsFor(body.partnerTxId);
  t.is(rows.length, 1);
  t.is(Number(rows[0].partner_points), 1000);
});

test('concurrent identical requests create one conversion and all get its id', async (t) => {
  const body = await conversionBody();
  const replies = await Promise.all(Array.from({ length: 20 }, () => post(body)));
  t.deepEqual(replies.map((r) => r.status), Array(20).fill(202));
  t.is(new Set(replies.map((r) => r.body.conversionId)).size, 1);
  t.is((await rowsFor(body.partnerTxId)).length, 1);
});

test('signature failures are 401 with stable codes and store nothing', async (t) => {
  const { base, db, now } = await fixture();
  const partner = await addPartner(db);
  const body = await conversionBody();
  const text = JSON.stringify(body);
  const signedOver = (method: string, signedBody: string) => ({
    'X-MyKey-Timestamp': String(now),
    'X-MyKey-Signature': signature(partnerKey(partner.apiSecret), { timestamp: now, method, path: PATH, bodySha256: bodySha256(signedBody) }),
  });
  const cases: Array<[string, Promise<{ status: number; body: any }>, string]> = [
    ['wrong secret', post(text, partner, { secret: 'f'.repeat(64) }), 'partner_signature_invalid'],
    ['unknown partner', post(text, partner, { partner: 'no-such-partner' }), 'partner_signature_invalid'],
    ['stale timestamp', post(text, partner, { timestamp: now - 301 }), 'partner_timestamp_out_of_range'],
    ['future timestamp', post(text, partner, { timestamp: now + 301 }), 'partner_timestamp_out_of_range'],
    ['timestamp not whole seconds', post(text, partner, { headers: { 'X-MyKey-Timestamp': `${now}.5` } }), 'partner_timestamp_out_of_range'],
    ['tampered body', post(text, partner, { headers: signedOver('POST', JSON.stringify({ ...body, partnerPoints: 999_999 })) }), 'partner_signature_invalid'],
    ['tampered path', post(text, partner, { signedPath: `${PATH}?x=1` }), 'partner_signature_invalid'],
    ['signed for another method', post(text, partner, { headers: signedOver('PUT', text) }), 'partner_signature_invalid'],
    ['no signature', post(text, partner, { headers: { 'X-MyKey-Signature': '' } }), 'partner_signature_required'],
    ['no partner', post(text, partner, { headers: { 'X-MyKey-Partner': '' } }), 'partner_signature_required'],
    ['no timestamp', post(text, partner, { headers: { 'X-MyKey-Timestamp': '' } }), 'partner_signature_required'],
  ];
  for (const [name, pending, code] of cases) {
    const reply = await pending;
    t.is(reply.status, 401, name);
    t.is(reply.body.code, code, name);
    t.truthy(reply.body.messages.ja && reply.body.messages.en, name);
  }
  t.is(await partnerRows(partner), 0, 'nothing stored');
  const early = await signedFetch(base, partner, 'POST', PATH, text, { timestamp: now - 300 });
  t.is(early.status, 202, 'signed 300 s before our clock: accepted');
  const late = await signedFetch(base, partner, 'POST', PATH, text, { timestamp: now + 300 });
  t.is(late.status, 202, 'signed 300 s after our clock: accepted');
  t.is(late.body.conversionId, early.body.conversionId);
});

test('a suspended partner is 403 partner_suspended when signed right, 401 when not', async (t) => {
  const { db } = await fixture();
  const partner = await addPartner(db);
  await db('partners').where({ id: partner.id }).update({ status: 'suspended' });
  const body = await conversionBody();
  const signedRight = await post(body, partner);
  t.is(signedRight.status, 403);
  t.is(signedRight.body.code, 'partner_suspended');
  const signedWrong = await post(body, partner, { secret: '0'.repeat(64) });
  t.is(signedWrong.status, 401);
  t.is(signedWrong.body.code, 'partner_signature_invalid');
  t.is((await rowsFor(body.partnerTxId)).length, 0);
});

test('each invalid conversion gets a clear 4xx and stores nothing', async (t) => {
  const { db, municipality } = await fixture();
  const suspended = await addResident(db, 'suspended');
  const id = await addResident(db);
  const wrongCheck = id.slice(0, 7) + (id[7] === '2' ? '3' : '2');
  const base = { mykeyId: id, municipality, partnerPoints: 1000 };
  const partner = await addPartner(db);
  const post = (body: unknown) => postAs(body, partner);
  // 100 card points → 80 points: 12,500,001 card points is the most one conversion may take (10,000,000 points).
  const cases: Array<[string, string | Record<string, unknown>, number, string]> = [
    ['malformed JSON', '{"partnerTxId": "tx-1",', 400, 'request_invalid'],
    ['not an object', '[1,2]', 400, 'request_invalid'],
    ['missing field', { partnerTxId: txId(), mykeyId: id, municipality }, 400, 'request_invalid'],
    ['unknown field', { ...base, partnerTxId: txId(), note: 'x' }, 400, 'request_invalid'],
    ['partnerTxId too long', { ...base, partnerTxId: 'x'.repeat(65) }, 400, 'request_invalid'],
    ['partnerTxId empty', { ...base, partnerTxId: '' }, 400, 'request_invalid'],
    ['partnerTxId with a slash', { ...base, partnerTxId: 'a/b' }, 400, 'request_invalid'],
    ['MyKey ID malformed', { ...base, partnerTxId: txId(), mykeyId: 'OOOO0000' }, 400, 'mykey_id_malformed'],
    ['MyKey ID check fails', { ...base, partnerTxId: txId(), mykeyId: wrongCheck }, 400, 'mykey_id_check_failed'],
    ['MyKey ID unknown', { ...base, partnerTxId: txId(), mykeyId: newMykeyId() }, 404, 'mykey_not_found'],
    ['MyKey ID suspended', { ...base, partnerTxId: txId(), mykeyId: suspended }, 403, 'mykey_suspended'],
    ['municipality unknown', { ...base, partnerTxId: txId(), municipality: '000000' }, 404, 'municipality_not_found'],
    ['municipality not 6 digits', { ...base, partnerTxId: txId(), municipality: '13999' }, 400, 'request_invalid'],
    ['zero points', { ...base, partnerTxId: txId(), partnerPoints: 0 }, 400, 'request_invalid'],
    ['negative points', { ...base, partnerTxId: txId(), partnerPoints: -5 }, 400, 'request_invalid'],
    ['fractional points', { ...base, partnerTxId: txId(), partnerPoints: 10.5 }, 400, 'request_invalid'],
    ['points as a string', { ...base, partnerTxId: txId(), partnerPoints: '1000' }, 400, 'request_invalid'],
    ['points beyond a safe integer', `{"partnerTxId":"${txId()}","mykeyId":"${id}","municipality":"${municipality}","partnerPoints":9007199254740993}`, 400, 'request_invalid'],
    ['absurd amount', { ...base, partnerTxId: txId(), partnerPoints: 12_500_002 }, 400, 'points_out_of_range'],
    ['rounds to zero points', { ...base, partnerTxId: txId(), partnerPoints: 1 }, 400, 'conversion_below_minimum'],
  ];
  for (const [name, body, status, code] of cases) {
    const reply = await post(body);
    t.is(reply.status, status, name);
    t.is(reply.body.code, code, name);
  }
  const absurd = await post({ ...base, partnerTxId: txId(), partnerPoints: 99_999_999 });
  t.like(absurd.body, { maximumPoints: 10_000_000, maximumPartnerPoints: 12_500_001 });
  const tiny = await post({ ...base, partnerTxId: txId(), partnerPoints: 1 });
  t.is(tiny.body.minimumPartnerPoints, 2);
  t.is(await partnerRows(partner), 0, 'nothing stored');
  const largest = await post({ ...base, partnerTxId: txId(), partnerPoints: 12_500_001 });
  t.is(largest.status, 202, 'the largest amount is accepted');
  t.is(largest.body.points, 10_000_000);
});

test('wrong media type (415) and an oversized body (413) store nothing', async (t) => {
  const partner = await addPartner((await fixture()).db);
  const body = await conversionBody();
  const text = await post(JSON.stringify(body), partner, { contentType: 'text/plain' });
  t.is(text.status, 415);
  t.is(text.body.code, 'unsupported_media_type');
  const huge = await post({ ...body, padding: 'x'.repeat(17 * 1024) }, partner);
  t.is(huge.status, 413);
  t.is(huge.body.code, 'body_too_large');
  t.is(await partnerRows(partner), 0);
});

test('GET gives the state and points; unknown and other partners\' ids are 404', async (t) => {
  const { base, db, partner } = await fixture();
  const body = await conversionBody();
  const created = await post(body);
  const got = await signedFetch(base, partner, 'GET', `${PATH}/${body.partnerTxId}`);
  t.is(got.status, 200);
  t.deepEqual(got.body, created.body);
  const unknown = await signedFetch(base, partner, 'GET', `${PATH}/no-such-tx`);
  t.is(unknown.status, 404);
  t.is(unknown.body.code, 'conversion_not_found');
  const other = await addPartner(db);
  const foreign = await signedFetch(base, other, 'GET', `${PATH}/${body.partnerTxId}`);
  t.is(foreign.status, 404, 'another partner cannot see it');
  t.is(foreign.body.code, 'conversion_not_found');
});

test('partners are isolated: the same partnerTxId at another partner is another conversion', async (t) => {
  const { db } = await fixture();
  const other = await addPartner(db, { units: 1, points: 1 });
  const body = await conversionBody();
  const mine = await post(body);
  const theirs = await post({ ...body, partnerPoints: 7 }, other);
  t.is(theirs.status, 202, 'no conflict across partners');
  t.not(theirs.body.conversionId, mine.body.conversionId);
  t.is(theirs.body.points, 7);
  const rows = await rowsFor(body.partnerTxId);
  t.deepEqual(rows.map((r) => Number(r.partner_id)).sort(), [(await fixture()).partner.id, other.id].sort());
});

test('a rejected conversion shows its reason in Japanese and English', async (t) => {
  const { base, db, partner } = await fixture();
  const body = await conversionBody();
  const created = await post(body);
  // What the worker does when a conversion can never succeed.
  await db('conversion_requests').where({ id: created.body.conversionId })
    .update({ state: 'rejected', reject_code: 'mykey_suspended', reject_detail: 'suspended before credit', finished_at: new Date() });
  const got = await signedFetch(base, partner, 'GET', `${PATH}/${body.partnerTxId}`);
  t.like(got.body, { state: 'rejected', rejectCode: 'mykey_suspended', rejectDetail: 'suspended before credit', rejectMessage: problemKinds.mykey_suspended.messages });
  t.regex(got.body.finishedAt, /^\d{4}-\d\d-\d\dT/);
  const replay = await post(body);
  t.is(replay.status, 202, 'a replay still gets its conversion');
  t.is(replay.body.state, 'rejected');
});

test('with Redis down the conversion is still accepted and stored, for the sweeper to queue', async (t) => {
  const { db } = await fixture();
  const deadRedis = createQueue<ConversionJob>(CONVERSION_QUEUE, { REDIS_URL: 'redis://127.0.0.1:1', QUEUE_PREFIX: 'nowhere' })
    .on('error', () => {});
  t.teardown(() => deadRedis.close().catch(() => {}));
  const base = await startApp(t.teardown.bind(t), db, { conversions: deadRedis });
  const { partner } = await fixture();
  const body = await conversionBody();
  const reply = await signedFetch(base, partner, 'POST', PATH, JSON.stringify(body));
  t.is(reply.status, 202);
  const [row] = await rowsFor(body.partnerTxId);
  t.is(String(row.id), reply.body.conversionId);
  t.is(row.state, 'accepted');
});

test('the signing example in docs/partner-api.md is what signature.ts computes', async (t) => {
  const doc = await readFile(new URL('../../docs/partner-api.md', import.meta.url), 'utf8');
  const block = (name: string) => {
    const match = new RegExp(`<!-- example:${name} -->\\s*\`\`\`[a-z]*\\n([\\s\\S]*?)\\n\`\`\``).exec(doc);
    if (!match) throw new Error(`docs/partner-api.md has no example:${name} block`);
    return match[1]!;
  };
  const field = (text: string, name: string) => new RegExp(`^${name}: *(.*)$`, 'm').exec(text)![1]!;
  const inputs = block('inputs');
  const secret = field(inputs, 'secret');
  const timestamp = Number(field(inputs, 'timestamp'));
  const method = field(inputs, 'method');
  const path = field(inputs, 'path');
  const body = block('body');
  const parts = { timestamp, method, path, bodySha256: bodySha256(body) };
  t.is(block('body-sha256'), parts.bodySha256);
  t.is(block('base'), signatureBase(parts));
  t.is(block('signature'), `X-MyKey-Signature: ${signature(partnerKey(secret), parts)}`);
});

test('npm run mykey -- partner-secret issues a new secret once: it signs, the old one no longer does', async (t) => {
  const { db, url, base } = await fixture();
  const partner = await addPartner(db);
  const env = { ...process.env, DATABASE_URL: url, MYKEY_SECRET: mykeySecret({ NODE_ENV: 'test' }).toString('hex') };
  const script = new URL('../../scripts/mykey.ts', import.meta.url).pathname;
  const run = (...args: string[]) => promisify(execFile)(process.execPath, ['--import=tsx', script, 'partner-secret', ...args], { env })
    .then(({ stdout }) => ({ code: 0, out: JSON.parse(stdout) }), (error: { code: number; stdout: string }) => ({ code: error.code, out: JSON.parse(error.stdout) }));
  const issued = await run(partner.slug, '--webhook-url', 'https://partner.example/hook');
  t.is(issued.code, 0);
  t.like(issued.out, { partner: partner.slug, webhookUrl: 'https://partner.example/hook' });
  t.regex(issued.out.apiSecret, /^[0-9a-f]{64}$/);
  const body = await conversionBody();
  const old = await post(body, partner);
  t.is(old.status, 401, 'the old secret stopped working');
  const fresh = await post(body, { ...partner, apiSecret: issued.out.apiSecret });
  t.is(fresh.status, 202);
  const kept = await run(partner.slug);
  t.is(kept.out.webhookUrl, 'https://partner.example/hook', 'without --webhook-url the URL stays');
  t.like(await run('no-such-partner'), { code: 1, out: { error: 'partner_not_found' } });
  t.like(await run(partner.slug, '--webhook-url', 'ftp://x'), { code: 2, out: { error: 'usage' } });
});
