// creditConversions: several conversions in one transaction post exactly what batches of one
// post one after the other — the same premiums, cut in the same order as the budget and a resident's
// cap run low, the same replays — and concurrent batches over the same new accounts credit
// every conversion once.
import test from 'ava';
import type { Db } from '../src/db.ts';
import { checkLedger } from '../src/ledger/check.ts';
import { creditConversions, residentPoints, type CreditConversion } from '../src/ledger/ledger.ts';
import { fileFixture, testDatabase } from './helpers/env.ts';
import { NOW, creditConversion, ref, resident, run, town, type Town } from './helpers/ledger.ts';

const fixture = fileFixture(test, async (cleanup) => testDatabase(cleanup));

/** Conversions of these points by these residents (by index) in the town, under its campaign. */
const requests = (city: Town, residents: string[], plan: Array<[number, number]>, campaignId = city.campaignId): CreditConversion[] =>
  plan.map(([who, points]) => ({ reference: ref('conversion'), municipalityCode: city.code, mykeyId: residents[who]!, partnerId: city.partnerId, points, campaignId, now: NOW }));

async function budgetLeft(db: Db, campaignId: number): Promise<number> {
  return Number((await db('ledger_accounts').where({ kind: 'campaign_budget', campaign_id: campaignId }).first('balance')).balance);
}

test('a batch posts what batches of one post one by one: premiums cut in order by the budget and each resident\'s cap', async (t) => {
  const { db } = await fixture();
  // Twin towns: one credited one by one, the other in one batch. Budget 400, cap 120, 20 %.
  const terms = { premiumPercent: 20, budgetPoints: 400, capPerResidentPoints: 120 };
  const [one, batch] = [await town(db, terms), await town(db, terms)];
  const residentsOf = async () => [await resident(db), await resident(db), await resident(db), await resident(db)];
  const [r1, r2] = [await residentsOf(), await residentsOf()];
  const plan: Array<[number, number]> = [[0, 400], [0, 400], [1, 1_000], [2, 300], [1, 50], [3, 2_000]];
  const singly = [];
  for (const r of requests(one, r1, plan)) singly.push(await run(db, (trx) => creditConversion(trx, r)));
  const together = await run(db, (trx) => creditConversions(trx, requests(batch, r2, plan)));
  const figures = (credited: Array<{ basePoints: number; premiumPoints: number; replayed: boolean }>) => credited.map((c) => [c.basePoints, c.premiumPoints, c.replayed]);
  t.deepEqual(figures(together), figures(singly));
  t.deepEqual(figures(together), [[400, 80, false], [400, 40, false], [1_000, 120, false], [300, 60, false], [50, 0, false], [2_000, 100, false]],
    'the cap (120) cuts the first resident\'s second premium to 40 and leaves the second none; the budget (400) has 100 left for the last');
  for (const i of [0, 1, 2, 3]) t.deepEqual(await residentPoints(db, batch.code, r2[i]!, NOW), await residentPoints(db, one.code, r1[i]!, NOW));
  t.is(await budgetLeft(db, batch.campaignId), 0);
  t.like(await checkLedger(db), { ok: true, violations: [] });
});

test('a batch replays what was posted before and posts the rest; a reused reference or an unknown MyKey ID refuses the whole batch', async (t) => {
  const { db } = await fixture();
  const city = await town(db, { premiumPercent: 10 });
  const residents = [await resident(db), await resident(db)];
  const first = requests(city, residents, [[0, 100], [1, 200]]);
  const posted = await run(db, (trx) => creditConversions(trx, first));
  const more = requests(city, residents, [[0, 300]]);
  const again = await run(db, (trx) => creditConversions(trx, [...first, ...more]));
  t.deepEqual(again.map((c) => [c.entryId, c.replayed, c.basePoints, c.premiumPoints]),
    [[posted[0]!.entryId, true, 100, 10], [posted[1]!.entryId, true, 200, 20], [again[2]!.entryId, false, 300, 30]]);
  t.deepEqual(await residentPoints(db, city.code, residents[0]!, NOW), { balance: 440, spendable: 440 });

  const reused = { ...first[0]!, points: 101 };
  await t.throwsAsync(run(db, (trx) => creditConversions(trx, [...requests(city, residents, [[1, 5]]), reused])), { message: /posted for a different request/ });
  await t.throwsAsync(run(db, (trx) => creditConversions(trx, [{ ...more[0]!, reference: ref('conversion'), mykeyId: 'ZZZZZZZZ' }])), { message: 'MyKey ID not found' });
  t.deepEqual(await residentPoints(db, city.code, residents[1]!, NOW), { balance: 220, spendable: 220 }, 'nothing of a refused batch was posted');
  t.like(await checkLedger(db), { ok: true, violations: [] });
});

test('batches at once over the same residents, new to the ledger, credit every conversion once', async (t) => {
  const { db } = await fixture();
  const city = await town(db, { premiumPercent: 5 });
  const residents = await Promise.all(Array.from({ length: 6 }, () => resident(db)));
  // Eight batches, each touching every resident in a different order.
  const batches = Array.from({ length: 8 }, (_, b) => requests(city, residents, residents.map((_, i) => [(i + b) % residents.length, 100 + b] as [number, number])));
  const results = await Promise.all(batches.map((batch) => run(db, (trx) => creditConversions(trx, batch))));
  t.true(results.flat().every((c) => !c.replayed));
  const expected = batches.reduce((sum, _, b) => sum + 100 + b + Math.floor((100 + b) * 0.05), 0);
  for (const mykeyId of residents) t.deepEqual(await residentPoints(db, city.code, mykeyId, NOW), { balance: expected, spendable: expected });
  t.is(Number((await db('ledger_accounts').where({ municipality_code: city.code, kind: 'resident' }).count({ n: '*' }))[0]!.n), residents.length);
  t.like(await checkLedger(db), { ok: true, violations: [] });
});
