// `ledger check` finds tampering: as a test-only privileged step the triggers (or a CHECK
// constraint) are dropped and a posting, a cached balance or a lot is changed behind the
// ledger's back; the check must name the entry, account or lot with what it expected and found.
import test, { type ExecutionContext } from 'ava';
import { execFile } from 'node:child_process';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Db } from '../src/db.ts';
import { checkLedger } from '../src/ledger/check.ts';
import { payMerchant, refundPayment } from '../src/ledger/ledger.ts';
import { testDatabase } from './helpers/env.ts';
import { NOW, creditConversion, ref, resident, run, town } from './helpers/ledger.ts';

const repoRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');

/**
 * A small ledger in a database of its own: a conversion of 1,000 with a 200 premium, a payment
 * of 500 and a refund of 100. Answers the ids tampering aims at.
 */
async function ledger(t: ExecutionContext) {
  const { db, url } = await testDatabase((fn) => t.teardown(fn));
  const city = await town(db);
  const alice = await resident(db);
  await run(db, (trx) => creditConversion(trx, { reference: ref('c'), municipalityCode: city.code, mykeyId: alice, partnerId: city.partnerId, points: 1_000, campaignId: city.campaignId, now: NOW }));
  const paymentReference = ref('p');
  const payment = await run(db, (trx) => payMerchant(trx, { reference: paymentReference, merchantId: city.merchantId, mykeyId: alice, points: 500, now: NOW }));
  await run(db, (trx) => refundPayment(trx, { reference: ref('r'), paymentReference, points: 100, now: NOW }));
  const account = async (kind: string) => Number((await db('ledger_accounts').where({ municipality_code: city.code, kind }).first('id')).id);
  const resident_ = await account('resident');
  const lots = await db('ledger_lots').where({ account_id: resident_ }).orderBy('id').select('id');
  return { db, url, payment: payment.entryId, resident: resident_, merchant: await account('merchant_payable'), baseLot: Number(lots[0]!.id) };
}

async function dropTrigger(db: Db, ...names: string[]): Promise<void> {
  for (const name of names) await db.raw(`DROP TRIGGER IF EXISTS ${name}`);
}

interface CliRun { status: number; stdout: string; stderr: string }

function ledgerCli(databaseUrl: string, ...args: string[]): Promise<CliRun> {
  return new Promise((resolve) => {
    execFile(process.execPath, ['--import', 'tsx', 'scripts/ledger.ts', ...args],
      { cwd: repoRoot, env: { PATH: process.env.PATH, DATABASE_URL: databaseUrl }, timeout: 60_000 },
      (error, stdout, stderr) => resolve({ status: error ? Number(error.code) : 0, stdout, stderr }));
  });
}

test('an untouched ledger is clean: every entry balances, balances equal postings, lots equal balances', async (t) => {
  const { db } = await ledger(t);
  t.deepEqual(await checkLedger(db), { ok: true, checked: { entries: 4, postings: 9, accounts: 5, lots: 2 }, violations: [], unlisted: {} });
});

test('a changed posting is named: its entry no longer balances, its account no longer matches', async (t) => {
  const { db, payment, merchant } = await ledger(t);
  await dropTrigger(db, 'ledger_postings_refuse_update');
  await db('ledger_postings').where({ entry_id: payment, account_id: merchant }).update({ amount: 530 });
  const report = await checkLedger(db);
  t.false(report.ok);
  t.deepEqual(report.violations, [
    { invariant: 'entry_balances', entryId: payment, expected: 0, found: 30 },
    { invariant: 'balance_equals_postings', accountId: merchant, expected: 430, found: 400 },
  ]);
});

test('a changed cached balance is named against its postings and its lots', async (t) => {
  const { db, resident } = await ledger(t);
  await db('ledger_accounts').where({ id: resident }).update({ balance: 807 });
  t.deepEqual((await checkLedger(db)).violations, [
    { invariant: 'balance_equals_postings', accountId: resident, expected: 800, found: 807 },
    { invariant: 'lots_equal_balance', accountId: resident, expected: 807, found: 800 },
  ]);
});

test('a changed lot is named against the balance and its own movements', async (t) => {
  const { db, resident, baseLot } = await ledger(t);
  const before = Number((await db('ledger_lots').where({ id: baseLot }).first('remaining_points')).remaining_points);
  await db('ledger_lots').where({ id: baseLot }).update({ remaining_points: before - 5 });
  t.deepEqual((await checkLedger(db)).violations, [
    { invariant: 'lots_equal_balance', accountId: resident, expected: 800, found: 795 },
    { invariant: 'lot_remaining_equals_movements', accountId: resident, lotId: baseLot, expected: before, found: before - 5 },
  ]);
});

