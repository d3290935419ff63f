import test from 'ava';
import { fileFixture, testDatabase } from './helpers/env.ts';
import {
  DEMO_CAMPAIGN, DEMO_EVENT_CAMPAIGN, DEMO_GRANT_CAMPAIGN, DEMO_MERCHANTS, DEMO_MUNICIPALITY, DEMO_STAFF,
  DEMO_SECOND_CAMPAIGN, DEMO_SECOND_EVENT_CAMPAIGN, DEMO_SECOND_GRANT_CAMPAIGN, DEMO_SECOND_MERCHANTS, DEMO_SECOND_MUNICIPALITY, DEMO_SECOND_STAFF,
} from '@mykey/dev-tools/demo-towns.ts';
import { staffRepository } from '../src/staff/repository.ts';

const DEMO_MARK_MIGRATION = '20261205050000_staff_demo_accounts.ts';

const fixture = fileFixture(test, async (cleanup) => (await testDatabase(cleanup)).db);

const TABLES = ['municipalities', 'merchants', 'partners', 'partner_agreements', 'campaigns', 'staff_accounts'];

const TOWNS = [
  { municipality: DEMO_MUNICIPALITY, merchants: DEMO_MERCHANTS, campaigns: [DEMO_CAMPAIGN, DEMO_GRANT_CAMPAIGN, DEMO_EVENT_CAMPAIGN], staff: DEMO_STAFF },
  { municipality: DEMO_SECOND_MUNICIPALITY, merchants: DEMO_SECOND_MERCHANTS, campaigns: [DEMO_SECOND_CAMPAIGN, DEMO_SECOND_GRANT_CAMPAIGN, DEMO_SECOND_EVENT_CAMPAIGN], staff: DEMO_SECOND_STAFF },
];

async function counts(db: Awaited<ReturnType<typeof fixture>>) {
  const result: Record<string, number> = {};
  for (const table of TABLES) result[table] = Number((await db(table).count({ n: '*' }))[0]!.n);
  return result;
}

/** The check digit of a 全国地方公共団体コード: weights 6..2 on the five digits, 11 minus the sum mod 11, its last digit. */
function checkDigit(five: string): number {
  const sum = [...five].reduce((total, digit, i) => total + Number(digit) * (6 - i), 0);
  return (11 - (sum % 11)) % 10;
}

// Galera replicates InnoDB rows by primary key: a table without one is refused on the cluster
// (wsrep_mode=REQUIRED_PRIMARY_KEY, docs/operations.md#cluster), another engine not replicated.
test('after the migrations every table has a primary key and is InnoDB, as Galera needs', async (t) => {
  const db = await fixture();
  const [tables] = await db.raw(`SELECT t.TABLE_NAME AS name, t.ENGINE AS engine,
      EXISTS (SELECT 1 FROM information_schema.TABLE_CONSTRAINTS c WHERE c.TABLE_SCHEMA = t.TABLE_SCHEMA
        AND c.TABLE_NAME = t.TABLE_NAME AND c.CONSTRAINT_TYPE = 'PRIMARY KEY') AS keyed
    FROM information_schema.TABLES t WHERE t.TABLE_SCHEMA = DATABASE() AND t.TABLE_TYPE = 'BASE TABLE'`);
  const rows = tables as Array<{ name: string; engine: string; keyed: number }>;
  t.true(rows.length > 50, 'the migrated schema');
  t.deepEqual(rows.filter((row) => !row.keyed).map((row) => row.name), [], 'tables without a primary key');
  t.deepEqual(rows.filter((row) => row.engine !== 'InnoDB').map((row) => `${row.name} (${row.engine})`), [], 'tables not InnoDB');
});

test('the check digit agrees with real codes', (t) => {
  // 東京都千代田区 131016, 北海道札幌市 011002, 大阪府大阪市 271004.
  for (const code of ['131016', '011002', '271004']) t.is(checkDigit(code.slice(0, 5)), Number(code[5]), code);
});

