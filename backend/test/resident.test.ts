// The resident's own page (docs/resident.md): the card signs resident_page with the PIN at a
// town's device, the browser hands the signed challenge in once for a session cookie, and the
// page shows the resident's own points — balances per town, lots by expiry, the history with its
// reasons in words, its CSV — and nothing of anyone else. It closes after its idle time without
// use, or at once when the card leaves the reader; the backend decides both.
import test from 'ava';
import { createHash, randomUUID } from 'node:crypto';
import { fileFixture } from './helpers/env.ts';
import { browser, openPage as openResidentPage, signPage } from './helpers/resident-page.ts';
import { cardProof, cardSession, enrollDevice, firstLogin, municipalCounter, secondTown, signInStaff, type Device } from './helpers/identity.ts';
import { creditConversions, expireAccount, inLedgerTransaction } from '../src/ledger/ledger.ts';
import { tokyoDate } from '../src/ledger/rules.ts';
import type { IssuedCertificate } from '@mykey/dev-tools/dev-ca/index.ts';

const DAY = 86_400_000;
// The app's clock, stopped and moved by the idle tests (they run one at a time: every test here is serial).
let stoppedAt: number | undefined;
let offset = 0;
const clock = () => new Date((stoppedAt ?? Date.now()) + offset);

const fixture = fileFixture(test, async (cleanup) => {
  const f = await municipalCounter(cleanup, { clock });
  const partner = await f.db('partners').where({ slug: 'demo-card' }).first('id');
  const category = await f.db('event_categories').where({ municipality_code: '139998' }).orderBy('id').first('id', 'name_ja', 'name_en');
  const shop = await signInStaff(f.base, 'demo-shop');
  const register = await enrollDevice(f.base, shop, 'レジ1');
  const aoba = await secondTown(f.base);
  return { ...f, partnerId: Number(partner.id), category, shop, register, aoba };
});
type Fixture = Awaited<ReturnType<typeof fixture>>;

/** The page opened at `device` (the town's counter unless told). */
const openPage = (f: Fixture, card: IssuedCertificate, device: Device = f.device) => openResidentPage(f.base, device, card);

const credit = (f: Fixture, mykeyId: string, points: number, now: Date, municipalityCode = '139998') => inLedgerTransaction(f.db, (trx) => creditConversions(trx, [{
  reference: `test:${randomUUID()}`, municipalityCode, mykeyId, partnerId: f.partnerId, points, now,
}]));

async function pay(f: Fixture, card: IssuedCertificate, amount: number): Promise<string> {
  const intent = await f.shop.post('/api/v1/merchant/payment-intents', { amount });
  const challenge = await f.register.post('/api/v1/auth/challenges', { purpose: 'payment', paymentIntentId: intent.body.intentId });
  const paid = await f.register.post('/api/v1/auth/card-sessions', cardProof(challenge.body, card));
  if (paid.status !== 201) throw new Error(JSON.stringify(paid.body));
  return intent.body.intentId;
}

test.serial('the card opens the page once: a hashed session as an HttpOnly cookie, the town of the device, five minutes', async (t) => {
  const f = await fixture();
  const resident = await firstLogin(f.pki, f.device);
  const signed = await signPage(f.device, resident.card);
  t.like(signed, { status: 201, body: { purpose: 'resident_page' } });
  t.is(Object.keys(signed.body).filter((k) => !['challengeId', 'purpose', 'revocationChecked'].includes(k)).length, 0, 'the card session hands out no session');

  const page = browser(f.base);
  const opened = await page.call('POST', '/api/v1/resident/sessions', { proof: signed.body.challengeId });
  t.like(opened, { status: 201, body: { municipality: { code: '139998', name: { ja: 'みらい市（デモ）' } }, idleSeconds: 300, closesInSeconds: 300 } });
  t.regex(opened.headers.get('set-cookie')!, /^mykey_resident=[A-Za-z0-9_-]{43}; path=\/; samesite=strict; httponly$/);
  t.is(opened.headers.get('cache-control'), 'no-store');
  const token = page.cookie.split('=')[1]!;
  const stored = await f.db('resident_sessions').where({ token_hash: createHash('sha256').update(token).digest() }).first();
  t.truthy(stored, 'stored by the SHA-256 of its token');
  t.is(JSON.stringify(await f.db('resident_sessions').select()).includes(token), false, 'the token itself is stored nowhere');

  // The proof is used once; a second browser holding it gets nothing.
  t.like(await browser(f.base).call('POST', '/api/v1/resident/sessions', { proof: signed.body.challengeId }), { status: 409, body: { code: 'challenge_reused' } });
  t.like(await page.call('GET', '/api/v1/resident/session'), { status: 200, body: { idleSeconds: 300 } });
  const events = await f.db('audit_events').where({ action: 'resident_page.opened' }).count({ n: '*' });
  t.true(Number(events[0]!.n) >= 1, 'the opening is on record');
});

