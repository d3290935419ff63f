// Settlement statements from known ledger entries: what the city owes each shop (payments less
// refunds and voids), what each partner owes the city (converted points), the campaigns' own
// cost, all cut at midnight Japan time; as JSON, as CSV files, on the command line, and for a
// shop's staff, their own shop only.
import test from 'ava';
import { execFile } from 'node:child_process';
import { eventsAbout, type RecordedEvent } from '../src/audit/chain.ts';
import type { Db } from '../src/db.ts';
import { checkLedger } from '../src/ledger/check.ts';
import { DEMO_PASSWORD } from '@mykey/dev-tools/demo-towns.ts';
import { fileFixture, testDatabase } from './helpers/env.ts';
import { signInStaff } from './helpers/identity.ts';
import { workedExample } from './helpers/settlement.ts';
import { startApp } from './helpers/server.ts';
import { demoPasswordHash } from './helpers/staff.ts';

async function staffAccount(db: Db, login: string, organization: { municipality_code: string } | { merchant_id: number }) {
  await db('staff_accounts').insert({
    login_id: login, display_name: login, ...('municipality_code' in organization ? { organization_kind: 'municipality', roles: 'administrator' } : { organization_kind: 'merchant', roles: 'owner' }),
    password_hash: await demoPasswordHash(), municipality_code: null, merchant_id: null, ...organization,
  });
}

const fixture = fileFixture(test, async (cleanup) => {
  const { db, url } = await testDatabase(cleanup);
  const { city, ids } = await workedExample(db);

  await staffAccount(db, `city-${city.code}`, { municipality_code: city.code });
  await staffAccount(db, `shop-b-${city.code}`, { merchant_id: ids.shopB });
  const base = await startApp(cleanup, db);
  return {
    db, url, city, ids, base,
    staff: await signInStaff(base, `city-${city.code}`),
    shopStaff: await signInStaff(base, `shop-b-${city.code}`),
  };
});

const figure = (count: number, points: number) => ({ count, points });

test('November: payments less refunds and voids per shop, converted points per partner, premiums and grants per campaign', async (t) => {
  const { base, ids, city, staff } = await fixture();
  const { status, body } = await staff.get('/api/v1/staff/settlements?from=2026-11-01&to=2026-11-30');
  t.is(status, 200, JSON.stringify(body));
  t.deepEqual(body.period, { from: '2026-11-01', to: '2026-11-30', timeZone: 'Asia/Tokyo', startsAt: '2026-10-31T15:00:00.000Z', endsBefore: '2026-11-30T15:00:00.000Z' });
  t.is(body.municipality.code, city.code);
  t.deepEqual(body.merchants.map((m: { id: number }) => m.id), [ids.shopA, ids.shopB]);
  t.like(body.merchants[0], { payments: figure(2, 1_500), refunds: figure(1, 300), voids: figure(1, 500), netPoints: 700 });
  t.like(body.merchants[1], { name: { ja: '駅前, 青果店' }, payments: figure(1, 700), refunds: figure(0, 0), voids: figure(0, 0), netPoints: 700 });
  t.deepEqual(body.merchantTotals, { payments: figure(3, 2_200), refunds: figure(1, 300), voids: figure(1, 500), netPoints: 1_400 });
  t.deepEqual(body.partners.map((p: { id: number; conversions: unknown }) => [p.id, p.conversions]), [[ids.partnerA, figure(1, 5_000)], [ids.partnerB, figure(1, 2_000)]]);
  t.deepEqual(body.partnerTotals, { conversions: figure(2, 7_000) });
  t.like(body.campaigns, [{ id: ids.campaign, premiums: figure(1, 1_000), grants: figure(1, 300), totalPoints: 1_300 }]);
  t.truthy(base);
  const report = await checkLedger((await fixture()).db);
  t.true(report.ok, JSON.stringify(report.violations.slice(0, 5)));
});

