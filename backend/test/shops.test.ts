// Shops from application to a suspended register (docs/shops.md): the public form's
// application, normalised for the transfer file, limited per address and idempotent; the town's
// administrator's decisions, audited; and a suspended shop's registers refused at once through
// the real register path, nothing stored, working again once reinstated.
import test from 'ava';
import { randomUUID } from 'node:crypto';
import { DEMO_MUNICIPALITY, DEMO_SECOND_MUNICIPALITY } from '@mykey/dev-tools/demo-towns.ts';
import { fileFixture, testDatabase } from './helpers/env.ts';
import { cardProof, enrollDevice, firstLogin, municipalCounter, signInStaff, type Reply } from './helpers/identity.ts';
import { creditConversions, inLedgerTransaction } from '../src/ledger/ledger.ts';
import { eventsAbout } from '../src/audit/chain.ts';
import { APPLICATIONS_PER_WINDOW } from '../src/shops/application-limit.ts';

const SHOP_APPLICATIONS_MIGRATION = '20261208030000_shop_applications.ts';

const fixture = fileFixture(test, async (cleanup) => {
  // Behind a proxy, so each test applies from an address of its own (the limit counts per address).
  const town = await municipalCounter(cleanup, { config: { TRUST_PROXY: true } });
  return { ...town, city: town.staff, counter: town.device, auditor: await signInStaff(town.base, 'demo-auditor') };
});

type Fixture = Awaited<ReturnType<typeof fixture>>;

let addresses = 0;
/** A client address no other test uses. */
const newAddress = () => `192.0.2.${++addresses}`;

/** A call to the public form's API from `address`, with the answer's headers. */
async function publicPost(f: Fixture, path: string, body: unknown, { address = newAddress(), key = randomUUID() }: { address?: string; key?: string } = {}) {
  const response = await fetch(`${f.base}${path}`, {
    method: 'POST', body: typeof body === 'string' ? body : JSON.stringify(body),
    headers: { 'Content-Type': 'application/json', 'Idempotency-Key': key, 'X-Forwarded-For': address },
  });
  const text = await response.text();
  return { status: response.status, body: text ? JSON.parse(text) : undefined, headers: response.headers };
}

/** A whole application as a shop types it: kana in hiragana and full width, as people do. */
function application(overrides: Record<string, unknown> = {}, bank: Record<string, unknown> = {}) {
  return {
    municipalityCode: DEMO_MUNICIPALITY.code, nameJa: 'みらい豆腐店', nameEn: 'Mirai Tofu', address: 'みらい市本町2-3-4', category: 'grocery',
    representative: '豆田 一郎', phone: '03-1234-5678', email: 'tofu@example.jp',
    bankAccount: { bankCode: '0001', bankNameKana: 'みらいぎんこう', branchCode: '123', branchNameKana: 'ホンテン', accountType: 'ordinary', accountNumber: '1234567', holderKana: 'マメダ　イチロウ', ...bank },
    ...overrides,
  };
}

async function applied(f: Fixture, overrides: Record<string, unknown> = {}): Promise<number> {
  const reply = await publicPost(f, '/api/v1/shop-applications', application(overrides));
  if (reply.status !== 201) throw new Error(JSON.stringify(reply.body));
  return reply.body.applicationId;
}

const count = async (f: Fixture, table: string, where: Record<string, unknown>) => Number((await f.db(table).where(where).count({ n: '*' }))[0]!.n);

test('a shop applies without signing in: the bank names normalised as the transfer file writes them, pending for its own town', async (t) => {
  const f = await fixture();
  const reply = await publicPost(f, '/api/v1/shop-applications', application());
  t.is(reply.status, 201, JSON.stringify(reply.body));
  t.like(reply.body, {
    status: 'pending', municipality: { code: DEMO_MUNICIPALITY.code, nameJa: DEMO_MUNICIPALITY.name_ja },
    bankAccount: { bankNameKana: 'ﾐﾗｲｷﾞﾝｺｳ', branchNameKana: 'ﾎﾝﾃﾝ', holderKana: 'ﾏﾒﾀﾞ ｲﾁﾛｳ', accountNumber: '1234567' },
  });
  const id = reply.body.applicationId as number;
  const shop = (await f.city.get(`/api/v1/staff/shops/${id}`)).body;
  t.like(shop, { id, status: 'pending', nameJa: 'みらい豆腐店', category: 'grocery', representative: '豆田 一郎', phone: '03-1234-5678', email: 'tofu@example.jp', statusReason: null });
  t.truthy(shop.appliedAt);
  t.like((await f.auditor.get('/api/v1/staff/shops?status=pending')).body.shops.find((s: { id: number }) => s.id === id), { status: 'pending', nameEn: 'Mirai Tofu' });
  t.false((await f.city.get('/api/v1/staff/shops?status=approved')).body.shops.some((s: { id: number }) => s.id === id));
  t.deepEqual((await eventsAbout(f.db, `merchant:${id}`)).reverse().map((e) => e.action), ['shop.applied']);
  // The other town's administrator never sees it.
  const aoba = await signInStaff(f.base, 'demo-aoba-city');
  t.like(await aoba.get(`/api/v1/staff/shops/${id}`), { status: 404, body: { code: 'shop_not_found' } });
  t.false((await aoba.get('/api/v1/staff/shops')).body.shops.some((s: { id: number }) => s.id === id));
});

