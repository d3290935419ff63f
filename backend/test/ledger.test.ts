// The ledger's operations on the real database: what each posts, the order lots are spent and
// restored in, budgets and caps, voids, replays, and concurrency. Every test has its own town
// and residents; `ledger check` runs over the whole shared database after each test.
import test, { type ExecutionContext } from 'ava';
import knex from 'knex';
import { knexConfig, retryTransient, type Db } from '../src/db.ts';
import { PATIENT_WAIT_MS } from '../src/database-admin.ts';
import { Problem, type ProblemCode } from '../src/http/problems.ts';
import { checkLedger } from '../src/ledger/check.ts';
import { LIMITS } from '../src/ledger/entries.ts';
import {
  expireAccount, grantPoints, payMerchant, refundPayment, residentPoints, voidPayment, type Posted,
} from '../src/ledger/ledger.ts';
import { fileFixture, testDatabase } from './helpers/env.ts';
import { DAY, NOW, creditConversion, ref, resident, run, town, type Town } from './helpers/ledger.ts';

const database = fileFixture(test, (cleanup) => testDatabase(cleanup));
const fixture = async () => (await database()).db;

/**
 * A pool of its own with a connection for each of `n` concurrent transactions, so they meet at
 * the database's row locks rather than queueing for the shared pool's 20 connections.
 */
/** A pool of `n` connections, as patient as the tests' own: 50 handshakes at once on a busy machine outlast a request's 5 s. */
async function poolFor(t: ExecutionContext, n: number): Promise<Db> {
  const pool = knex({ ...knexConfig((await database()).url, PATIENT_WAIT_MS), pool: { min: 0, max: n } });
  t.teardown(() => pool.destroy());
  return pool;
}

test.afterEach.always('ledger check is clean', async (t) => {
  const report = await checkLedger(await fixture());
  if (!report.ok) t.fail(`ledger check: ${JSON.stringify(report.violations)}`);
});

interface Lot { id: number; campaign_id: number | null; original_points: number; remaining_points: number; expires_at: Date }

async function accountOf(db: Db, code: string, mykeyId: string): Promise<number> {
  const row = await db('ledger_accounts as a').join('mykeys as k', 'k.id', 'a.mykey_pk').where({ 'a.municipality_code': code, 'k.mykey_id': mykeyId }).first('a.id');
  return Number(row.id);
}

async function lotsOf(db: Db, code: string, mykeyId: string): Promise<Lot[]> {
  return db('ledger_lots').where({ account_id: await accountOf(db, code, mykeyId) }).orderBy('id')
    .select('id', 'campaign_id', 'original_points', 'remaining_points', 'expires_at');
}

async function balanceOf(db: Db, accountId: number): Promise<number> {
  return Number((await db('ledger_accounts').where({ id: accountId }).first('balance')).balance);
}

async function accountByKind(db: Db, code: string, kind: string): Promise<number> {
  return Number((await db('ledger_accounts').where({ municipality_code: code, kind }).first('id')).id);
}

/** The lot movements of an entry, as lot id → amount. */
async function movementsOf(db: Db, entryId: number): Promise<Record<number, number>> {
  const rows = await db('ledger_lot_movements').where({ entry_id: entryId }).select('lot_id', 'amount');
  return Object.fromEntries(rows.map((row) => [Number(row.lot_id), Number(row.amount)]));
}

/** An entry's postings by account kind, with the sum of all of them. */
async function postingsByKind(db: Db, entryId: number): Promise<{ byKind: Record<string, number>; sum: number }> {
  const rows = await db('ledger_postings as p').join('ledger_accounts as a', 'a.id', 'p.account_id').where('p.entry_id', entryId).select('a.kind', 'p.amount');
  return { byKind: Object.fromEntries(rows.map((row) => [row.kind, Number(row.amount)])), sum: rows.reduce((s, row) => s + Number(row.amount), 0) };
}

async function refused(t: ExecutionContext, promise: Promise<unknown>, code: ProblemCode, extra: Record<string, unknown> = {}): Promise<void> {
  const error = await t.throwsAsync(promise, { instanceOf: Problem });
  t.is(error?.code, code);
  if (Object.keys(extra).length > 0) t.like(error?.extra, extra);
}