test('the period is cut at midnight Japan time: October and December hold what November does not', async (t) => {
  const { staff, ids } = await fixture();
  const october = (await staff.get('/api/v1/staff/settlements?from=2026-10-01&to=2026-10-31')).body;
  t.deepEqual(october.merchants, []);
  t.deepEqual(october.partnerTotals, { conversions: figure(1, 1_000) });
  t.like(october.campaigns, [{ premiums: figure(1, 200), grants: figure(0, 0) }]);
  const december = (await staff.get('/api/v1/staff/settlements?from=2026-12-01&to=2026-12-01')).body;
  t.like(december.merchants, [{ id: ids.shopA, payments: figure(0, 0), refunds: figure(1, 200), netPoints: -200 }, { id: ids.shopB, payments: figure(1, 100), netPoints: 100 }]);
  const lastDay = (await staff.get('/api/v1/staff/settlements?from=2026-11-30&to=2026-11-30')).body;
  t.like(lastDay.merchantTotals, { payments: figure(1, 700) });
  const firstDay = (await staff.get('/api/v1/staff/settlements?from=2026-11-01&to=2026-11-01')).body;
  t.like(firstDay.partnerTotals, { conversions: figure(1, 5_000) });
});

test('the CSV files: a BOM, the documented columns, one row per shop or partner and a totals row', async (t) => {
  const { base, staff, ids, city } = await fixture();
  const get = async (kind: string) => {
    const response = await fetch(`${base}/api/v1/staff/settlements?from=2026-11-01&to=2026-11-30&format=csv&kind=${kind}`, { headers: { cookie: staff.cookie } });
    return { type: response.headers.get('content-type'), disposition: response.headers.get('content-disposition'), bytes: Buffer.from(await response.arrayBuffer()) };
  };
  const merchants = await get('merchants');
  t.regex(merchants.type ?? '', /^text\/csv; charset=utf-8/);
  t.is(merchants.disposition, `attachment; filename="settlement-merchants-${city.code}-2026-11-01-2026-11-30.csv"`);
  t.deepEqual([...merchants.bytes.subarray(0, 3)], [0xef, 0xbb, 0xbf]);
  const period = `${city.code},2026-11-01,2026-11-30`;
  const rows = merchants.bytes.toString('utf8').slice(1).split('\r\n');
  t.is(rows[0], 'municipality_code,period_from,period_to,merchant_id,merchant_slug,merchant_name_ja,merchant_name_en,payments,payment_points,refunds,refund_points,voids,void_points,net_points');
  t.regex(rows[1]!, new RegExp(`^${period},${ids.shopA},shop-[0-9a-f]+,店,Shop,2,1500,1,300,1,500,700$`));
  t.regex(rows[2]!, new RegExp(`^${period},${ids.shopB},shop-[0-9a-f]+,"駅前, 青果店",Greengrocer,1,700,0,0,0,0,700$`));
  t.is(rows[3], `${period},,,合計,Total,3,2200,1,300,1,500,1400`);
  t.is(rows[4], '', 'every row ends with CRLF');
  const partners = (await get('partners')).bytes.toString('utf8').slice(1).split('\r\n');
  t.is(partners[0], 'municipality_code,period_from,period_to,partner_id,partner_slug,partner_name_ja,partner_name_en,conversions,converted_points');
  t.regex(partners[2]!, new RegExp(`^${period},${ids.partnerB},partner-[0-9a-f]+,みらい航空,Mirai Air,1,2000$`));
  t.is(partners[3], `${period},,,合計,Total,2,7000`);
  const campaigns = (await get('campaigns')).bytes.toString('utf8').slice(1).split('\r\n');
  t.is(campaigns[2], `${period},,,合計,Total,1,1000,1,300,1300`);
  t.is((await staff.get('/api/v1/staff/settlements?from=2026-11-01&to=2026-11-30&format=csv&kind=shops')).body.code, 'request_invalid');
});

test("a shop's staff see their own shop's statement only, and not the city's", async (t) => {
  const { shopStaff, ids } = await fixture();
  const own = await shopStaff.get('/api/v1/merchant/settlement?from=2026-11-01&to=2026-11-30');
  t.is(own.status, 200);
  t.deepEqual(own.body.merchants.map((m: { id: number }) => m.id), [ids.shopB]);
  t.like(own.body.merchants[0], { payments: figure(1, 700), netPoints: 700 });
  t.deepEqual([own.body.partners, own.body.campaigns], [[], []]);
  // A month with nothing at the shop still has its line, at zero.
  t.like((await shopStaff.get('/api/v1/merchant/settlement?from=2026-10-01&to=2026-10-31')).body.merchants, [{ id: ids.shopB, netPoints: 0 }]);
  t.is((await shopStaff.get('/api/v1/staff/settlements?from=2026-11-01&to=2026-11-30')).body.code, 'staff_role_forbidden');
});

