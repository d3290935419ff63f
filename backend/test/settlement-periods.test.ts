// Settlement periods the municipality closes: what a closed period owes each shop is fixed when
// it closes, a refund or void after closing falls into the next period (even one posted with a
// time inside the closed period), the periods follow one another without gaps or overlaps;
// per closed period a shop's statement, the partner invoices and the Zengin transfer file,
// whose every field is read here by position from the format, independently of the writer.
import test from 'ava';
import { createHash } from 'node:crypto';
import { DEMO_PAYER, DEMO_SECOND_PAYER } from '@mykey/dev-tools/demo-towns.ts';
import { zenginText } from '@mykey/contracts/zengin.ts';
import { eventsAbout } from '../src/audit/chain.ts';
import type { Db } from '../src/db.ts';
import { payoutsOf } from '../src/settlement/periods.ts';
import type { Statement } from '../src/settlement/statement.ts';
import { fileFixture, testDatabase } from './helpers/env.ts';
import { signInStaff } from './helpers/identity.ts';
import { workedExample } from './helpers/settlement.ts';
import { startApp } from './helpers/server.ts';
import { demoPasswordHash } from './helpers/staff.ts';

const fixture = fileFixture(test, async (cleanup) => {
  const { db } = await testDatabase(cleanup);
  return { db, base: await startApp(cleanup, db) };
});

// Sign-ins take turns: several municipal staff confirming their TOTP enrolment at the same
// moment got internal_error from the staff feature (seen here; reported, not this file's subject).
let signIns: Promise<unknown> = Promise.resolve();
function signIn(base: string, login: string): ReturnType<typeof signInStaff> {
  const next = signIns.then(() => signInStaff(base, login));
  signIns = next.catch(() => undefined);
  return next;
}

async function account(db: Db, login: string, organization: { municipality_code: string; roles: string } | { merchant_id: number; roles: string }) {
  await db('staff_accounts').insert({
    login_id: login, display_name: login, organization_kind: 'municipality_code' in organization ? 'municipality' : 'merchant',
    password_hash: await demoPasswordHash(), municipality_code: null, merchant_id: null, ...organization,
  });
}

/** A town of the test's own with docs/settlement.md's worked example, and staff of each kind. */
async function townWithNovember() {
  const { db, base } = await fixture();
  const { city, ids, r1, first, pay, refund, voidAt } = await workedExample(db);
  const logins = { admin: `admin-${city.code}`, operator: `operator-${city.code}`, owner: `owner-${city.code}`, ownerA: `owner-a-${city.code}` };
  await account(db, logins.admin, { municipality_code: city.code, roles: 'administrator' });
  await account(db, logins.operator, { municipality_code: city.code, roles: 'operator' });
  await account(db, logins.owner, { merchant_id: ids.shopB, roles: 'owner' });
  await account(db, logins.ownerA, { merchant_id: ids.shopA, roles: 'owner' });
  return {
    db, base, city, ids, r1, first, pay, refund, voidAt,
    admin: await signIn(base, logins.admin), operator: await signIn(base, logins.operator),
    owner: await signIn(base, logins.owner), ownerA: await signIn(base, logins.ownerA),
  };
}

const NOVEMBER = { from: '2026-11-01', to: '2026-11-30', payOn: '2026-12-10' };
const figure = (count: number, points: number) => ({ count, points });

