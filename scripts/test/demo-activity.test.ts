// The demo towns' activity (scripts/lib/demo/activity.ts): made on a freshly seeded
// database by the platform's own operations, it holds what its plan says, keeps the ledger's
// invariants, fills the figures, settlement and expiry screens, and a second run adds nothing.
import test from 'ava';
import { fileFixture, silentLog, testDatabase } from '@mykey/backend/test/helpers/env.ts';
import type { Db } from '@mykey/backend/db.ts';
import { mykeySecret } from '@mykey/backend/config.ts';
import { checkLedger } from '@mykey/backend/ledger/check.ts';
import { listCampaigns } from '@mykey/backend/campaigns/service.ts';
import { expiringFigures, expiringPeriod, scopeFigures } from '@mykey/backend/campaign-figures/service.ts';
import { closedPeriodDetail, closedPeriods, periodOf } from '@mykey/backend/settlement/periods.ts';
import { transferFileOf } from '@mykey/backend/settlement/transfer.ts';
import { staffRepository } from '@mykey/backend/staff/repository.ts';
import { createCa } from '@mykey/dev-tools/dev-ca/index.ts';
import { DEMO_TOWN_PLANS, makeDemoActivity, planTown, type StepKind } from '../lib/demo/activity.ts';

/** The first run: 2026-12-06 at noon in Japan. */
const NOW = new Date('2026-12-06T03:00:00.000Z');
const ANCHOR = '2026-12-06';

const fixture = fileFixture(test, async (cleanup) => {
  const { db } = await testDatabase(cleanup);
  await db.seed.run();
  // A development CA of the test's own, valid at every moment the demo uses.
  const ca = await createCa({ notBefore: new Date('2026-01-01T00:00:00.000Z') });
  return { db, deps: { db, secret: mykeySecret({ NODE_ENV: 'test' }), ca, anchors: [ca.certificate], log: silentLog } };
});

/** The first run, once for the file: each test reads what it made. */
let firstRun: Promise<Awaited<ReturnType<typeof makeDemoActivity>>> | undefined;
const madeOnce = async () => {
  const { deps } = await fixture();
  return firstRun ??= makeDemoActivity({ ...deps, now: NOW });
};

const count = async (query: Promise<Array<Record<string, unknown>>>) => Number((await query)[0]!.n);

/** What the database holds of a town's activity, counted in its tables. */
async function townCounts(db: Db, code: string) {
  const paid = () => db('payment_intents as pi').join('merchants as m', 'm.id', 'pi.merchant_id').where({ 'm.municipality_code': code, 'pi.status': 'paid' });
  const reversals = (kind: string) => db('payment_reversals as r').join('payment_intents as pi', 'pi.id', 'r.intent_id').join('merchants as m', 'm.id', 'pi.merchant_id')
    .where({ 'm.municipality_code': code, 'r.kind': kind }).count({ n: '*' });
  return {
    issue: await count(db('mykeys').where({ home_municipality_code: code }).count({ n: '*' })),
    conversion: await count(db('conversion_requests').where({ municipality_code: code, state: 'credited' }).count({ n: '*' })),
    grant: await count(db('grant_records').where({ municipality_code: code }).whereNull('event_id').count({ n: '*' })),
    attend: await count(db('grant_records').where({ municipality_code: code }).whereNotNull('event_id').count({ n: '*' })),
    payment: await count(paid().count({ n: '*' })),
    refund: await count(reversals('refund')),
    void: await count(reversals('void')),
    close: await count(db('settlement_periods').where({ municipality_code: code }).count({ n: '*' })),
    expiry: await count(db('ledger_entries').where({ municipality_code: code, kind: 'expiry' }).count({ n: '*' })),
    shopsPaid: (await paid().distinct('pi.merchant_id')).length,
  };
}

/** Everything a run could add, in the whole database. */
async function tableSizes(db: Db) {
  const tables = ['mykeys', 'ledger_entries', 'ledger_lots', 'audit_events', 'payment_intents', 'payment_reversals', 'conversion_requests', 'grant_records',
    'staff_accounts', 'staff_invitations', 'devices', 'campaigns', 'events', 'settlement_periods'];
  return Object.fromEntries(await Promise.all(tables.map(async (table) => [table, await count(db(table).count({ n: '*' }))])));
}

const planned = (steps: ReturnType<typeof planTown>, kind: StepKind) => steps.filter((step) => step.kind === kind).length;