test('every view and download of a statement by staff is audited before it is answered: who, whose, which period and file', async (t) => {
  const { db, base, staff, shopStaff, city, ids } = await fixture();
  // A period of this test's own: the file's other tests read statements at the same time.
  const query = 'from=2026-09-01&to=2026-09-30';
  t.is((await staff.get(`/api/v1/staff/settlements?${query}`)).status, 200);
  t.is((await fetch(`${base}/api/v1/staff/settlements?${query}&format=csv&kind=partners`, { headers: { cookie: staff.cookie } })).status, 200);
  t.is((await staff.get(`/api/v1/staff/settlements?${query}&format=csv&kind=shops`)).body.code, 'request_invalid');
  t.is((await fetch(`${base}/api/v1/merchant/settlement?${query}&format=csv`, { headers: { cookie: shopStaff.cookie } })).status, 200);
  const accounts = new Map((await db('staff_accounts').select('login_id', 'id')).map((row) => [row.login_id, String(row.id)]));
  const september = (events: RecordedEvent[]) => events.filter((e) => e.details.from === '2026-09-01')
    .map(({ action, actor, details }) => ({ action, actor: actor.id, details }));
  t.deepEqual(september(await eventsAbout(db, `settlement:municipality:${city.code}`)), [
    { action: 'settlement.downloaded', actor: accounts.get(`city-${city.code}`), details: { organization: `municipality:${city.code}`, from: '2026-09-01', to: '2026-09-30', kind: 'partners' } },
    { action: 'settlement.viewed', actor: accounts.get(`city-${city.code}`), details: { organization: `municipality:${city.code}`, from: '2026-09-01', to: '2026-09-30' } },
  ]);
  t.deepEqual(september(await eventsAbout(db, `settlement:merchant:${ids.shopB}`)), [
    { action: 'settlement.downloaded', actor: accounts.get(`shop-b-${city.code}`), details: { organization: `merchant:${ids.shopB}`, from: '2026-09-01', to: '2026-09-30', kind: 'merchants' } },
  ]);
});

test('a period that is not one is refused with a clear code', async (t) => {
  const { staff } = await fixture();
  for (const query of ['', 'from=2026-11-01', 'from=2026-11-30&to=2026-11-01', 'from=2026-02-29&to=2026-03-01', 'from=2026-1-1&to=2026-01-31', 'from=2025-01-01&to=2026-01-02']) {
    const reply = await staff.get(`/api/v1/staff/settlements?${query}`);
    t.is(reply.status, 400, query);
    t.is(reply.body.code, 'settlement_period_invalid', query);
  }
  t.is((await staff.get('/api/v1/staff/settlements?from=2025-01-01&to=2026-01-01')).status, 200, 'a period of 366 days is a year with its leap day');
});

function cli(args: string[], databaseUrl: string): Promise<{ code: number; stdout: string }> {
  return new Promise((resolve) => {
    execFile(process.execPath, ['--import', 'tsx', 'scripts/ledger.ts', 'settlement', ...args], { env: { ...process.env, DATABASE_URL: databaseUrl }, encoding: 'utf8', timeout: 120_000 },
      (error, stdout) => resolve({ code: error ? Number(error.code ?? 1) : 0, stdout }));
  });
}

test('npm run ledger -- settlement: JSON, a CSV file, and bad usage', async (t) => {
  const { url, city } = await fixture();
  const json = await cli(['--from', '2026-11-01', '--to', '2026-11-30', '--municipality', city.code], url);
  t.is(json.code, 0);
  t.like(JSON.parse(json.stdout), { merchantTotals: { netPoints: 1_400 }, partnerTotals: { conversions: figure(2, 7_000) } });
  const csv = await cli(['--from', '2026-11-01', '--to', '2026-11-30', '--municipality', city.code, '--csv', 'partners'], url);
  t.is(csv.code, 0);
  t.true(csv.stdout.startsWith('\uFEFFmunicipality_code,period_from,period_to,partner_id'));
  t.true(csv.stdout.endsWith(`${city.code},2026-11-01,2026-11-30,,,合計,Total,2,7000\r\n`));
  const all = await cli(['--from', '2026-11-01', '--to', '2026-11-30'], url);
  t.true(JSON.parse(all.stdout).statements.some((s: { municipality: { code: string } }) => s.municipality.code === city.code));
  t.is((await cli(['--from', '2026-11-30', '--to', '2026-11-01'], url)).code, 2);
  t.is((await cli(['--from', '2026-11-01', '--to', '2026-11-30', '--csv', 'partners'], url)).code, 2);
  t.is((await cli(['--from', '2026-11-01', '--to', '2026-11-30', '--municipality', '000000'], url)).code, 2);
});