test.serial('only a PIN-signed resident_page challenge of a town\'s device opens it; bad input is a clear problem', async (t) => {
  const f = await fixture();
  const resident = await firstLogin(f.pki, f.device);
  const page = browser(f.base);
  // A login's signed challenge is not a proof for the page.
  const login = await cardSession(f.device, resident.card, 'login');
  t.like(await page.call('POST', '/api/v1/resident/sessions', { proof: login.body.challengeId }), { status: 400, body: { code: 'card_proof_unknown' } });
  // A challenge asked for but never signed.
  const unsigned = await f.device.post('/api/v1/auth/challenges', { purpose: 'resident_page' });
  t.like(await page.call('POST', '/api/v1/resident/sessions', { proof: unsigned.body.challengeId }), { status: 400, body: { code: 'card_proof_unknown' } });
  // Never PIN-less; never at a shop's register.
  t.like(await f.device.post('/api/v1/auth/card-taps', { purpose: 'resident_page', certificate: resident.card.certificateDer.toString('base64') }), { status: 403, body: { code: 'card_tap_not_allowed' } });
  t.like(await f.register.post('/api/v1/auth/challenges', { purpose: 'resident_page' }), { status: 403, body: { code: 'purpose_not_for_device' } });
  // A card never registered is told so before any page opens.
  t.like(await signPage(f.device, await f.pki.card()), { status: 409, body: { code: 'resident_card_unknown' } });
  // Malformed input.
  const bad = await page.call('POST', '/api/v1/resident/sessions', { proof: 'short' });
  t.like(bad, { status: 400, body: { code: 'request_invalid' } });
  t.regex(JSON.stringify(bad.body.errors), /challengeId of the card session for resident_page/);
  t.like(await page.call('POST', '/api/v1/resident/sessions', { proof: 'a'.repeat(43), extra: 1 }), { status: 400, body: { code: 'request_invalid' } });
  // A proof signed more than 60 seconds ago is too old.
  const late = await signPage(f.device, resident.card);
  offset += 61_000;
  try {
    t.like(await page.call('POST', '/api/v1/resident/sessions', { proof: late.body.challengeId }), { status: 400, body: { code: 'challenge_expired' } });
  } finally {
    offset = 0;
  }
  // No session, or a made-up one: closed, and nothing shown.
  for (const cookie of ['', 'mykey_resident=' + 'x'.repeat(43)]) {
    const stranger = browser(f.base);
    stranger.cookie = cookie;
    for (const path of ['/api/v1/resident/session', '/api/v1/resident/points', '/api/v1/resident/history', '/api/v1/resident/history.csv']) {
      t.like(await stranger.call('GET', path), { status: 401, body: { code: 'resident_session_closed' } }, path);
    }
  }
});

test.serial('a suspended ID or a town\'s block: the card is told at the tap, in its words', async (t) => {
  const f = await fixture();
  const suspended = await firstLogin(f.pki, f.device);
  t.is((await f.staff.post(`/api/v1/staff/mykeys/${suspended.mykeyId}/suspension`, { reason: 'カード紛失の届出' })).status, 200);
  t.like(await signPage(f.device, suspended.card), { status: 403, body: { code: 'mykey_suspended' } });
  const blocked = await firstLogin(f.pki, f.device);
  t.is((await f.aoba.staff.post(`/api/v1/staff/mykeys/${blocked.mykeyId}/block`, { reason: 'あおば町の利用停止' })).status, 200);
  t.like(await signPage(f.aoba.device, blocked.card), { status: 403, body: { code: 'mykey_blocked_here' } });
});