test('a deleted lot movement and a negative resident balance are named', async (t) => {
  const { db, resident, payment, baseLot } = await ledger(t);
  await dropTrigger(db, 'ledger_lot_movements_refuse_delete');
  const taken = Number((await db('ledger_lot_movements').where({ entry_id: payment, lot_id: baseLot }).first('amount')).amount);
  await db('ledger_lot_movements').where({ entry_id: payment, lot_id: baseLot }).delete();
  const before = Number((await db('ledger_lots').where({ id: baseLot }).first('remaining_points')).remaining_points);
  t.deepEqual((await checkLedger(db)).violations, [
    { invariant: 'lot_remaining_equals_movements', accountId: resident, lotId: baseLot, expected: before - taken, found: before },
    { invariant: 'lot_movements_equal_posting', entryId: payment, accountId: resident, expected: -500, found: -500 - taken },
  ]);

  const { db: other, resident: otherResident } = await ledger(t);
  await other.raw('ALTER TABLE ledger_accounts DROP CONSTRAINT ledger_accounts_never_negative');
  await other('ledger_accounts').where({ id: otherResident }).update({ balance: -10 });
  t.like((await checkLedger(other)).violations, [
    { invariant: 'balance_equals_postings', accountId: otherResident, expected: 800, found: -10 },
    { invariant: 'balance_not_negative', accountId: otherResident, expected: 0, found: -10 },
    { invariant: 'lots_equal_balance', accountId: otherResident, expected: -10, found: 800 },
  ]);
});

test("points a campaign paid for, spent at a shop the campaign does not name, are named with the shop", async (t) => {
  const { db, payment, merchant } = await ledger(t);
  const [taken] = await db('ledger_lot_movements as m').join('ledger_lots as l', 'l.id', 'm.lot_id').where('m.entry_id', payment).whereNotNull('l.campaign_id')
    .select('m.lot_id', 'l.campaign_id');
  t.truthy(taken, 'the payment took premium points');
  // The campaign narrowed to no shop behind the ledger's back: the payment was not its to make.
  await db('campaigns').where({ id: taken.campaign_id }).update({ all_merchants: false });
  const merchantId = Number((await db('ledger_accounts').where({ id: merchant }).first('merchant_id')).merchant_id);
  t.deepEqual((await checkLedger(db)).violations, [
    { invariant: 'lot_spent_where_its_campaign_pays', entryId: payment, accountId: merchant, lotId: Number(taken.lot_id), expected: `a shop of campaign ${taken.campaign_id}`, found: `merchant ${merchantId}` },
  ]);
  const { municipality_code } = await db('campaigns').where({ id: taken.campaign_id }).first('municipality_code');
  await db('campaign_merchants').insert({ campaign_id: taken.campaign_id, merchant_id: merchantId, municipality_code });
  t.true((await checkLedger(db)).ok, 'naming the shop makes it right');
});

test('beyond the listing limit, violations are counted per invariant', async (t) => {
  const { db } = await ledger(t);
  await db('ledger_accounts').update({ balance: db.raw('balance + 1') });
  const report = await checkLedger(db, 2);
  t.is(report.violations.filter((v) => v.invariant === 'balance_equals_postings').length, 2);
  t.deepEqual(report.unlisted, { balance_equals_postings: 5 });
});

test('npm run ledger -- check as a child process: exit 0 and ok when clean, 1 naming each violation, 2 on bad usage or no database', async (t) => {
  const { db, url, resident } = await ledger(t);
  const clean = await ledgerCli(url, 'check');
  t.is(clean.status, 0, clean.stderr);
  t.like(JSON.parse(clean.stdout), { ok: true, violations: [] });
  t.is(clean.stdout.trim().split('\n').length, 1, 'one JSON object on stdout');

  await db('ledger_accounts').where({ id: resident }).update({ balance: 900 });
  const broken = await ledgerCli(url, 'check');
  t.is(broken.status, 1, broken.stderr);
  t.deepEqual(JSON.parse(broken.stdout).violations, [
    { invariant: 'balance_equals_postings', accountId: resident, expected: 800, found: 900 },
    { invariant: 'lots_equal_balance', accountId: resident, expected: 900, found: 800 },
  ]);

  const usage = await ledgerCli(url, 'check', 'extra');
  t.is(usage.status, 2);
  t.regex(usage.stderr, /usage: npm run ledger -- check/);
  const unknown = await ledgerCli(url, 'balance');
  t.is(unknown.status, 2);
  t.regex(unknown.stderr, /unknown command: balance/);
  const down = await ledgerCli('mysql://mykey:mykey@127.0.0.1:1/nothing', 'check');
  t.is(down.status, 2);
  t.is(down.stdout, '');
  t.regex(down.stderr, /could not read the ledger/);
});