const convert = (db: Db, town: Town, mykeyId: string, points: number, options: { campaignId?: number; now?: Date; reference?: string } = {}) =>
  run(db, (trx) => creditConversion(trx, {
    reference: options.reference ?? ref('conversion'), municipalityCode: town.code, mykeyId, partnerId: town.partnerId, points,
    campaignId: options.campaignId, now: options.now ?? NOW,
  }));

const grant = (db: Db, campaignId: number, mykeyId: string, points: number, now = NOW) =>
  run(db, (trx) => grantPoints(trx, { reference: ref('grant'), campaignId, kind: 'administrative', mykeyId, points, now }));

const pay = (db: Db, town: Town, mykeyId: string, points: number, options: { now?: Date; reference?: string } = {}) =>
  run(db, (trx) => payMerchant(trx, { reference: options.reference ?? ref('payment'), merchantId: town.merchantId, mykeyId, points, now: options.now ?? NOW }));

const paymentReference = async (db: Db, payment: Posted) => (await db('ledger_entries').where({ id: payment.entryId }).first('reference')).reference as string;

test('a conversion credits the partner\'s points and the campaign\'s premium as two lots, each entry summing to zero', async (t) => {
  const db = await fixture();
  const city = await town(db);
  const alice = await resident(db);
  const credited = await convert(db, city, alice, 1_000, { campaignId: city.campaignId });
  t.like(credited, { basePoints: 1_000, premiumPoints: 200, replayed: false });
  t.deepEqual(await postingsByKind(db, credited.entryId), { byKind: { partner_clearing: -1_000, campaign_budget: -200, resident: 1_200 }, sum: 0 });
  t.like(await lotsOf(db, city.code, alice), [
    { campaign_id: null, original_points: 1_000, remaining_points: 1_000, expires_at: new Date('2027-11-22T15:00:00.000Z') },
    { campaign_id: city.campaignId, original_points: 200, remaining_points: 200, expires_at: new Date('2027-03-31T15:00:00.000Z') },
  ]);
  t.deepEqual(await residentPoints(db, city.code, alice, NOW), { balance: 1_200, spendable: 1_200 });
  t.is(await balanceOf(db, await accountByKind(db, city.code, 'campaign_budget')), 1_000_000 - 200);
  t.is(await balanceOf(db, await accountByKind(db, city.code, 'partner_clearing')), -1_000, 'what the partner owes the municipality');

  const plain = await convert(db, city, alice, 50);
  t.like(plain, { basePoints: 50, premiumPoints: 0 });
  t.deepEqual(await postingsByKind(db, plain.entryId), { byKind: { partner_clearing: -50, resident: 50 }, sum: 0 });
});

test('funding fills a campaign budget from the municipality\'s funding account, never past budget_points', async (t) => {
  const db = await fixture();
  const city = await town(db, { budgetPoints: 5_000, funded: 3_000 });
  const { fundCampaign } = await import('../src/ledger/ledger.ts');
  const fund = (points: number, reference = ref('fund')) => run(db, (trx) => fundCampaign(trx, { reference, campaignId: city.campaignId, points, now: NOW }));
  await refused(t, fund(2_001), 'campaign_funding_exceeds_budget', { unfundedPoints: 2_000 });
  const rest = await fund(2_000);
  t.deepEqual(await postingsByKind(db, rest.entryId), { byKind: { municipality_funding: -2_000, campaign_budget: 2_000 }, sum: 0 });
  t.is(await balanceOf(db, await accountByKind(db, city.code, 'campaign_budget')), 5_000);
  t.is(await balanceOf(db, await accountByKind(db, city.code, 'municipality_funding')), -5_000, 'what the municipality committed');
  await refused(t, fund(1), 'campaign_funding_exceeds_budget', { unfundedPoints: 0 });
});

