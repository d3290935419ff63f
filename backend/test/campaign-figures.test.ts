// The campaign figures (docs/campaign-figures.md) against the real app: a town with two
// campaigns and weeks of grants, a conversion, payments, a refund and the expiry job,
// read by the town's auditor as a campaign's dashboard, the whole programme, the points about to
// expire, and each as CSV.
import test from 'ava';
import { campaignActivity, dayAfter } from './helpers/campaign-figures.ts';
import { fileFixture, testDatabase } from './helpers/env.ts';
import { signInStaff } from './helpers/identity.ts';
import { startTestApp } from './helpers/server.ts';
import { expiringCsv, expiringFigures, expiringPeriod, scopeFigures } from '../src/campaign-figures/service.ts';
import type { SignedInStaff } from '../src/staff/repository.ts';
import knex from 'knex';
import { knexConfig } from '../src/db.ts';
import { PATIENT_WAIT_MS } from '../src/database-admin.ts';
import { ledgerRepository } from '../src/ledger/repository.ts';

/** The app's clock: noon in Japan. */
const NOW = new Date('2026-11-27T03:00:00.000Z');

const fixture = fileFixture(test, async (cleanup) => {
  const { db, url } = await testDatabase(cleanup);
  const { base } = await startTestApp(cleanup, db, { clock: () => NOW });
  const activity = await campaignActivity(db, NOW);
  return { db, url, base, ...activity, staff: await signInStaff(base, activity.loginId) };
});

/**
 * Runs first and alone (ava runs serial tests before the others): every statement the figures
 * run reads through indexes, so a big ledger costs the scope's rows, not the table's. Nothing
 * is scanned whole (ALL) or walked index-wide (index) but the small derived tables the
 * statements group.
 */
test.serial('every statement of the figures reads through an index', async (t) => {
  const f = await fixture();
  const statements: Array<{ sql: string; bindings: unknown[] }> = [];
  const seen = (query: { sql: string; bindings: unknown[] }) => { if (/^select/i.test(query.sql)) statements.push(query); };
  f.db.on('query', seen);
  try {
    const staff = { municipalityCode: f.code } as SignedInStaff;
    await scopeFigures(f.db, staff, 'programme', {}, NOW);
    await scopeFigures(f.db, staff, { campaignId: f.campaignC }, {}, NOW);
    await expiringFigures(f.db, staff, expiringPeriod(undefined, NOW), NOW);
    for await (const _ of expiringCsv(f.db, staff, expiringPeriod(undefined, NOW), NOW));
  } finally {
    f.db.off('query', seen);
  }
  t.true(statements.length >= 10);
  for (const { sql, bindings } of statements) {
    const [plan] = await f.db.raw(`EXPLAIN ${sql}`, bindings as never);
    for (const step of plan as Array<{ table: string; type: string; key: string | null }>) {
      if (!step.table.startsWith('<derived')) t.false(['ALL', 'index'].includes(step.type), `${step.table}: ${step.type} (${step.key}) in ${sql}`);
    }
  }
});

const csvOf = async (base: string, cookie: string, path: string) => {
  const response = await fetch(`${base}${path}`, { headers: { cookie } });
  // Decoded keeping the BOM, which fetch's text() drops.
  return { status: response.status, disposition: response.headers.get('content-disposition'), text: new TextDecoder('utf-8', { ignoreBOM: true }).decode(await response.arrayBuffer()) };
};

test("a campaign's days: issued, redeemed net of refunds, expired, residents reached and the budget at each day's end", async (t) => {
  const f = await fixture();
  const { status, body } = await f.staff.get(`/api/v1/campaign-figures/campaigns/${f.campaignC}`);
  t.is(status, 200, JSON.stringify(body));
  t.like(body.campaign, { id: f.campaignC, name: { ja: f.names.c }, startsOn: f.periodC.from });
  t.deepEqual(body.period, { ...f.periodC, timeZone: 'Asia/Tokyo' }, "the campaign's first day through today");
  t.is(body.days.length, 18);
  const day = (offset: number) => body.days.find((d: { date: string }) => d.date === dayAfter(f.today, offset));
  t.deepEqual(day(-17), { date: dayAfter(f.today, -17), issued: 1000, redeemed: 0, expired: 0, newResidents: 1, residentsReached: 1, budgetUsed: 1000, budgetLeft: 9000 });
  t.like(day(-15), { issued: 700, newResidents: 2, residentsReached: 3, budgetUsed: 1700, budgetLeft: 8300 });
  t.like(day(-12), { redeemed: 600 });
  t.like(day(-11), { redeemed: 300 });
  t.like(day(-10), { redeemed: -100 }, 'a refund puts points back into the lots');
  t.like(day(-1), { expired: 900, residentsReached: 3, budgetLeft: 8300 });
  t.deepEqual(body.totals, { issued: 1700, redeemed: 800, expired: 900, newResidents: 3 });
  t.is(body.residentsReached, 3);
  t.deepEqual(body.budget, { budgetPoints: 10_000, fundedPoints: 10_000, usedPoints: 1700, leftPoints: 8300, pace: null, runsOutOn: null, lastsToEnd: false },
    'an ended campaign has no pace');
  t.deepEqual(body.topShops.map((s: { shop: { name: { ja: string } }; points: number; payments: number }) => [s.shop.name.ja, s.points, s.payments]),
    [['まちのパン屋', 600, 1], ['駅前青果', 200, 1]]);

  // A period of its own: only its days, the totals of those days, the reach at its end.
  const part = await f.staff.get(`/api/v1/campaign-figures/campaigns/${f.campaignC}?from=${dayAfter(f.today, -12)}&to=${dayAfter(f.today, -11)}`);
  t.is(part.body.days.length, 2);
  t.deepEqual(part.body.totals, { issued: 0, redeemed: 900, expired: 0, newResidents: 0 });
  t.is(part.body.residentsReached, 3);
  t.deepEqual(part.body.topShops.map((s: { points: number }) => s.points), [600, 300]);
});