test('closing November fixes what it owes each shop; a refund and a void after closing go into the next period, even posted inside November', async (t) => {
  const { db, city, ids, r1, first, pay, refund, voidAt, admin } = await townWithNovember();
  const closed = await admin.post('/api/v1/staff/settlement-periods', NOVEMBER);
  t.is(closed.status, 201, JSON.stringify(closed.body));
  const id = closed.body.period.id as number;
  t.like(closed.body.period, { from: '2026-11-01', to: '2026-11-30', payOn: '2026-12-10', closedBy: `admin-${city.code}`, transfers: figure(2, 1_400) });
  const onTheFly = (await admin.get('/api/v1/staff/settlements?from=2026-11-01&to=2026-11-30')).body;
  t.deepEqual(closed.body.statement, onTheFly, 'the closed statement is November\'s');
  t.deepEqual(closed.body.payouts, [
    { merchantId: ids.shopA, netPoints: 700, carriedPoints: 0, transferPoints: 700 },
    { merchantId: ids.shopB, netPoints: 700, carriedPoints: 0, transferPoints: 700 },
  ]);

  // After closing: a refund in December, a refund posted with a time inside November (a late
  // entry), and a payment voided inside November.
  await refund(first, 100, '2026-12-01T10:00:00.000');
  await refund(first, 100, '2026-11-25T09:00:00.000');
  await voidAt(await pay(ids.shopA, r1, 50, '2026-11-29T10:00:00.000'), '2026-11-29T10:30:00.000');

  const again = (await admin.get(`/api/v1/staff/settlement-periods/${id}`)).body;
  t.deepEqual(again, closed.body, 'November, closed, has not moved');

  const december = await admin.post('/api/v1/staff/settlement-periods', { from: '2026-12-01', to: '2026-12-01', payOn: '2026-12-10' });
  t.is(december.status, 201, JSON.stringify(december.body));
  t.like(december.body.statement.merchants, [
    { id: ids.shopA, payments: figure(1, 50), refunds: figure(3, 400), voids: figure(1, 50), netPoints: -400 },
    { id: ids.shopB, payments: figure(1, 100), netPoints: 100 },
  ]);
  t.deepEqual(december.body.payouts, [
    { merchantId: ids.shopA, netPoints: -400, carriedPoints: 0, transferPoints: 0 },
    { merchantId: ids.shopB, netPoints: 100, carriedPoints: 0, transferPoints: 100 },
  ]);
  t.deepEqual((await admin.get('/api/v1/staff/settlement-periods')).body.periods.map((p: { id: number }) => p.id), [december.body.period.id, id], 'latest first');
  // Recorded once: no entry is in both periods.
  const twice = await db('settlement_period_entries').whereIn('period_id', [id, december.body.period.id]).groupBy('entry_id').havingRaw('COUNT(*) > 1').select('entry_id');
  t.deepEqual(twice, []);
});

test('what a shop still owes carries into the next period until its payments cover it', (t) => {
  const statement = (nets: Array<[number, number]>) => ({ merchants: nets.map(([id, netPoints]) => ({ id, netPoints })) }) as unknown as Statement;
  t.deepEqual(payoutsOf(statement([[1, 500]]), [{ merchantId: 1, netPoints: -300, carriedPoints: 0, transferPoints: 0 }]),
    [{ merchantId: 1, netPoints: 500, carriedPoints: -300, transferPoints: 200 }]);
  t.deepEqual(payoutsOf(statement([]), [{ merchantId: 2, netPoints: 100, carriedPoints: -400, transferPoints: 0 }]),
    [{ merchantId: 2, netPoints: 0, carriedPoints: -300, transferPoints: 0 }], 'a shop with nothing new still carries its debt');
  t.deepEqual(payoutsOf(statement([[3, 100]]), [{ merchantId: 3, netPoints: 900, carriedPoints: 0, transferPoints: 900 }]),
    [{ merchantId: 3, netPoints: 100, carriedPoints: 0, transferPoints: 100 }], 'what was paid does not carry');
});

test('periods follow one another: gaps, overlaps, unfinished periods and bad payment dates are refused; a retry replays; a closed period cannot be changed', async (t) => {
  const { db, city, admin, operator } = await townWithNovember();
  const close = (body: Record<string, string>, key?: string) => admin.post('/api/v1/staff/settlement-periods', body, key);
  t.is((await close({ ...NOVEMBER, payOn: '2026-11-30' })).body.code, 'settlement_pay_date_invalid');
  t.is((await close({ ...NOVEMBER, from: '2026-11-30', to: '2026-11-01' })).body.code, 'settlement_period_invalid');
  t.is((await close({ from: '2026-11-01', to: '2999-01-01', payOn: '2999-01-02' })).body.code, 'settlement_period_invalid');
  t.is((await close({ from: '2998-12-01', to: '2999-01-01', payOn: '2999-01-02' })).body.code, 'settlement_period_not_over');
  t.is((await operator.post('/api/v1/staff/settlement-periods', NOVEMBER)).body.code, 'staff_role_forbidden');
  const key = `close-${city.code}-november`;
  const first = await close(NOVEMBER, key);
  t.is(first.status, 201);
  t.deepEqual(await close(NOVEMBER, key), first, 'the same key answers the same');
  const overlap = await close(NOVEMBER);
  t.is(overlap.status, 409);
  t.like(overlap.body, { code: 'settlement_period_not_next', nextFrom: '2026-12-01' });
  t.is((await close({ from: '2026-12-02', to: '2026-12-03', payOn: '2026-12-10' })).body.code, 'settlement_period_not_next', 'a gap');
  t.is((await admin.get('/api/v1/staff/settlement-periods')).body.periods.length, 1);
  await t.throwsAsync(db('settlement_periods').where({ id: first.body.period.id }).update({ ends_on: '2026-11-29' }), { message: /cannot be changed/ });
  await t.throwsAsync(db('settlement_period_payouts').where({ period_id: first.body.period.id }).delete(), { message: /cannot be deleted/ });
  const [audit] = (await eventsAbout(db, `settlement:municipality:${city.code}`)).filter((e) => e.action === 'settlement.period_closed');
  t.like(audit, { actor: { kind: 'staff' }, details: { periodId: first.body.period.id, from: '2026-11-01', to: '2026-11-30', payOn: '2026-12-10', transfers: figure(2, 1_400) } });
});