test('when the budget runs out mid-request the premium is cut to what is left, never the converted points', async (t) => {
  const db = await fixture();
  const city = await town(db, { budgetPoints: 150 });
  const [alice, bob] = [await resident(db), await resident(db)];
  t.like(await convert(db, city, alice, 1_000, { campaignId: city.campaignId }), { basePoints: 1_000, premiumPoints: 150 });
  const after = await convert(db, city, bob, 1_000, { campaignId: city.campaignId });
  t.like(after, { basePoints: 1_000, premiumPoints: 0 });
  t.deepEqual(await postingsByKind(db, after.entryId), { byKind: { partner_clearing: -1_000, resident: 1_000 }, sum: 0 }, 'no zero posting from the empty budget');
  t.is(await balanceOf(db, await accountByKind(db, city.code, 'campaign_budget')), 0);
  t.deepEqual(await residentPoints(db, city.code, bob, NOW), { balance: 1_000, spendable: 1_000 });
});

test('the premium stops at the per-resident cap, and there is none outside the campaign\'s dates; a premium campaign grants nothing', async (t) => {
  const db = await fixture();
  const city = await town(db, { capPerResidentPoints: 300 });
  const alice = await resident(db);
  t.like(await convert(db, city, alice, 1_000, { campaignId: city.campaignId }), { premiumPoints: 200 });
  t.like(await convert(db, city, alice, 1_000, { campaignId: city.campaignId }), { premiumPoints: 100 });
  t.like(await convert(db, city, alice, 1_000, { campaignId: city.campaignId }), { basePoints: 1_000, premiumPoints: 0 });
  await refused(t, grant(db, city.campaignId, alice, 1), 'campaign_kind_mismatch');

  const bob = await resident(db);
  const afterEnd = new Date('2027-03-31T15:00:00.000Z'); // 2027-04-01 00:00 in Japan: the day after the campaign
  t.like(await convert(db, city, bob, 1_000, { campaignId: city.campaignId, now: afterEnd }), { basePoints: 1_000, premiumPoints: 0 });
  const lastDay = new Date('2027-03-31T14:59:59.999Z');
  t.like(await convert(db, city, bob, 1_000, { campaignId: city.campaignId, now: lastDay }), { premiumPoints: 200 });
});

test('a grant is all or nothing: refused outside the campaign, beyond the budget or the cap', async (t) => {
  const db = await fixture();
  const city = await town(db);
  const grants = await city.campaign({ kind: 'administrative', budgetPoints: 1_000, capPerResidentPoints: 600 });
  const [alice, bob] = [await resident(db), await resident(db)];
  await refused(t, grant(db, grants, alice, 100, new Date('2026-03-31T14:00:00.000Z')), 'campaign_not_running');
  const granted = await grant(db, grants, alice, 600);
  t.deepEqual(await postingsByKind(db, granted.entryId), { byKind: { campaign_budget: -600, resident: 600 }, sum: 0 });
  t.like(await lotsOf(db, city.code, alice), [{ campaign_id: grants, original_points: 600, expires_at: new Date('2027-03-31T15:00:00.000Z') }]);
  await refused(t, grant(db, grants, alice, 1), 'campaign_cap_exceeded', { remainingPoints: 0 });
  await refused(t, grant(db, grants, bob, 401), 'campaign_budget_insufficient', { availablePoints: 400 });
  t.deepEqual(await residentPoints(db, city.code, bob, NOW), { balance: 0, spendable: 0 });
});

/** Lots of five ages and expiries: the soonest-expiring are two grants of a campaign ending this year. */
async function fiveLots(db: Db, city: Town, mykeyId: string) {
  const [yearEnd, fiscalYear] = [await city.campaign({ kind: 'administrative', endsOn: '2026-12-31' }), await city.campaign({ kind: 'administrative' })];
  await grant(db, fiscalYear, mykeyId, 300); // expires 2027-03-31
  await grant(db, yearEnd, mykeyId, 100); // expires 2026-12-31
  await convert(db, city, mykeyId, 500); // expires 2027-11-22
  await convert(db, city, mykeyId, 400); // expires 2027-11-22, newer
  await grant(db, yearEnd, mykeyId, 50); // expires 2026-12-31, newer
  const [march, december, converted, convertedLater, decemberLater] = (await lotsOf(db, city.code, mykeyId)).map((lot) => lot.id) as number[];
  return { march: march!, december: december!, converted: converted!, convertedLater: convertedLater!, decemberLater: decemberLater! };
}