test.serial('the demo towns get sixty days of activity as planned, and a second run on a later day adds nothing', async (t) => {
  const { db, deps } = await fixture();
  const first = await madeOnce();
  for (const [n, plan] of DEMO_TOWN_PLANS.entries()) {
    const steps = planTown(plan, ANCHOR);
    const found = await townCounts(db, plan.code);
    t.is(first[n]!.anchor, ANCHOR);
    t.like(found, {
      issue: plan.residents, conversion: planned(steps, 'conversion'), grant: planned(steps, 'grant') + planned(steps, 'limited_grant'),
      attend: planned(steps, 'attend'), payment: planned(steps, 'payment'), refund: planned(steps, 'refund'), void: planned(steps, 'void'), close: 1,
      shopsPaid: plan.shops.length,
    }, plan.code);
    t.true(found.expiry > 0, `${plan.code}: points expired`);
    const issuedFirst = (await db('mykeys').where({ home_municipality_code: plan.code }).min({ first: 'created_at' }))[0]!.first;
    t.deepEqual(issuedFirst, steps.find((step) => step.kind === 'issue')!.at, `${plan.code}: MyKey IDs are issued at the first visit, not at the run`);
    // Believable, not token: every kind of activity, in numbers a chart shows.
    t.true(found.conversion >= 10 && found.payment >= 40 && found.refund >= 2 && found.void >= 1 && found.attend >= 3, `${plan.code}: ${JSON.stringify(found)}`);
    t.deepEqual(first[n]!.made, { ...first[n]!.planned, expiry: found.expiry }, `${plan.code}: the first run made the whole plan`);
  }
  const sizes = await tableSizes(db);
  const report = await checkLedger(db);
  t.true(report.ok, JSON.stringify(report.violations.slice(0, 5)));

  // A week later: the plan is dated from the first run, so everything is found in place.
  const second = await makeDemoActivity({ ...deps, now: new Date(NOW.getTime() + 7 * 86_400_000) });
  for (const town of second) {
    t.is(town.anchor, ANCHOR);
    t.deepEqual(Object.values(town.made).filter((made) => made > 0), [], `${town.code}: nothing made again`);
  }
  t.deepEqual(await tableSizes(db), sizes);
});

test.serial('the screens have something to show: the campaign figures, the points about to expire, the closed period and its transfer file', async (t) => {
  const { db } = await fixture();
  await madeOnce();
  const staff = await staffRepository.staffById(db, (await staffRepository.findByLogin(db, 'demo-city'))!.id);
  const limited = (await listCampaigns(db, staff, NOW)).campaigns.find((c) => c.nameJa === DEMO_TOWN_PLANS[0]!.limited.nameJa)!;
  t.is(limited.status, 'ended');
  t.true(limited.returnedPoints > 0, 'what was left of its budget went back at its end');
  const figures = await scopeFigures(db, staff, { campaignId: limited.id }, {}, NOW);
  for (const figure of ['issued', 'redeemed', 'expired'] as const) {
    t.true(figures.days.some((day) => day[figure] > 0), `some day has ${figure} points`);
  }
  t.is(figures.residentsReached, DEMO_TOWN_PLANS[0]!.residents);
  t.true(figures.topShops.length === DEMO_TOWN_PLANS[0]!.shops.length);

  const expiring = await expiringFigures(db, staff, expiringPeriod(undefined, NOW), NOW);
  t.true(expiring.lineCount > 0 && expiring.months.length > 0, 'the last grants of the limited campaign expire next month');

  const [period] = await closedPeriods(db, staff.municipalityCode);
  t.like(period, { from: '2026-11-01', to: '2026-11-30', payOn: '2026-12-10' });
  t.is(period!.transfers.count, DEMO_TOWN_PLANS[0]!.shops.length, 'every shop is paid');
  const row = await periodOf(db, staff.municipalityCode, period!.id);
  const detail = await closedPeriodDetail(db, row);
  t.true(detail.statement.partners.length > 0, 'the partner owes the town for its conversions');
  const file = await transferFileOf(db, row);
  // Header, a record per shop, trailer and end: 120 bytes each, with or without CRLF.
  const records = file.length % 122 === 0 ? file.length / 122 : file.length / 120;
  t.is(records, 3 + DEMO_TOWN_PLANS[0]!.shops.length);
  t.is(String.fromCharCode(file[0]!), '1');
});