test('two administrators closing at once: one period is closed, the other is told where the next one starts', async (t) => {
  const { db, city, admin } = await townWithNovember();
  const other = await signIn((await fixture()).base, `admin-${city.code}`);
  const answers = await Promise.all([admin.post('/api/v1/staff/settlement-periods', NOVEMBER), other.post('/api/v1/staff/settlement-periods', { ...NOVEMBER, to: '2026-11-15' })]);
  t.deepEqual(answers.map((a) => a.status).sort(), [201, 409], JSON.stringify(answers.map((a) => a.body)));
  t.like(answers.find((a) => a.status === 409)!.body, { code: 'settlement_period_not_next' });
  const [row] = await db('settlement_periods').where({ municipality_code: city.code }).count({ n: '*' });
  t.is(Number(row!.n), 1);
});

test('partner invoices: what each partner owes for its conversions in the period, premiums not included; JSON and CSV', async (t) => {
  const { base, city, ids, admin } = await townWithNovember();
  const id = (await admin.post('/api/v1/staff/settlement-periods', NOVEMBER)).body.period.id;
  const json = await admin.get(`/api/v1/staff/settlement-periods/${id}/partner-invoices`);
  t.is(json.status, 200);
  t.deepEqual(json.body.invoices.map((i: { partner: { id: number }; conversions: unknown; amountYen: number }) => [i.partner.id, i.conversions, i.amountYen]),
    [[ids.partnerA, figure(1, 5_000), 5_000], [ids.partnerB, figure(1, 2_000), 2_000]], 'the 1,000 premium on partner A\'s conversion is the campaign\'s, not A\'s');
  t.is(json.body.totalYen, 7_000);
  const response = await fetch(`${base}/api/v1/staff/settlement-periods/${id}/partner-invoices?format=csv`, { headers: { cookie: admin.cookie } });
  t.is(response.headers.get('content-disposition'), `attachment; filename="partner-invoices-${city.code}-2026-11-01-2026-11-30.csv"`);
  const rows = (await response.text()).replace(/^\uFEFF/, '').split('\r\n');
  t.is(rows[0], 'municipality_code,period_from,period_to,partner_id,partner_slug,partner_name_ja,partner_name_en,conversions,converted_points,amount_yen');
  t.regex(rows[2]!, new RegExp(`^${city.code},2026-11-01,2026-11-30,${ids.partnerB},partner-[0-9a-f]+,みらい航空,Mirai Air,1,2000,2000$`));
  t.is(rows[3], `${city.code},2026-11-01,2026-11-30,,,合計,Total,2,7000,7000`);
});

test("a shop's statement per closed period: staff download any shop's, the owner sees its own closed periods only", async (t) => {
  const { base, ids, admin, owner, ownerA } = await townWithNovember();
  const id = (await admin.post('/api/v1/staff/settlement-periods', NOVEMBER)).body.period.id;
  const staffView = await admin.get(`/api/v1/staff/settlement-periods/${id}/merchants/${ids.shopB}`);
  t.like(staffView.body, { line: { id: ids.shopB, payments: figure(1, 700), netPoints: 700 }, payout: { transferPoints: 700 } });
  const file = await fetch(`${base}/api/v1/staff/settlement-periods/${id}/merchants/${ids.shopA}?format=csv`, { headers: { cookie: admin.cookie } });
  const rows = (await file.text()).split('\r\n');
  t.is(rows.length, 4, 'header, the shop, the total and the last line end');
  t.true(rows[1]!.endsWith(',2,1500,1,300,1,500,700'));
  t.is((await admin.get(`/api/v1/staff/settlement-periods/${id}/merchants/999999999`)).body.code, 'merchant_not_found');

  const own = await owner.get('/api/v1/merchant/settlement-periods');
  t.is(own.status, 200);
  t.like(own.body.periods, [{ period: { id, from: '2026-11-01', to: '2026-11-30', payOn: '2026-12-10' }, line: { id: ids.shopB, netPoints: 700 }, payout: { transferPoints: 700 } }]);
  t.like((await owner.get(`/api/v1/merchant/settlement-periods/${id}`)).body, { line: { id: ids.shopB } });
  const csv = await fetch(`${base}/api/v1/merchant/settlement-periods/${id}?format=csv`, { headers: { cookie: owner.cookie } });
  t.false((await csv.text()).includes(',Shop,'), "shop A's line is not in B's file");
  t.is((await ownerA.get(`/api/v1/merchant/settlement-periods/${id + 1000}`)).body.code, 'settlement_period_not_found');
  t.is((await owner.get(`/api/v1/staff/settlement-periods/${id}`)).body.code, 'staff_role_forbidden');
});