test('a payment spends the lots expiring soonest first, and the oldest first among lots expiring together', async (t) => {
  const db = await fixture();
  const city = await town(db);
  const alice = await resident(db);
  const lots = await fiveLots(db, city, alice);
  const first = await pay(db, city, alice, 500);
  t.deepEqual(await postingsByKind(db, first.entryId), { byKind: { resident: -500, merchant_payable: 500 }, sum: 0 });
  t.deepEqual(await movementsOf(db, first.entryId), { [lots.december]: -100, [lots.decemberLater]: -50, [lots.march]: -300, [lots.converted]: -50 });
  const second = await pay(db, city, alice, 460);
  t.deepEqual(await movementsOf(db, second.entryId), { [lots.converted]: -450, [lots.convertedLater]: -10 });
  t.deepEqual(await residentPoints(db, city.code, alice, NOW), { balance: 390, spendable: 390 });
  t.is(await balanceOf(db, await accountByKind(db, city.code, 'merchant_payable')), 960);
});

test('lots past their expiry cannot be spent; a short balance is refused with what is available', async (t) => {
  const db = await fixture();
  const city = await town(db);
  const alice = await resident(db);
  await fiveLots(db, city, alice);
  const january = new Date('2027-01-10T00:00:00.000Z');
  t.deepEqual(await residentPoints(db, city.code, alice, january), { balance: 1_350, spendable: 1_200 }, 'the December lots expired, not yet moved');
  await refused(t, pay(db, city, alice, 1_201, { now: january }), 'insufficient_points', { availablePoints: 1_200, requestedPoints: 1_201 });
  const paid = await pay(db, city, alice, 1_200, { now: january });
  t.is(Object.values(await movementsOf(db, paid.entryId)).reduce((s, n) => s + n, 0), -1_200);
  t.deepEqual(await residentPoints(db, city.code, alice, january), { balance: 150, spendable: 0 });
  t.is(await balanceOf(db, await accountOf(db, city.code, alice)), 150, 'the balance never goes below zero');
  await refused(t, pay(db, city, alice, 1, { now: january }), 'insufficient_points', { availablePoints: 0 });
  const stranger = await resident(db);
  await refused(t, pay(db, city, stranger, 1), 'insufficient_points', { availablePoints: 0 });
});

test('refunds go back into the lots the payment took, latest-expiring first, never beyond the payment less earlier refunds', async (t) => {
  const db = await fixture();
  const city = await town(db);
  const alice = await resident(db);
  const lots = await fiveLots(db, city, alice);
  const payment = await pay(db, city, alice, 500);
  const paymentRef = await paymentReference(db, payment);
  const refund = (points: number) => run(db, (trx) => refundPayment(trx, { reference: ref('refund'), paymentReference: paymentRef, points, now: NOW }));

  const first = await refund(120);
  t.deepEqual(await postingsByKind(db, first.entryId), { byKind: { merchant_payable: -120, resident: 120 }, sum: 0 });
  t.deepEqual(await movementsOf(db, first.entryId), { [lots.converted]: 50, [lots.march]: 70 });
  await refused(t, refund(381), 'refund_exceeds_payment', { refundablePoints: 380 });
  const rest = await refund(380);
  t.deepEqual(await movementsOf(db, rest.entryId), { [lots.march]: 230, [lots.decemberLater]: 50, [lots.december]: 100 });
  t.true((await lotsOf(db, city.code, alice)).every((lot) => lot.remaining_points === lot.original_points), 'every lot is whole again');
  await refused(t, refund(1), 'refund_exceeds_payment', { refundablePoints: 0 });
  t.is(await balanceOf(db, await accountByKind(db, city.code, 'merchant_payable')), 0);
  await refused(t, run(db, (trx) => refundPayment(trx, { reference: ref('refund'), paymentReference: 'no-such-payment', points: 1 })), 'payment_not_found');
  const conversionRef = (await db('ledger_entries').where({ kind: 'conversion', municipality_code: city.code }).first('reference')).reference;
  await refused(t, run(db, (trx) => refundPayment(trx, { reference: ref('refund'), paymentReference: conversionRef, points: 1 })), 'payment_not_found');
});