test('the pace: points issued per day over the days the running campaign has had (up to 14), and the day its budget runs out', async (t) => {
  const f = await fixture();
  const { body } = await f.staff.get(`/api/v1/campaign-figures/campaigns/${f.campaignE}`);
  // 800 issued over its 8 days, 1,200 left: 12 more days.
  t.deepEqual(body.budget, { budgetPoints: 2000, fundedPoints: 2000, usedPoints: 800, leftPoints: 1200, pace: { days: 8, pointsPerDay: 100 }, runsOutOn: dayAfter(f.today, 12), lastsToEnd: false });
});

// Serial: it pauses campaign E for a moment, before the other tests read it.
test.serial('a paused campaign has no pace and no day its budget runs out, whatever its dates', async (t) => {
  const f = await fixture();
  await f.db('campaigns').where({ id: f.campaignE }).update({ status: 'paused' });
  try {
    const { body } = await f.staff.get(`/api/v1/campaign-figures/campaigns/${f.campaignE}`);
    t.like(body.budget, { leftPoints: 1200, pace: null, runsOutOn: null, lastsToEnd: false });
  } finally {
    await f.db('campaigns').where({ id: f.campaignE }).update({ status: 'running' });
  }
});

test('the whole programme: every campaign of the town added up, a resident reached by two counted once, and a line per campaign', async (t) => {
  const f = await fixture();
  const from = dayAfter(f.today, -17);
  const { status, body } = await f.staff.get(`/api/v1/campaign-figures/programme?from=${from}&to=${f.today}`);
  t.is(status, 200, JSON.stringify(body));
  t.false('campaign' in body);
  t.deepEqual(body.totals, { issued: 2500, redeemed: 800, expired: 900, newResidents: 3 });
  t.is(body.residentsReached, 3);
  t.like(body.days.at(-1), { issued: 400, budgetUsed: 2500, budgetLeft: 9500 });
  t.like(body.budget, { budgetPoints: 12_000, fundedPoints: 12_000, usedPoints: 2500, leftPoints: 9500, pace: { days: 8, pointsPerDay: 100 }, runsOutOn: dayAfter(f.today, 12) });
  t.deepEqual(body.campaigns.map((c: Record<string, unknown>) => [c.id, c.issued, c.redeemed, c.expired, c.residentsReached, c.leftPoints]),
    [[f.campaignC, 1700, 800, 900, 3, 8300], [f.campaignE, 800, 0, 0, 2, 1200]]);
});

test("each chart's data as CSV: BOM, CRLF, named for its scope and period", async (t) => {
  const f = await fixture();
  const days = await csvOf(f.base, f.staff.cookie, `/api/v1/campaign-figures/campaigns/${f.campaignC}/days.csv`);
  t.is(days.status, 200);
  t.is(days.disposition, `attachment; filename="campaign-figures-campaign-${f.campaignC}-${f.periodC.from}-${f.today}-days.csv"`);
  const lines = days.text.split('\r\n');
  t.is(lines[0], '\uFEFFdate,issued,redeemed,expired,new_residents,residents_reached,budget_used,budget_left');
  t.is(lines[1], `${f.periodC.from},1000,0,0,1,1,1000,9000`);
  t.true(lines.includes(`${dayAfter(f.today, -10)},0,-100,0,0,3,1700,8300`));
  t.is(lines.length, 20, 'a row a day and the final CRLF');

  const shops = await csvOf(f.base, f.staff.cookie, `/api/v1/campaign-figures/programme/shops.csv?from=${f.periodC.from}&to=${f.today}`);
  t.is(shops.disposition, `attachment; filename="campaign-figures-town-${f.code}-${f.periodC.from}-${f.today}-shops.csv"`);
  t.deepEqual(shops.text.split('\r\n'), [
    '\uFEFFfrom,to,rank,shop_id,shop_name_ja,shop_name_en,points_redeemed,payments',
    `${f.periodC.from},${f.today},1,${f.shops.bakery},まちのパン屋,Town Bakery,600,1`,
    `${f.periodC.from},${f.today},2,${f.shops.grocer},駅前青果,Station Grocer,200,1`,
    '',
  ]);
});