test('an application is idempotent per address: the same key replays, another body under it is refused, another address applies anew', async (t) => {
  const f = await fixture();
  const address = newAddress();
  const key = randomUUID();
  const first = await publicPost(f, '/api/v1/shop-applications', application({ nameJa: '再送の店' }), { address, key });
  t.is(first.status, 201);
  const again = await publicPost(f, '/api/v1/shop-applications', application({ nameJa: '再送の店' }), { address, key });
  t.deepEqual({ status: again.status, body: again.body }, { status: first.status, body: first.body });
  t.is(again.headers.get('Idempotent-Replayed'), 'true');
  t.like(await publicPost(f, '/api/v1/shop-applications', application({ nameJa: '別の店' }), { address, key }), { status: 409, body: { code: 'idempotency_key_reused' } });
  t.is(await count(f, 'merchants', { name_ja: '再送の店' }), 1);
  const elsewhere = await publicPost(f, '/api/v1/shop-applications', application({ nameJa: '再送の店' }), { key });
  t.is(elsewhere.status, 201);
  t.not(elsewhere.body.applicationId, first.body.applicationId);
});

test('an application the transfer file could not pay is refused naming the field and the characters; nothing stored', async (t) => {
  const f = await fixture();
  // Every refused application is of this shop (unless the name itself is what is wrong).
  const nameJa = '断られる店';
  const kanji = await publicPost(f, '/api/v1/shop-applications', application({ nameJa }, { holderKana: '豆田 一郎' }));
  t.like(kanji, { status: 400, body: { code: 'request_invalid' } });
  t.like(kanji.body.errors, [{ path: 'bankAccount.holderKana', message: 'cannot be written in the transfer file: 豆 田 一 郎' }]);
  const tooLong = await publicPost(f, '/api/v1/shop-applications', application({ nameJa }, { bankNameKana: 'ア'.repeat(16) }));
  t.like(tooLong.body.errors, [{ path: 'bankAccount.bankNameKana', message: 'is longer than 15 half-width characters' }]);
  for (const [field, value] of [['accountNumber', '123456'], ['bankCode', '12a4'], ['branchCode', '1234'], ['accountType', 'checking']] as Array<[string, string]>) {
    t.like(await publicPost(f, '/api/v1/shop-applications', application({ nameJa }, { [field]: value })), { status: 400, body: { code: 'request_invalid' } }, field);
  }
  for (const [field, value] of [['category', 'casino'], ['phone', '12345'], ['email', 'not-an-address'], ['nameJa', ''], ['nameEn', 'two\nlines'], ['municipalityCode', '13999']] as Array<[string, string]>) {
    t.like(await publicPost(f, '/api/v1/shop-applications', application({ nameJa, [field]: value })), { status: 400, body: { code: 'request_invalid' } }, field);
  }
  t.like(await publicPost(f, '/api/v1/shop-applications', application({ nameJa, municipalityCode: '999999' })), { status: 400, body: { code: 'request_invalid', errors: [{ path: 'municipalityCode' }] } });
  t.like(await publicPost(f, '/api/v1/shop-applications', application({ nameJa, address: 'あ'.repeat(9000) })), { status: 413, body: { code: 'body_too_large' } });
  t.like(await publicPost(f, '/api/v1/shop-applications', application({ nameJa, extra: 'field' })), { status: 400, body: { code: 'request_invalid' } });
  t.is(await count(f, 'merchants', { name_ja: nameJa }), 0);
  t.is(await count(f, 'merchants', { name_ja: '' }), 0);
});