// --- the Zengin transfer file -----------------------------------------------------------------

test("the demo towns' payers are written as the file writes them", (t) => {
  for (const payer of [DEMO_PAYER, DEMO_SECOND_PAYER]) {
    for (const [name, max] of [[payer.requester_name_kana, 40], [payer.bank_name_kana, 15], [payer.branch_name_kana, 15]] as const) {
      t.deepEqual(zenginText(name, max), { ok: true, value: name });
    }
  }
});

const PAYER = {
  requesterCode: '1234567890', requesterName: 'ミライシ　カイケイカ', bankCode: '0001', bankName: 'ミライギンコウ', branchCode: '101', branchName: 'ホンテン',
  accountType: 'ordinary', accountNumber: '7654321',
};

/** The format, field by field: 1-based first byte, length, and what it must hold. Written from the 全銀協 layout, not from the writer's. */
type Expected = Array<[start: number, length: number, value: string]>;

function fields(t: import('ava').ExecutionContext, record: Buffer, expected: Expected, what: string) {
  t.is(record.length, 120, `${what} is 120 bytes`);
  let next = 1;
  for (const [start, length, value] of expected) {
    t.is(start, next, `${what}: the fields leave no byte unread`);
    t.is(new TextDecoder('shift_jis').decode(record.subarray(start - 1, start - 1 + length)), value, `${what} bytes ${start}–${start + length - 1}`);
    next = start + length;
  }
  t.is(next, 121, `${what}: the fields cover the record`);
}

const left = (text: string, length: number) => text.padEnd(length, ' ');
const right = (digits: string | number, length: number) => String(digits).padStart(length, '0');