test.serial('balances per town, lots soonest first with those within 30 days called out, the history with its reasons, paged, and its CSV', async (t) => {
  const f = await fixture();
  const resident = await firstLogin(f.pki, f.device);
  const now = new Date();
  // Converted 400 days ago (expired since), 350 days ago (its last day within 30 days), and now.
  await credit(f, resident.mykeyId, 100, new Date(now.getTime() - 400 * DAY));
  await credit(f, resident.mykeyId, 500, new Date(now.getTime() - 350 * DAY));
  await credit(f, resident.mykeyId, 1_000, new Date(now.getTime() - 1_000));
  const account = await f.db('ledger_accounts as a').join('mykeys as m', 'm.id', 'a.mykey_pk').where({ 'a.kind': 'resident', 'm.mykey_id': resident.mykeyId }).first('a.id');
  await inLedgerTransaction(f.db, (trx) => expireAccount(trx, Number(account.id), now));
  // Granted by the municipality, with its category; paid at the bakery, part of it refunded.
  t.is((await f.staff.post('/api/v1/staff/grants', { mykeyId: resident.mykeyId, campaign: 'demo-grants-2026', points: 50, reason: '清掃活動への参加', category: Number(f.category.id) })).status, 201);
  const intentId = await pay(f, resident.card, 300);
  t.is((await f.shop.post(`/api/v1/merchant/payments/${intentId}/refunds`, { points: 100 })).status, 201);
  // Someone else's points, in the same town, never show.
  const other = await firstLogin(f.pki, f.device);
  await credit(f, other.mykeyId, 7_777, now);

  const { page } = await openPage(f, resident.card);
  const points = await page.call('GET', '/api/v1/resident/points');
  t.is(points.status, 200, JSON.stringify(points.body));
  t.deepEqual(points.body.balances, [{ municipality: { code: '139998', name: { ja: 'みらい市（デモ）', en: 'Mirai City (demo)' } }, points: 500 + 1_000 + 50 - 300 + 100 }]);
  t.is(points.body.expiringSoonDays, 30);
  const lots = points.body.lots as Array<{ points: number; expiresAt: string; expiringSoon: boolean; arrivedBy: string; lastDay: string }>;
  t.deepEqual(lots.map((l) => l.expiresAt), [...lots.map((l) => l.expiresAt)].sort(), 'soonest first');
  // The payment drew the soonest lot first, and its refund went back there.
  t.like(lots[0], { points: 500 - 300 + 100, originalPoints: 500, expiringSoon: true, arrivedBy: 'conversion' });
  t.true(lots.filter((l) => l.expiringSoon).every((l) => new Date(l.expiresAt).getTime() <= now.getTime() + 31 * DAY));
  t.true(lots.some((l) => !l.expiringSoon && l.arrivedBy === 'conversion'), 'the fresh conversion is not called out');
  t.true(lots.some((l) => l.arrivedBy === 'grant'));
  t.is(lots.reduce((sum, l) => sum + l.points, 0), points.body.balances[0].points);
  t.regex(lots[0]!.lastDay, /^\d{4}-\d\d-\d\d$/);

  const history = await page.call('GET', '/api/v1/resident/history');
  t.like(history.body, { page: 1, pageSize: 20, total: 7 });
  const reasons = (history.body.movements as Array<{ kind: string; points: number; reason: { ja: string; en: string } }>).map((m) => [m.kind, m.points, m.reason.ja, m.reason.en]);
  t.deepEqual(reasons, [
    ['refund', 100, 'みらいベーカリーからの返金', 'Refunded by Mirai Bakery'],
    ['payment', -300, 'みらいベーカリーでのお支払い', 'Paid at Mirai Bakery'],
    ['grant', 50, `自治体からの付与（${f.category.name_ja}）`, `Granted by the municipality (${f.category.name_en})`],
    ['expiry', -100, '有効期限切れ', 'Expired'],
    ['conversion', 1_000, 'デモカード株式会社から交換', 'Converted from Demo Card Co., Ltd.'],
    ['conversion', 500, 'デモカード株式会社から交換', 'Converted from Demo Card Co., Ltd.'],
    ['conversion', 100, 'デモカード株式会社から交換', 'Converted from Demo Card Co., Ltd.'],
  ]);
  t.false(JSON.stringify(history.body).includes('7777'), 'nothing of another resident');
  t.like(await page.call('GET', '/api/v1/resident/history?page=2'), { status: 200, body: { page: 2, total: 7, movements: [] } });
  for (const page_ of ['0', 'x', '1.5']) t.like(await page.call('GET', `/api/v1/resident/history?page=${page_}`), { status: 400, body: { code: 'request_invalid' } });

  const csv = await page.call('GET', '/api/v1/resident/history.csv');
  t.is(csv.status, 200);
  t.regex(csv.headers.get('content-type')!, /^text\/csv; charset=utf-8/);
  t.regex(csv.headers.get('content-disposition')!, /attachment; filename="my-points-history.csv"/);
  t.true(csv.text.startsWith('\uFEFFposted_at_japan_time,municipality_code,kind,points,reason_ja,reason_en\r\n'));
  const rows = csv.text.trimEnd().split('\r\n');
  t.is(rows.length, 8);
  t.regex(rows[1]!, /^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,139998,refund,100,みらいベーカリーからの返金,Refunded by Mirai Bakery$/);
});