test('points about to expire: counts by month and a line per resident and last day, the CSV audited before it goes out', async (t) => {
  const f = await fixture();
  const until = dayAfter(f.today, 40);
  const { status, body } = await f.staff.get(`/api/v1/campaign-figures/expiring?until=${until}`);
  t.is(status, 200, JSON.stringify(body));
  const lastDay = f.e.endsOn;
  t.deepEqual(body.period, { from: f.today, to: until, timeZone: 'Asia/Tokyo' });
  t.deepEqual(body.months, [{ month: lastDay.slice(0, 7), residents: 2, points: 800 }]);
  t.deepEqual(body.lines, [f.residents[0], f.residents[1]].sort().map((mykeyId) => ({ mykeyId, points: 800 / 2, lastDay })));
  t.is(body.lineCount, 2);
  // The last day of the period counts; the day before it does not.
  t.is((await f.staff.get(`/api/v1/campaign-figures/expiring?until=${lastDay}`)).body.lineCount, 2);
  t.is((await f.staff.get(`/api/v1/campaign-figures/expiring?until=${dayAfter(lastDay, -1)}`)).body.lineCount, 0);

  const file = await csvOf(f.base, f.staff.cookie, `/api/v1/campaign-figures/expiring.csv?until=${until}`);
  t.is(file.disposition, `attachment; filename="expiring-points-town-${f.code}-${f.today}-${until}.csv"`);
  t.deepEqual(file.text.split('\r\n'), ['\uFEFFmykey_id,points,last_day', ...body.lines.map((l: { mykeyId: string }) => `${l.mykeyId},400,${lastDay}`), '']);
  const audit = await f.db('audit_events').where({ action: 'campaign_figures.expiring_downloaded', subject: `expiring-points:municipality:${f.code}` }).select('details');
  t.is(audit.length, 1);
});

test('the expiring lines read a page at a time come out as one read gives them', async (t) => {
  const f = await fixture();
  const by = new Date(NOW.getTime() + 60 * 86_400_000);
  const read = async (page?: number) => { const lines = []; for await (const line of ledgerRepository.expiringLines(f.db, f.code, NOW, by, Infinity, page)) lines.push(line); return lines; };
  const whole = await read();
  t.is(whole.length, 2);
  t.deepEqual(await read(1), whole, 'a page of one line: two pages and an empty one');
});

test('reading the expiring lines hands no connection to two holders at once, on a small busy pool', async (t) => {
  const f = await fixture();
  // knex's stream() on the pool gave its connection back twice: a transaction running meanwhile
  // then shared its connection with another (the read was changed to pages for it).
  const small = knex({ ...knexConfig(f.url, PATIENT_WAIT_MS), pool: { min: 0, max: 3 } });
  t.teardown(() => small.destroy());
  const by = new Date(NOW.getTime() + 60 * 86_400_000);
  const holding = new Set<number>();
  let shared = 0;
  let reading = true;
  const reader = (async () => {
    for (let i = 0; i < 150; i++) for await (const line of ledgerRepository.expiringLines(small, f.code, NOW, by)) void line;
    reading = false;
  })();
  const transactions = Array.from({ length: 8 }, async () => {
    while (reading) {
      await small.transaction(async (trx) => {
        const [[{ id }]] = await trx.raw('SELECT CONNECTION_ID() AS id');
        if (holding.has(id)) shared++;
        holding.add(id);
        await trx.raw('SELECT SLEEP(0.002)');
        holding.delete(id);
      }, { isolationLevel: 'repeatable read' });
    }
  });
  await Promise.all([reader, ...transactions]);
  t.is(shared, 0, 'a connection held by two transactions at once');
});

test('refusals: a period that is not one, a campaign the town does not have', async (t) => {
  const f = await fixture();
  for (const query of ['from=2026-11-01', 'from=2026-11-02&to=2026-11-01', 'from=2025-01-01&to=2026-11-01', 'from=2026-02-30&to=2026-03-01']) {
    const reply = await f.staff.get(`/api/v1/campaign-figures/programme?${query}`);
    t.is(reply.status, 400, query);
    t.is(reply.body.code, 'campaign_figures_period_invalid');
  }
  t.is((await f.staff.get(`/api/v1/campaign-figures/expiring?until=${dayAfter(f.today, -1)}`)).body.code, 'campaign_figures_period_invalid');
  for (const id of ['999999999', '0', 'abc', '1e3']) {
    const reply = await f.staff.get(`/api/v1/campaign-figures/campaigns/${id}`);
    t.is(reply.status, 404, id);
    t.is(reply.body.code, 'campaign_not_found');
  }
});