test('the transfer file: header, a record per shop paid, trailer and end, every field where the format puts it, in Shift_JIS with CRLF', async (t) => {
  const { db, base, city, ids, admin } = await townWithNovember();
  t.is((await admin.put('/api/v1/staff/settlement-payer', { ...PAYER, requesterName: '未来市' })).body.code, 'settlement_payer_invalid');
  const payer = await admin.put('/api/v1/staff/settlement-payer', PAYER);
  t.is(payer.status, 200, JSON.stringify(payer.body));
  t.like(payer.body.payer, { requesterNameKana: 'ﾐﾗｲｼ ｶｲｹｲｶ', bankNameKana: 'ﾐﾗｲｷﾞﾝｺｳ' });
  await db('merchants').where({ id: ids.shopA }).update({ bank_code: '0005', bank_name_kana: 'ｱｵﾊﾞｼﾝｷﾝ', branch_code: '023', branch_name_kana: 'ｴｷﾏｴ', account_type: 'current', account_number: '0000123', account_holder_kana: 'ﾐﾗｲﾍﾞｰｶﾘｰ' });
  await db('merchants').where({ id: ids.shopB }).update({ bank_code: '0009', bank_name_kana: 'ﾐﾂｲｽﾐﾄﾓ', branch_code: '456', branch_name_kana: 'ﾅｶﾏﾁ', account_type: 'ordinary', account_number: '1234567', account_holder_kana: 'ｶ)ｴｷﾏｴｾｲｶ' });
  const id = (await admin.post('/api/v1/staff/settlement-periods', NOVEMBER)).body.period.id as number;

  const response = await fetch(`${base}/api/v1/staff/settlement-periods/${id}/transfer-file`, { headers: { cookie: admin.cookie } });
  t.is(response.status, 200);
  t.regex(response.headers.get('content-type') ?? '', /^text\/plain; charset=shift_jis/);
  const bytes = Buffer.from(await response.arrayBuffer());
  t.is(bytes.length, 4 * 122 + 122, 'five records of 120 bytes, each with CRLF');
  const records = Array.from({ length: bytes.length / 122 }, (_, i) => {
    t.deepEqual([...bytes.subarray(i * 122 + 120, i * 122 + 122)], [0x0d, 0x0a], `record ${i + 1} ends with CRLF`);
    return bytes.subarray(i * 122, i * 122 + 120);
  });
  fields(t, records[0]!, [
    [1, 1, '1'], [2, 2, '21'], [4, 1, '0'], [5, 10, '1234567890'], [15, 40, left('ﾐﾗｲｼ ｶｲｹｲｶ', 40)], [55, 4, '1210'],
    [59, 4, '0001'], [63, 15, left('ﾐﾗｲｷﾞﾝｺｳ', 15)], [78, 3, '101'], [81, 15, left('ﾎﾝﾃﾝ', 15)], [96, 1, '1'], [97, 7, '7654321'], [104, 17, left('', 17)],
  ], 'header');
  const data = (bank: string, bankName: string, branch: string, branchName: string, type: string, account: string, holder: string, amount: number, shop: number): Expected => [
    [1, 1, '2'], [2, 4, bank], [6, 15, left(bankName, 15)], [21, 3, branch], [24, 15, left(branchName, 15)], [39, 4, '0000'], [43, 1, type], [44, 7, account],
    [51, 30, left(holder, 30)], [81, 10, right(amount, 10)], [91, 1, '0'], [92, 10, right(shop, 10)], [102, 10, right(id, 10)], [112, 1, '7'], [113, 1, ' '], [114, 7, left('', 7)],
  ];
  fields(t, records[1]!, data('0005', 'ｱｵﾊﾞｼﾝｷﾝ', '023', 'ｴｷﾏｴ', '2', '0000123', 'ﾐﾗｲﾍﾞ-ｶﾘ-', 700, ids.shopA), 'data for shop A');
  fields(t, records[2]!, data('0009', 'ﾐﾂｲｽﾐﾄﾓ', '456', 'ﾅｶﾏﾁ', '1', '1234567', 'ｶ)ｴｷﾏｴｾｲｶ', 700, ids.shopB), 'data for shop B');
  fields(t, records[3]!, [[1, 1, '8'], [2, 6, '000002'], [8, 12, right(1_400, 12)], [20, 101, left('', 101)]], 'trailer');
  fields(t, records[4]!, [[1, 1, '9'], [2, 119, left('', 119)]], 'end');
  t.true(records.every((r) => [...r].every((b) => b >= 0x20 && b <= 0xdf && b !== 0x7f)), 'one byte a character: ASCII and half-width katakana only');
  const downloads = (await eventsAbout(db, `settlement:municipality:${city.code}`)).filter((e) => e.action === 'settlement.downloaded');
  t.like(downloads.at(-1)?.details, { kind: 'transfer-file', sha256: createHash('sha256').update(bytes).digest('hex') }, 'the download names the file it handed out');
});

test('the transfer file refuses, naming each shop, when a name cannot be written in half-width katakana or a shop has no account; and without a payer', async (t) => {
  const { db, ids, admin } = await townWithNovember();
  const id = (await admin.post('/api/v1/staff/settlement-periods', NOVEMBER)).body.period.id as number;
  const file = () => admin.get(`/api/v1/staff/settlement-periods/${id}/transfer-file`);
  t.is((await file()).body.code, 'settlement_payer_missing');
  t.is((await admin.put('/api/v1/staff/settlement-payer', PAYER)).status, 200);
  // Shop A's holder is written in kanji (the form of an older release took it); shop B gave no account.
  await db('merchants').where({ id: ids.shopA }).update({ bank_code: '0005', bank_name_kana: 'ｱｵﾊﾞｼﾝｷﾝ', branch_code: '023', branch_name_kana: 'ｴｷﾏｴ', account_type: 'ordinary', account_number: '0000123', account_holder_kana: '山田ﾀﾛｳ' });
  const refused = await file();
  t.is(refused.status, 409);
  t.is(refused.body.code, 'settlement_transfer_unwritable');
  t.deepEqual(refused.body.shops, [
    { id: ids.shopA, name: { ja: '店', en: 'Shop' }, reason: 'name_not_writable', fields: [{ field: 'holder', reason: 'invalid_characters', invalid: ['山', '田'] }] },
    { id: ids.shopB, name: { ja: '駅前, 青果店', en: 'Greengrocer' }, reason: 'no_bank_account', fields: [] },
  ]);
  t.regex(refused.body.detail, /店 \(\d+\): holder invalid_characters 山田; 駅前, 青果店 \(\d+\): no bank account/);
});
