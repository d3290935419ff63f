import test from 'ava';
import { fileFixture, testDatabase } from './helpers/env.ts';
import { DEMO_CAMPAIGN, DEMO_MERCHANTS, DEMO_MUNICIPALITY, DEMO_STAFF } from '../../seeds/01_demo_town.ts';

const fixture = fileFixture(test, async (cleanup) => (await testDatabase(cleanup)).db);

const TABLES = ['municipalities', 'merchants', 'partners', 'partner_agreements', 'campaigns', 'staff_accounts'];

async function counts(db: Awaited<ReturnType<typeof fixture>>) {
  const result: Record<string, number> = {};
  for (const table of TABLES) result[table] = Number((await db(table).count({ n: '*' }))[0]!.n);
  return result;
}

test('seeding twice, or three times, leaves exactly one demo town', async (t) => {
  const db = await fixture();
  await db.seed.run();
  const first = await counts(db);
  t.deepEqual(first, { municipalities: 1, merchants: DEMO_MERCHANTS.length, partners: 1, partner_agreements: 1, campaigns: 1, staff_accounts: DEMO_STAFF.length });
  const passwordBefore = await db('staff_accounts').where({ login_id: 'demo-shop' }).first('password_hash');
  await db.seed.run();
  await db.seed.run();
  t.deepEqual(await counts(db), first);
  const passwordAfter = await db('staff_accounts').where({ login_id: 'demo-shop' }).first('password_hash');
  t.is(passwordAfter.password_hash, passwordBefore.password_hash, 'a re-seed does not reset a password');
  const town = await db('municipalities').first();
  t.like(town, DEMO_MUNICIPALITY);
  const shops = await db('merchants').where({ municipality_code: DEMO_MUNICIPALITY.code, status: 'approved' }).count({ n: '*' });
  t.is(Number(shops[0]!.n), DEMO_MERCHANTS.length);
  const budget = await db('ledger_accounts').where({ municipality_code: DEMO_MUNICIPALITY.code, kind: 'campaign_budget' }).first('balance');
  t.is(Number(budget.balance), DEMO_CAMPAIGN.budget_points, 'the campaign budget is funded once, however often the seed runs');
});