test(`an address applies at most ${APPLICATIONS_PER_WINDOW} times an hour; then 429 with Retry-After, and other addresses still apply`, async (t) => {
  const f = await fixture();
  const address = newAddress();
  for (let n = 0; n < APPLICATIONS_PER_WINDOW; n += 1) t.is((await publicPost(f, '/api/v1/shop-applications', application({ nameJa: `連続申請${n}` }), { address })).status, 201);
  const refused = await publicPost(f, '/api/v1/shop-applications', application({ nameJa: '上限超過' }), { address });
  t.like(refused, { status: 429, body: { code: 'shop_application_rate_limited' } });
  t.true(Number(refused.headers.get('Retry-After')) > 3000, String(refused.headers.get('Retry-After')));
  t.is(await count(f, 'merchants', { name_ja: '上限超過' }), 0);
  t.is((await publicPost(f, '/api/v1/shop-applications', application({ nameJa: '別の接続元' }))).status, 201);
});

test('the public form lists the towns that take applications', async (t) => {
  const f = await fixture();
  const reply = await fetch(`${f.base}/api/v1/shop-applications/towns`);
  t.is(reply.status, 200);
  const { towns } = await reply.json() as { towns: Array<{ code: string }> };
  t.deepEqual(towns.map((town) => town.code), [DEMO_MUNICIPALITY.code, DEMO_SECOND_MUNICIPALITY.code].sort());
});

test('the administrator approves or rejects an application with a reason, suspends with a reason and reinstates; each only from its status, audited', async (t) => {
  const f = await fixture();
  const id = await applied(f, { nameJa: '承認される店' });
  t.like(await f.city.post(`/api/v1/staff/shops/${id}/suspension`, { reason: 'まだ承認前' }), { status: 409, body: { code: 'shop_status_conflict', shopStatus: 'pending' } });
  t.like(await f.city.post(`/api/v1/staff/shops/${id}/approval`, {}), { status: 200, body: { id, status: 'approved', statusReason: null } });
  t.like(await f.city.post(`/api/v1/staff/shops/${id}/approval`, {}), { status: 409, body: { code: 'shop_status_conflict', shopStatus: 'approved' } });
  t.like(await f.city.post(`/api/v1/staff/shops/${id}/suspension`, {}), { status: 400, body: { code: 'request_invalid' } }, 'a suspension needs its reason');
  const key = randomUUID();
  const suspended = await f.city.post(`/api/v1/staff/shops/${id}/suspension`, { reason: '登録内容の確認のため' }, key);
  t.like(suspended, { status: 200, body: { status: 'suspended', statusReason: '登録内容の確認のため' } });
  t.deepEqual(await f.city.post(`/api/v1/staff/shops/${id}/suspension`, { reason: '登録内容の確認のため' }, key), suspended, 'a retry replays');
  t.like(await f.city.post(`/api/v1/staff/shops/${id}/reinstatement`, {}), { status: 200, body: { status: 'approved', statusReason: null } });
  const events = (await eventsAbout(f.db, `merchant:${id}`)).reverse();
  t.deepEqual(events.map((e) => e.action), ['shop.applied', 'shop.approved', 'shop.suspended', 'shop.reinstated']);
  t.like(events[2]!.details, { from: 'approved', to: 'suspended', reason: '登録内容の確認のため' });

  const rejectedId = await applied(f, { nameJa: '却下される店' });
  t.like(await f.city.post(`/api/v1/staff/shops/${rejectedId}/rejection`, { reason: '所在地が市外のため' }), { status: 200, body: { status: 'rejected', statusReason: '所在地が市外のため' } });
  t.like(await f.city.post(`/api/v1/staff/shops/${rejectedId}/approval`, {}), { status: 409, body: { shopStatus: 'rejected' } });
  t.like(await f.auditor.post(`/api/v1/staff/shops/${rejectedId}/reinstatement`, {}), { status: 403, body: { code: 'staff_role_forbidden' } });
  for (const path of ['approval', 'rejection', 'suspension', 'reinstatement']) {
    const body = path === 'rejection' || path === 'suspension' ? { reason: 'x' } : {};
    t.like(await f.city.post(`/api/v1/staff/shops/999999999/${path}`, body), { status: 404, body: { code: 'shop_not_found' } }, path);
  }
});

test("the administrator corrects a shop's bank account: normalised, audited by field without the account itself", async (t) => {
  const f = await fixture();
  const id = await applied(f, { nameJa: '口座変更の店' });
  const account = { ...application().bankAccount, branchCode: '456', branchNameKana: 'えきまえ', accountNumber: '7654321' };
  const changed = await f.city.put(`/api/v1/staff/shops/${id}/bank-account`, account);
  t.like(changed, { status: 200, body: { bankAccount: { branchCode: '456', branchNameKana: 'ｴｷﾏｴ', accountNumber: '7654321', holderKana: 'ﾏﾒﾀﾞ ｲﾁﾛｳ' } } });
  t.like(await f.city.put(`/api/v1/staff/shops/${id}/bank-account`, { ...account, holderKana: 'Ｍａｍｅｄａ 株式会社' }), { status: 400, body: { errors: [{ path: 'holderKana', message: 'cannot be written in the transfer file: 株 式 会 社' }] } });
  t.like(await f.auditor.put(`/api/v1/staff/shops/${id}/bank-account`, account), { status: 403 });
  const events = (await eventsAbout(f.db, `merchant:${id}`)).reverse();
  t.deepEqual(events.map((e) => e.action), ['shop.applied', 'shop.bank_account_changed'], 'the same account again changes nothing');
  t.deepEqual(events[1]!.details.fields, ['accountNumber', 'branchCode', 'branchNameKana']);
  t.false(JSON.stringify(events).includes('7654321'), 'the account number is not in the audit log');
});

