// The partner API for single conversions (docs/partner-api.md), over real HTTP against real
// MariaDB and Redis: signatures, validation, idempotency, isolation between partners, and the
// Bull job each accepted conversion gets.
import test from 'ava';
import { readFile } from 'node:fs/promises';
import { randomBytes, randomInt } from 'node:crypto';
import { fileFixture, queuePrefix, redisUrl, silentLog, testDatabase } from './helpers/env.ts';
import { startApp } from './helpers/server.ts';
import { addPartner, addResident, agree, newMykeyId, signedFetch, type SignedOptions, type TestPartner } from './helpers/partners.ts';
import { town } from './helpers/ledger.ts';
import { endAgreement } from '../src/partners/agreements.ts';
import { tokyoDate } from '../src/ledger/rules.ts';
import { plainHttpWebhooksAllowed, webhookUrlProblem } from '../src/partners/webhook-url.ts';
import { createQueue } from '../src/queue.ts';
import { CONVERSION_QUEUE, type ConversionJob } from '../src/conversions/queue.ts';
import { bodySha256, partnerKey, signature, signatureBase } from '@mykey/contracts/partner-signature.ts';
import { problemKinds } from '../src/http/problems.ts';
import { mykeySecret } from '../src/config.ts';
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { waitFor } from '@mykey/dev-tools/wait.ts';

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
  const partner = await addPartner(db, { agreements: [municipality] });
  return { db, url, base, conversions, municipality, partner, now };
});

/** Another partner with an agreement with the file's municipality. */
async function partnerHere(rate?: { units: number; points: number }) {
  const { db, municipality } = await fixture();
  return addPartner(db, { rate, agreements: [municipality] });
}

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
  t.truthy(row.queued_at, 'stamped as queued as it was stored');
  // The answer waits for the queue only so long (intake.ts enqueueAccepted): on a busy machine the job comes just after it.
  const job = await waitFor('the conversion\'s job', async () => (await conversions.getJob(reply.body.conversionId)) ?? undefined);
  t.deepEqual(job.data, { conversionId: Number(row.id) });
});

test('the same partnerTxId with the same body is the same answer; the MyKey ID may be spelled another way', async (t) => {
  const body = await conversionBody();
  const first = await post(body);
  const again = await post({ ...body, mykeyId: `${body.mykeyId.slice(0, 4).toLowerCase()}-${body.mykeyId.slice(4)}` });
  t.is(again.status, 202);
  t.deepEqual(again.body, first.body);
  const rows = await rowsFor(body.partnerTxId);
  t.is(rows.length, 1);
  // The count is the write that holds the answer back until the row is on disk (docs/architecture.md#a-replay-is-answered-only-once-durable).
  t.is(Number(rows[0].replays), 1, 'the replay was counted on the row before it was answered');
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
  const rows = await rowsFor(body.partnerTxId);
  t.is(rows.length, 1);
  t.is(Number(rows[0].replays), 19, 'every answer but the first came from the stored row, counted: twins that met at the unique key too');
});

test('signature failures are 401 with stable codes and store nothing', async (t) => {
  const { base, db, now } = await fixture();
  const partner = await partnerHere();
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
  const partner = await partnerHere();
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
  const partner = await partnerHere();
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
  const partner = await partnerHere();
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
  const other = await partnerHere();
  const foreign = await signedFetch(base, other, 'GET', `${PATH}/${body.partnerTxId}`);
  t.is(foreign.status, 404, 'another partner cannot see it');
  t.is(foreign.body.code, 'conversion_not_found');
});