test('a refund into a lot that has since expired refills it, and the next expiry run moves it to expired', async (t) => {
  const db = await fixture();
  const city = await town(db);
  const november = await city.campaign({ kind: 'administrative', endsOn: '2026-11-30' });
  const alice = await resident(db);
  await grant(db, november, alice, 100);
  const payment = await pay(db, city, alice, 80);
  const december = new Date('2026-12-05T00:00:00.000Z');
  const account = await accountOf(db, city.code, alice);
  t.deepEqual(await run(db, (trx) => expireAccount(trx, account, december)), { entries: 1, points: 20 });
  const refunded = await run(db, async (trx) => refundPayment(trx, { reference: ref('refund'), paymentReference: await paymentReference(db, payment), points: 30, now: december }));
  t.false(refunded.replayed);
  t.deepEqual(await residentPoints(db, city.code, alice, december), { balance: 30, spendable: 0 });
  t.deepEqual(await run(db, (trx) => expireAccount(trx, account, december)), { entries: 1, points: 30 });
  t.deepEqual(await run(db, (trx) => expireAccount(trx, account, december)), { entries: 0, points: 0 });
  t.deepEqual(await residentPoints(db, city.code, alice, december), { balance: 0, spendable: 0 });
  t.is(await balanceOf(db, await accountByKind(db, city.code, 'expired')), 50);
});

test('a void returns the whole payment on the day it was made (Japan time), and only if nothing was refunded', async (t) => {
  const db = await fixture();
  const city = await town(db);
  const alice = await resident(db);
  await convert(db, city, alice, 1_000);
  const voidIt = async (payment: Posted, now: Date) => run(db, async (trx) => voidPayment(trx, { reference: ref('void'), paymentReference: await paymentReference(db, payment), now }));

  const sameDay = await pay(db, city, alice, 300);
  const voided = await voidIt(sameDay, new Date('2026-11-22T14:59:59.999Z'));
  t.deepEqual(await postingsByKind(db, voided.entryId), { byKind: { merchant_payable: -300, resident: 300 }, sum: 0 });
  await refused(t, voidIt(sameDay, NOW), 'payment_already_reversed');
  await refused(t, run(db, async (trx) => refundPayment(trx, { reference: ref('refund'), paymentReference: await paymentReference(db, sameDay), points: 1, now: NOW })),
    'refund_exceeds_payment', { refundablePoints: 0 });

  const nextDay = await pay(db, city, alice, 200);
  await refused(t, voidIt(nextDay, new Date('2026-11-22T15:00:00.000Z')), 'void_window_closed');

  const refundedFirst = await pay(db, city, alice, 100);
  await run(db, async (trx) => refundPayment(trx, { reference: ref('refund'), paymentReference: await paymentReference(db, refundedFirst), points: 10, now: NOW }));
  await refused(t, voidIt(refundedFirst, NOW), 'payment_already_reversed');
  t.deepEqual(await residentPoints(db, city.code, alice, NOW), { balance: 1_000 - 200 - 90, spendable: 710 });
});

test('a reference posts once: a retry answers the first posting, another request under it is refused', async (t) => {
  const db = await fixture();
  const city = await town(db);
  const alice = await resident(db);
  const reference = ref('conversion');
  const first = await convert(db, city, alice, 1_000, { campaignId: city.campaignId, reference });
  const again = await convert(db, city, alice, 1_000, { campaignId: city.campaignId, reference, now: new Date(NOW.getTime() + DAY * 365) });
  t.deepEqual(again, { ...first, replayed: true, postings: again.postings });
  const amounts = (posted: Posted) => posted.postings.map((p) => p.amount).sort((a, b) => a - b);
  t.deepEqual(amounts(again), amounts(first));
  await refused(t, convert(db, city, alice, 999, { campaignId: city.campaignId, reference }), 'ledger_reference_reused', { reference });
  await refused(t, pay(db, city, alice, 10, { reference }), 'ledger_reference_reused');
  t.is((await db('ledger_entries').where({ reference }).count({ n: '*' }))[0]!.n, 1);

  const payment = ref('payment');
  const paid = await pay(db, city, alice, 1_200, { reference: payment });
  // Retried when the balance would no longer cover it: still the first answer, not a refusal.
  t.like(await pay(db, city, alice, 1_200, { reference: payment }), { entryId: paid.entryId, replayed: true });
  t.deepEqual(await residentPoints(db, city.code, alice, NOW), { balance: 0, spendable: 0 });
});