test.serial('a page in another town\'s device shows the resident\'s own, whatever town; another resident\'s session shows only theirs', async (t) => {
  const f = await fixture();
  const [a, b] = [await firstLogin(f.pki, f.device), await firstLogin(f.pki, f.device)];
  await credit(f, a.mykeyId, 1_234, new Date());
  await credit(f, a.mykeyId, 321, new Date(), '139971');
  await credit(f, b.mykeyId, 9_876, new Date());

  const atAoba = await openPage(f, a.card, f.aoba.device);
  t.like(atAoba.opened.body, { municipality: { code: '139971' } });
  const own = (await atAoba.page.call('GET', '/api/v1/resident/points')).body;
  t.deepEqual(own.balances.map((x: { municipality: { code: string }; points: number }) => [x.municipality.code, x.points]), [['139971', 321], ['139998', 1_234]]);
  const ofB = await openPage(f, b.card);
  t.deepEqual((await ofB.page.call('GET', '/api/v1/resident/points')).body.balances.map((x: { points: number }) => x.points), [9_876]);
  t.is((await ofB.page.call('GET', '/api/v1/resident/history')).body.total, 1);
  t.false(JSON.stringify((await ofB.page.call('GET', '/api/v1/resident/history.csv')).text).includes('1234'));
});

test.serial('the card leaving the reader closes the page at once; closing twice does nothing; a bad reason is a clear problem', async (t) => {
  const f = await fixture();
  const resident = await firstLogin(f.pki, f.device);
  const { page } = await openPage(f, resident.card);
  const cookie = page.cookie;
  t.like(await page.call('DELETE', '/api/v1/resident/session?reason=sideways'), { status: 400, body: { code: 'request_invalid' } });
  t.is((await page.call('GET', '/api/v1/resident/points')).status, 200);
  const closed = await page.call('DELETE', '/api/v1/resident/session?reason=card_removed');
  t.is(closed.status, 204);
  t.regex(closed.headers.get('set-cookie')!, /^mykey_resident=;/);
  // The cookie kept by someone else opens nothing.
  page.cookie = cookie;
  t.like(await page.call('GET', '/api/v1/resident/points'), { status: 401, body: { code: 'resident_session_closed' } });
  t.is((await page.call('DELETE', '/api/v1/resident/session?reason=closed')).status, 204);
  t.like(await f.db('resident_sessions').where({ token_hash: createHash('sha256').update(cookie.split('=')[1]!).digest() }).first(), { end_reason: 'card_removed' });
});

test.serial('five minutes without use close the page; a use starts them again; asking whether it is open is not a use', async (t) => {
  const f = await fixture();
  const resident = await firstLogin(f.pki, f.device);
  stoppedAt = Date.now();
  try {
    const { page } = await openPage(f, resident.card);
    offset += 200_000;
    t.like(await page.call('GET', '/api/v1/resident/session'), { status: 200, body: { closesInSeconds: 100 } });
    t.is((await page.call('GET', '/api/v1/resident/history')).status, 200);
    offset += 299_000;
    t.like(await page.call('GET', '/api/v1/resident/session'), { status: 200, body: { closesInSeconds: 1 } });
    offset += 2_000;
    t.like(await page.call('GET', '/api/v1/resident/session'), { status: 401, body: { code: 'resident_session_closed' } });
    t.like(await page.call('GET', '/api/v1/resident/points'), { status: 401, body: { code: 'resident_session_closed' } });
  } finally {
    stoppedAt = undefined;
    offset = 0;
  }
});