test('partners are isolated: the same partnerTxId at another partner is another conversion', async (t) => {
  const { db } = await fixture();
  const other = await partnerHere({ units: 1, points: 1 });
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

test('the signing example in docs/partner-api.md is what partner-signature.ts computes', async (t) => {
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
  // The batch upload: its file (each line ending in LF), signed over its declared length and hash.
  const file = `${block('batch-body')}\n`;
  const upload = { timestamp, method: 'PUT', path: '/api/v1/partner/conversion-batches/card-2026-11-22', bodySha256: bodySha256(file), contentLength: Buffer.byteLength(file) };
  t.is(block('upload-base'), signatureBase(upload));
  t.is(block('upload-signature'), `X-MyKey-Signature: ${signature(partnerKey(secret), upload)}`);
});

test('npm run mykey -- partner-secret issues a new secret once: it signs, the old one no longer does', async (t) => {
  const { db, url, base } = await fixture();
  const partner = await partnerHere();
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
  t.like(await run(partner.slug, '--webhook-url', 'ftp://x'), { code: 2, out: { error: 'webhook_url_refused' } });
  const events = await db('audit_events').where({ subject: `partner:${partner.id}` }).orderBy('seq').select('action', 'actor_kind', 'details');
  t.deepEqual(events.map((e) => e.action), ['partner.secret_issued', 'partner.secret_rotated', 'partner.secret_rotated'], 'issued by addPartner, then rotated twice');
  t.false(events.some((e) => JSON.stringify(e).includes(issued.out.apiSecret)), 'the secret is never in the log');
});

test('a plain http webhook URL is refused in production (NODE_ENV unset), allowed to loopback or with NODE_ENV=development', async (t) => {
  const { db, url } = await fixture();
  const partner = await addPartner(db);
  const script = new URL('../../scripts/mykey.ts', import.meta.url).pathname;
  const { NODE_ENV: _, ...inherited } = process.env;
  const run = (nodeEnv: string | undefined, webhook: string) => promisify(execFile)(process.execPath, ['--import=tsx', script, 'partner-secret', partner.slug, '--webhook-url', webhook],
    // Production refuses the development secret, so it runs with a secret of its own.
    { env: { ...inherited, DATABASE_URL: url, MYKEY_SECRET: (nodeEnv ? mykeySecret({ NODE_ENV: 'test' }) : randomBytes(32)).toString('hex'), ...(nodeEnv ? { NODE_ENV: nodeEnv } : {}) } })
    .then(({ stdout }) => ({ code: 0, out: JSON.parse(stdout) }), (error: { code: number; stdout: string }) => ({ code: error.code, out: JSON.parse(error.stdout) }));
  const before = await db('partners').where({ id: partner.id }).first('webhook_url', 'api_secret_sealed');
  const refused = await run(undefined, 'http://partner.example/hook');
  t.like(refused, { code: 2, out: { error: 'webhook_url_refused' } });
  t.regex(refused.out.detail, /https/);
  t.deepEqual(await db('partners').where({ id: partner.id }).first('webhook_url', 'api_secret_sealed'), before, 'nothing changed');
  t.like(await run(undefined, 'http://127.0.0.1:47200/hook'), { code: 0, out: { webhookUrl: 'http://127.0.0.1:47200/hook' } });
  t.like(await run('development', 'http://partner.test/hook'), { code: 0, out: { webhookUrl: 'http://partner.test/hook' } });
  // The rule itself, case by case.
  const production = (webhook: string) => webhookUrlProblem(webhook, plainHttpWebhooksAllowed(undefined));
  for (const nodeEnv of [undefined, 'production', 'test']) t.false(plainHttpWebhooksAllowed(nodeEnv), `NODE_ENV=${nodeEnv}`);
  for (const webhook of ['http://partner.example/hook', 'http://10.0.0.5/hook', 'http://127.0.0.1.example/hook', 'ftp://partner.example/', 'not a url', `https://x/${'a'.repeat(2048)}`]) {
    t.truthy(production(webhook), webhook);
  }
  for (const webhook of ['https://partner.example/hook', 'http://127.0.0.1:47200/hook', 'http://127.1.2.3/hook', 'http://[::1]:8080/hook', 'http://localhost/hook']) {
    t.is(production(webhook), undefined, webhook);
  }
});

test('without an agreement in force with the municipality a conversion is 403 partner_agreement_missing: nothing stored, ledger and budget untouched', async (t) => {
  const { db, now, partner } = await fixture();
  // A town with a funded campaign (its own partner has an agreement; ours has none yet).
  const city = await town(db);
  const today = tokyoDate(new Date(now * 1000));
  const dayOff = (days: number) => tokyoDate(new Date(now * 1000 + days * 86_400_000));
  const budgetAccount = await db('ledger_accounts').where({ municipality_code: city.code, kind: 'campaign_budget' }).first('id', 'balance');
  const entries = async () => Number((await db('ledger_entries').where({ municipality_code: city.code }).count({ n: '*' }).first())!.n);
  const entriesBefore = await entries();
  const attempt = async (why: string) => {
    const body = await conversionBody({ municipality: city.code });
    const reply = await post(body);
    t.is(reply.status, 403, why);
    t.is(reply.body.code, 'partner_agreement_missing', why);
    t.truthy(reply.body.messages.ja && reply.body.messages.en);
    t.is((await rowsFor(body.partnerTxId)).length, 0, why);
  };
  await attempt('no agreement at all');
  await agree(db, partner.slug, city.code, { startsOn: dayOff(1) });
  await attempt('an agreement that starts tomorrow');
  await endAgreement(db, { partner: partner.slug, municipality: city.code, now: new Date() });
  await agree(db, partner.slug, city.code, { startsOn: dayOff(-30), endsOn: dayOff(-1) });
  await attempt('an agreement that ended yesterday');
  await endAgreement(db, { partner: partner.slug, municipality: city.code, now: new Date() });
  await agree(db, partner.slug, city.code, { startsOn: today });
  const inForce = await post(await conversionBody({ municipality: city.code }));
  t.is(inForce.status, 202, 'in force from its first day');
  await endAgreement(db, { partner: partner.slug, municipality: city.code, now: new Date() });
  await attempt('an agreement an operator ended');
  t.is(await entries(), entriesBefore, 'no ledger entry');
  t.is(Number((await db('ledger_accounts').where({ id: budgetAccount.id }).first('balance')).balance), Number(budgetAccount.balance), 'the campaign budget is untouched');
  t.is(Number((await db('conversion_requests').where({ partner_id: partner.id, municipality_code: city.code }).count({ n: '*' }).first())!.n), 1, 'only the one in force');
});

test('npm run mykey -- partner-add adds a partner company, audited, once per slug; it credits nothing before an agreement', async (t) => {
  const { db, url } = await fixture();
  const env = { ...process.env, DATABASE_URL: url };
  const script = new URL('../../scripts/mykey.ts', import.meta.url).pathname;
  const run = (...args: string[]) => promisify(execFile)(process.execPath, ['--import=tsx', script, 'partner-add', ...args], { env })
    .then(({ stdout }) => ({ code: 0, out: JSON.parse(stdout) }), (error: { code: number; stdout: string }) => ({ code: error.code, out: JSON.parse(error.stdout) }));
  const slug = `sky-miles-${randomBytes(3).toString('hex')}`;
  const terms = ['--slug', slug, '--name-ja', 'スカイ航空マイル', '--name-en', 'Sky Airline Miles', '--kind', 'airline_miles', '--rate', '2:1'];
  const added = await run(...terms);
  t.is(added.code, 0, JSON.stringify(added.out));
  t.like(await db('partners').where({ id: added.out.id }).first(), { slug, name_ja: 'スカイ航空マイル', name_en: 'Sky Airline Miles', kind: 'airline_miles', rate_units: 2, rate_points: 1 });
  t.like(await run(...terms), { code: 1, out: { error: 'partner_exists' } }, 'a slug is added once');
  for (const [flag, value] of [['--rate', '2'], ['--rate', '0:1'], ['--kind', 'bank'], ['--slug', 'sky miles']]) {
    const changed = terms.map((term, i) => (terms[i - 1] === flag ? value! : term));
    t.like(await run(...changed.map((term) => (term === slug ? `${slug}-x` : term))), { code: 2, out: { error: 'usage' } }, `${flag} ${value}`);
  }
  t.like(await run('--slug', `${slug}-y`), { code: 2, out: { error: 'usage' } }, 'every term is asked for');
  t.is(Number((await db('partners').where('slug', 'like', `${slug}%`).count({ n: '*' }).first())!.n), 1, 'nothing else was added');
  const [event] = await db('audit_events').where({ subject: `partner:${added.out.id}` }).select('action', 'actor_kind', 'details');
  t.like(event, { action: 'partner.added', actor_kind: 'system', details: { slug, kind: 'airline_miles', rateUnits: 2, ratePoints: 1 } });
  t.deepEqual(await db('partner_agreements').where({ partner_id: added.out.id }).select('id'), [], 'no agreement: it credits no town yet');
});

test('npm run mykey -- partner-agreement adds, ends and lists agreements, audited', async (t) => {
  const { db, url } = await fixture();
  const city = await town(db);
  const partner = await addPartner(db);
  const env = { ...process.env, DATABASE_URL: url };
  const script = new URL('../../scripts/mykey.ts', import.meta.url).pathname;
  const run = (...args: string[]) => promisify(execFile)(process.execPath, ['--import=tsx', script, 'partner-agreement', ...args], { env })
    .then(({ stdout }) => ({ code: 0, out: JSON.parse(stdout) }), (error: { code: number; stdout: string }) => ({ code: error.code, out: JSON.parse(error.stdout) }));
  const added = await run('add', partner.slug, city.code, '--from', '2026-04-01', '--until', '2027-03-31');
  t.is(added.code, 0);
  t.like(added.out, { partner: partner.slug, municipality: city.code, status: 'active', startsOn: '2026-04-01', endsOn: '2027-03-31', endedAt: null });
  t.like(await run('add', partner.slug, city.code), { code: 1, out: { error: 'agreement_exists' } });
  t.like(await run('add', 'no-such-partner', city.code), { code: 1, out: { error: 'partner_not_found' } });
  t.like(await run('add', partner.slug, '000000'), { code: 1, out: { error: 'municipality_not_found' } });
  t.like(await run('add', partner.slug, city.code, '--from', '2026-02-30'), { code: 2, out: { error: 'usage' } });
  t.like(await run('add', partner.slug), { code: 2, out: { error: 'usage' } });
  const ended = await run('end', partner.slug, city.code);
  t.is(ended.code, 0);
  t.like(ended.out, { id: added.out.id, status: 'ended' });
  t.truthy(ended.out.endedAt);
  t.like(await run('end', partner.slug, city.code), { code: 1, out: { error: 'agreement_not_found' } });
  const listed = await run('list', '--partner', partner.slug);
  t.deepEqual(listed.out.agreements.map((a: { id: number; status: string }) => [a.id, a.status]), [[added.out.id, 'ended']]);
  const events = await db('audit_events').where({ subject: `partner-agreement:${added.out.id}` }).orderBy('seq').select('action', 'actor_kind', 'details');
  t.deepEqual(events.map((e) => e.action), ['partner.agreement_added', 'partner.agreement_ended']);
  t.like(events[0].details, { partnerId: partner.id, municipality: city.code });
});