for (const isolation of ['read committed', 'repeatable read'] as const) {
  const inTransaction = <T>(db: Db, work: Parameters<typeof run<T>>[1]) => retryTransient(() => db.transaction(work, { isolationLevel: isolation }));

  test(`the same payment posted 20 times at once posts once (${isolation})`, async (t) => {
    const db = await fixture();
    const city = await town(db);
    const alice = await resident(db);
    await convert(db, city, alice, 100);
    const reference = ref('payment');
    const pool = await poolFor(t, 20);
    const results = await Promise.all(Array.from({ length: 20 }, () =>
      inTransaction(pool, (trx) => payMerchant(trx, { reference, merchantId: city.merchantId, mykeyId: alice, points: 100, now: NOW }))));
    t.is(new Set(results.map((r) => r.entryId)).size, 1);
    t.is(results.filter((r) => !r.replayed).length, 1);
    t.deepEqual(await residentPoints(db, city.code, alice, NOW), { balance: 0, spendable: 0 });
  });

  test(`20 conversions at once for a resident and a partner new to the ledger create each account once and credit every one (${isolation})`, async (t) => {
    const db = await fixture();
    const city = await town(db);
    const alice = await resident(db);
    const pool = await poolFor(t, 20);
    const results = await Promise.all(Array.from({ length: 20 }, (_, i) => inTransaction(pool, (trx) => creditConversion(trx, {
      reference: ref('conversion'), municipalityCode: city.code, mykeyId: alice, partnerId: city.partnerId, points: 100 + i, campaignId: city.campaignId, now: NOW,
    }))));
    t.is(new Set(results.map((r) => r.entryId)).size, 20);
    const accounts = await db('ledger_accounts').where({ municipality_code: city.code }).whereIn('kind', ['resident', 'partner_clearing']).select('kind');
    t.deepEqual(accounts.map((a) => a.kind).sort(), ['partner_clearing', 'resident']);
    const credited = results.reduce((sum, r) => sum + r.basePoints + r.premiumPoints, 0);
    t.is(credited, 2_190 + 430, '100 to 119 points, each with 20 % rounded down');
    t.deepEqual(await residentPoints(db, city.code, alice, NOW), { balance: credited, spendable: credited });
  });

  test(`50 payments at once against a balance for 17 of them: exactly 17 succeed, the balance never below zero (${isolation})`, async (t) => {
    const db = await fixture();
    const city = await town(db);
    const alice = await resident(db);
    await convert(db, city, alice, 1_000);
    await grant(db, await city.campaign({ kind: 'administrative' }), alice, 700);
    const pool = await poolFor(t, 50);
    const outcomes = await Promise.allSettled(Array.from({ length: 50 }, () =>
      inTransaction(pool, (trx) => payMerchant(trx, { reference: ref('payment'), merchantId: city.merchantId, mykeyId: alice, points: 100, now: NOW }))));
    const succeeded = outcomes.filter((o) => o.status === 'fulfilled');
    const failures = outcomes.flatMap((o) => (o.status === 'rejected' ? [o.reason] : []));
    const reasons = [...new Set(failures.map(String))].join('; ');
    t.is(succeeded.length, 17, reasons);
    t.true(failures.every((e) => e instanceof Problem && e.code === 'insufficient_points'), reasons);
    t.deepEqual(await residentPoints(db, city.code, alice, NOW), { balance: 0, spendable: 0 });
    t.is(await balanceOf(db, await accountByKind(db, city.code, 'merchant_payable')), 1_700);
  });
}