test.serial('thirty minutes after it opened the page closes, however it is used', async (t) => {
  const f = await fixture();
  const resident = await firstLogin(f.pki, f.device);
  stoppedAt = Date.now();
  try {
    const { page, opened } = await openPage(f, resident.card);
    t.like(opened.body, { closesInSeconds: 300, limitInSeconds: 1_800 });
    for (let used = 0; used < 6; used++) {
      offset += 290_000;
      t.is((await page.call('GET', '/api/v1/resident/points')).status, 200);
    }
    // 1740 s in, just used: the idle time would leave 300 s, the limit leaves 60.
    t.like(await page.call('GET', '/api/v1/resident/session'), { status: 200, body: { closesInSeconds: 60, limitInSeconds: 60 } });
    offset += 60_000;
    t.like(await page.call('GET', '/api/v1/resident/history'), { status: 401, body: { code: 'resident_session_closed' } });
    t.like(await page.call('GET', '/api/v1/resident/session'), { status: 401, body: { code: 'resident_session_closed' } });
  } finally {
    stoppedAt = undefined;
    offset = 0;
  }
});

test.serial('a page open when its ID is suspended, or blocked in its town, ends at its next read with that problem', async (t) => {
  const f = await fixture();
  const suspended = await firstLogin(f.pki, f.device);
  const blocked = await firstLogin(f.pki, f.device);
  const [first, second] = [await openPage(f, suspended.card), await openPage(f, blocked.card)];
  // Blocked in another town: the page opened here stays open.
  t.is((await f.aoba.staff.post(`/api/v1/staff/mykeys/${blocked.mykeyId}/block`, { reason: 'あおば町の利用停止' })).status, 200);
  t.is((await second.page.call('GET', '/api/v1/resident/points')).status, 200);

  t.is((await f.staff.post(`/api/v1/staff/mykeys/${suspended.mykeyId}/suspension`, { reason: 'カード紛失の届出' })).status, 200);
  t.is((await f.staff.post(`/api/v1/staff/mykeys/${blocked.mykeyId}/block`, { reason: 'みらい市の利用停止' })).status, 200);
  t.like(await first.page.call('GET', '/api/v1/resident/points'), { status: 403, body: { code: 'mykey_suspended' } });
  t.like(await second.page.call('GET', '/api/v1/resident/session'), { status: 403, body: { code: 'mykey_blocked_here' } });
  // Ended for good: reinstating the ID opens no page left behind.
  t.is((await f.staff.post(`/api/v1/staff/mykeys/${suspended.mykeyId}/reinstatement`, { reason: 'カード発見' })).status, 200);
  t.like(await first.page.call('GET', '/api/v1/resident/points'), { status: 401, body: { code: 'resident_session_closed' } });
  const reasons = await f.db('resident_sessions as s').join('mykeys as m', 'm.id', 's.mykey_pk').whereIn('m.mykey_id', [suspended.mykeyId, blocked.mykeyId]).orderBy('s.end_reason').pluck('s.end_reason');
  t.deepEqual(reasons, ['mykey_suspended', 'mykey_blocked_here']);
});

test.serial('points for taking part in an event say which event', async (t) => {
  const f = await fixture();
  const resident = await firstLogin(f.pki, f.device);
  const campaign = await f.db('campaigns').where({ slug: 'demo-events-2026' }).first('id');
  const event = await f.staff.post('/api/v1/events', { nameJa: '防災訓練', nameEn: 'Disaster drill', categoryId: Number(f.category.id), startsOn: tokyoDate(new Date()), endsOn: tokyoDate(new Date(Date.now() + 86_400_000)), points: 30, campaignId: Number(campaign.id), tapPolicy: 'tap' });
  t.is(event.status, 201, JSON.stringify(event.body));
  const reception = await enrollDevice(f.base, f.staff, '行事受付');
  t.is((await f.staff.put(`/api/v1/events/${event.body.id}/devices`, { deviceIds: [reception.id] })).status, 200);
  t.is((await reception.post('/api/v1/auth/card-taps', { purpose: 'event_attendance', certificate: resident.card.certificateDer.toString('base64') })).status, 201);
  const { page } = await openPage(f, resident.card);
  t.like((await page.call('GET', '/api/v1/resident/history')).body.movements, [{ kind: 'grant', points: 30, reason: { ja: 'イベント参加：防災訓練', en: 'For taking part in an event: Disaster drill' } }]);
});