// Serial (ava runs serial tests first): it suspends the seeded bakery, whose register it uses.
test.serial("a suspended shop's register stops at once: no intent, no challenge, no card session, nothing stored; reinstated, it pays again", async (t) => {
  const f = await fixture();
  const bakery = await f.db('merchants').where({ slug: 'demo-bakery' }).first('id', 'municipality_code');
  const partner = await f.db('partners').where({ slug: 'demo-card' }).first('id');
  const shop = await signInStaff(f.base, 'demo-shop');
  const register = await enrollDevice(f.base, shop, 'ベーカリーのレジ');
  const { card, mykeyId } = await firstLogin(f.pki, f.counter);
  await inLedgerTransaction(f.db, (trx) => creditConversions(trx, [{ reference: `test:${randomUUID()}`, municipalityCode: bakery.municipality_code, mykeyId, partnerId: partner.id, points: 1_000 }]));
  const intentId = (await shop.post('/api/v1/merchant/payment-intents', { amount: 300 })).body.intentId as string;
  // The clerk had the challenge before the town suspended the shop; the card signs it after.
  const challenge = await register.post('/api/v1/auth/challenges', { purpose: 'payment', paymentIntentId: intentId });
  t.is(challenge.status, 201);
  t.is((await f.city.post(`/api/v1/staff/shops/${bakery.id}/suspension`, { reason: '調査中' })).status, 200);
  t.teardown(() => f.db('merchants').where({ id: bakery.id }).update({ status: 'approved', status_reason: null }));

  const challengesBefore = await count(f, 'auth_challenges', { device_id: register.id });
  const refused: Reply[] = [
    await shop.post('/api/v1/merchant/payment-intents', { amount: 100 }),
    await register.post('/api/v1/auth/challenges', { purpose: 'payment', paymentIntentId: intentId }),
    await register.post('/api/v1/auth/card-sessions', cardProof(challenge.body, card)),
  ];
  for (const reply of refused) t.like(reply, { status: 403, body: { code: 'merchant_suspended' } });
  t.regex(refused[0]!.body.messages.ja, /停止/);
  t.regex(refused[0]!.body.messages.en, /suspended/);
  t.is(await count(f, 'auth_challenges', { device_id: register.id }), challengesBefore, 'no challenge stored');
  t.is(await count(f, 'auth_challenges', { id: challenge.body.challengeId, signed_at: null }), 1, 'the challenge is not signed');
  t.is(await count(f, 'ledger_entries', { reference: `payment:${intentId}` }), 0, 'nothing paid');
  t.is((await shop.get(`/api/v1/merchant/payment-intents/${intentId}`)).body.status, 'open');

  t.is((await f.city.post(`/api/v1/staff/shops/${bakery.id}/reinstatement`, {})).status, 200);
  const paid = await register.post('/api/v1/auth/card-sessions', cardProof(challenge.body, card));
  t.like(paid, { status: 201, body: { purpose: 'payment', amount: 300, balanceAfter: 700 } });
});

test('the migration adds what an application holds and takes it away again; a rejected application is left unable to take payments', async (t) => {
  const { db } = await testDatabase((fn) => t.teardown(fn));
  await db.seed.run();
  const bakery = await db('merchants').where({ slug: 'demo-bakery' }).first('id', 'municipality_code');
  const [rejected] = await db('merchants').insert({ municipality_code: bakery.municipality_code, slug: 'rejected-shop', name_ja: '却下', name_en: 'Rejected', status: 'rejected', category: 'other' });
  await db.migrate.down({ name: SHOP_APPLICATIONS_MIGRATION });
  t.false(await db.schema.hasColumn('merchants', 'category'), 'the schema as it was before');
  t.is((await db('merchants').where({ id: rejected }).first('status')).status, 'suspended');
  t.is((await db('merchants').where({ id: bakery.id }).first('status')).status, 'approved');
  await db.migrate.up({ name: SHOP_APPLICATIONS_MIGRATION });
  t.true(await db.schema.hasColumn('merchants', 'status_reason'));
});