test('bad input is refused with a clear code before anything is stored', async (t) => {
  const db = await fixture();
  const city = await town(db);
  const other = await town(db);
  const alice = await resident(db);
  const entriesBefore = (await db('ledger_entries').where({ municipality_code: city.code }).count({ n: '*' }))[0]!.n;
  for (const points of [0, -5, 1.5, Number.NaN, LIMITS.maxResidentPoints + 1, 2 ** 60]) {
    await refused(t, convert(db, city, alice, points), 'points_out_of_range', { maxPoints: LIMITS.maxResidentPoints });
    await refused(t, pay(db, city, alice, points), 'points_out_of_range');
  }
  await refused(t, convert(db, city, 'NOSUCHID', 100), 'mykey_not_found');
  await refused(t, convert(db, { ...city, partnerId: 999_999_999 }, alice, 100), 'partner_not_found');
  await refused(t, convert(db, { ...city, code: '000000' }, alice, 100), 'municipality_not_found');
  await refused(t, convert(db, city, alice, 100, { campaignId: other.campaignId }), 'campaign_not_found');
  await refused(t, pay(db, { ...city, merchantId: 999_999_999 }, alice, 100), 'merchant_not_found');
  await refused(t, grant(db, 999_999_999, alice, 100), 'campaign_not_found');
  t.is((await db('ledger_entries').where({ municipality_code: city.code }).count({ n: '*' }))[0]!.n, entriesBefore);
});

test('the database itself refuses to rewrite history, to let a resident go negative, or to overfill a lot', async (t) => {
  const db = await fixture();
  const city = await town(db);
  const alice = await resident(db);
  const { entryId } = await convert(db, city, alice, 100);
  const lot = (await lotsOf(db, city.code, alice))[0]!;
  const account = await accountOf(db, city.code, alice);
  const appendOnly = (table: string) => ({ sqlState: '45000', sqlMessage: new RegExp(`^${table} is append-only`) });
  const matches = (error: unknown, expected: { sqlState: string; sqlMessage: RegExp }) => {
    const e = error as { sqlState?: string; sqlMessage?: string };
    t.is(e.sqlState, expected.sqlState);
    t.regex(e.sqlMessage ?? '', expected.sqlMessage);
  };
  matches(await t.throwsAsync(db('ledger_entries').where({ id: entryId }).update({ kind: 'grant' })), appendOnly('ledger_entries'));
  matches(await t.throwsAsync(db('ledger_entries').where({ id: entryId }).delete()), appendOnly('ledger_entries'));
  matches(await t.throwsAsync(db('ledger_postings').where({ entry_id: entryId }).update({ amount: 1 })), appendOnly('ledger_postings'));
  matches(await t.throwsAsync(db('ledger_postings').where({ entry_id: entryId }).delete()), appendOnly('ledger_postings'));
  matches(await t.throwsAsync(db('ledger_lot_movements').where({ entry_id: entryId }).update({ amount: 1 })), appendOnly('ledger_lot_movements'));
  matches(await t.throwsAsync(db('ledger_accounts').where({ id: account }).update({ kind: 'expired' })), { sqlState: '45000', sqlMessage: /only the balance/ });
  matches(await t.throwsAsync(db('ledger_accounts').where({ id: account }).delete()), { sqlState: '45000', sqlMessage: /cannot be deleted/ });
  matches(await t.throwsAsync(db('ledger_lots').where({ id: lot.id }).update({ expires_at: new Date('2099-01-01') })), { sqlState: '45000', sqlMessage: /only the remaining points/ });
  const check = { sqlState: '23000', sqlMessage: /CONSTRAINT .*(never_negative|remaining_in_range)/ };
  matches(await t.throwsAsync(db('ledger_accounts').where({ id: account }).update({ balance: -1 })), check);
  matches(await t.throwsAsync(db('ledger_lots').where({ id: lot.id }).update({ remaining_points: 101 })), check);
  matches(await t.throwsAsync(db('ledger_lots').where({ id: lot.id }).update({ remaining_points: -1 })), check);
  await t.throwsAsync(db('ledger_entries').insert({ municipality_code: city.code, kind: 'payment', reference: (await db('ledger_entries').where({ id: entryId }).first('reference')).reference,
    request_hash: Buffer.alloc(32), posted_at: NOW }), { code: 'ER_DUP_ENTRY' });
  await t.throwsAsync(db('ledger_accounts').insert({ municipality_code: city.code, kind: 'resident', mykey_pk: null }), { message: /CONSTRAINT .*owner_matches_kind/ });
  t.is(await balanceOf(db, account), 100);
});