test('seeding twice, or three times, leaves exactly two demo towns', async (t) => {
  const db = await fixture();
  await db.seed.run();
  const first = await counts(db);
  t.deepEqual(first, {
    municipalities: 2, merchants: DEMO_MERCHANTS.length + DEMO_SECOND_MERCHANTS.length, partners: 1, partner_agreements: 2, campaigns: 6,
    staff_accounts: DEMO_STAFF.length + DEMO_SECOND_STAFF.length,
  });
  const passwordBefore = await db('staff_accounts').where({ login_id: 'demo-shop' }).first('password_hash');
  for (const town of TOWNS) {
    const rows = await db('campaigns').whereIn('slug', town.campaigns.map((c) => c.slug)).select('slug', 'kind', 'status', 'municipality_code');
    t.deepEqual(rows.map((row) => ({ ...row })).sort((a, b) => a.slug.localeCompare(b.slug)),
      town.campaigns.map((c) => ({ slug: c.slug, kind: c.kind, status: 'running', municipality_code: town.municipality.code })).sort((a, b) => a.slug.localeCompare(b.slug)),
      'each town runs a premium, a grant and an event campaign');
  }
  // The second town paused its premium campaign: seeding again leaves it paused.
  await db('campaigns').where({ slug: DEMO_SECOND_CAMPAIGN.slug }).update({ status: 'paused' });
  await db.seed.run();
  await db.seed.run();
  t.deepEqual(await counts(db), first);
  const passwordAfter = await db('staff_accounts').where({ login_id: 'demo-shop' }).first('password_hash');
  t.is(passwordAfter.password_hash, passwordBefore.password_hash, 'a re-seed does not reset a password');
  t.is((await db('campaigns').where({ slug: DEMO_SECOND_CAMPAIGN.slug }).first('status')).status, 'paused', 'a re-seed does not restart a campaign the town paused');
  for (const town of TOWNS) {
    const { code } = town.municipality;
    t.is(checkDigit(code.slice(0, 5)), Number(code[5]), `${code} carries its check digit`);
    t.like(await db('municipalities').where({ code }).first(), town.municipality);
    const shops = await db('merchants').where({ municipality_code: code, status: 'approved' }).pluck('slug');
    t.deepEqual(shops.sort(), town.merchants.map((m) => m.slug).sort());
    for (const row of town.campaigns) {
      const campaign = await db('campaigns').where({ slug: row.slug }).first('id');
      const budget = await db('ledger_accounts').where({ municipality_code: code, kind: 'campaign_budget', campaign_id: campaign.id }).first('balance');
      t.is(Number(budget.balance), row.budget_points, `${row.slug}'s budget is funded once, however often the seed runs`);
    }
    // Each town's staff belong to it: the clerk to one of its shops, the municipal staff to the town.
    for (const staff of town.staff) {
      const row = await db('staff_accounts as s').leftJoin('merchants as m', 'm.id', 's.merchant_id')
        .where('s.login_id', staff.login_id).first(db.raw('COALESCE(m.municipality_code, s.municipality_code) AS town'), 's.organization_kind', 's.roles');
      t.deepEqual({ ...row }, { town: code, organization_kind: staff.organization_kind, roles: staff.roles }, staff.login_id);
    }
  }
});

test('the demo staff accounts carry the demo mark, which production refuses to start with; others do not', async (t) => {
  const { db } = await testDatabase((fn) => t.teardown(fn));
  await db.seed.run();
  await db('staff_accounts').insert({ login_id: `real-${Date.now()}`, display_name: '職員', organization_kind: 'municipality', roles: 'administrator,operator', municipality_code: DEMO_MUNICIPALITY.code, password_hash: 'x' });
  const marked = await db('staff_accounts').where({ demo: true }).orderBy('login_id').pluck('login_id');
  t.deepEqual(marked, [...DEMO_STAFF, ...DEMO_SECOND_STAFF].map((s) => s.login_id).sort());
  t.deepEqual(await staffRepository.demoLogins(db), marked);
});

// The second town came after the mark, so only the first town's accounts can predate it.
test('the migration that brought the mark marks the demo accounts seeded before it', async (t) => {
  const { db } = await testDatabase((fn) => t.teardown(fn));
  await db.seed.run();
  await db.migrate.down({ name: DEMO_MARK_MIGRATION });
  t.false((await db.schema.hasColumn('staff_accounts', 'demo')), 'the schema as it was before');
  await db.migrate.up({ name: DEMO_MARK_MIGRATION });
  const marked = await db('staff_accounts').where({ demo: true }).pluck('login_id');
  // The demo accounts there were then; demo-auditor came with roles.
  t.deepEqual(marked.filter((login) => DEMO_STAFF.some((s) => s.login_id === login)).sort(), ['demo-city', 'demo-shop']);
});
