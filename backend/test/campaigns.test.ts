// A campaign's life against the real app and database (docs/campaigns.md): created and edited
// while planned, a stale edit refused with what changed, started, paused, resumed and ended;
// funded, topped up and its leftover returned as ledger entries; and what it governs: grants
// and premiums only while it runs, its points' expiry by its rule, spent only at its shops.
import test, { type ExecutionContext } from 'ava';
import { randomUUID } from 'node:crypto';
import { eventsAbout } from '../src/audit/chain.ts';
import { campaignsRepository } from '../src/campaigns/repository.ts';
import type { Db } from '../src/db.ts';
import { checkLedger } from '../src/ledger/check.ts';
import { creditConversions, grantPoints, inLedgerTransaction, payMerchant, residentPoints } from '../src/ledger/ledger.ts';
import { campaignPointsExpire, endOfTokyoDay, tokyoDate } from '../src/ledger/rules.ts';
import type { CampaignTerms } from '@mykey/contracts/campaigns.ts';
import { DEMO_MERCHANTS, DEMO_MUNICIPALITY, DEMO_PARTNER, DEMO_SECOND_MERCHANTS } from '@mykey/dev-tools/demo-towns.ts';
import { applyAsShop } from './helpers/shops.ts';
import { fileFixture, testDatabase } from './helpers/env.ts';
import { signInStaff, type Reply } from './helpers/identity.ts';
import { addPartner, addResident } from './helpers/partners.ts';
import { startApp } from './helpers/server.ts';

const CITY = DEMO_MUNICIPALITY.code;
const DAY = 86_400_000;
const today = () => tokyoDate(new Date());
const inDays = (days: number) => tokyoDate(new Date(Date.now() + days * DAY));

const fixture = fileFixture(test, async (cleanup) => {
  const { db } = await testDatabase(cleanup);
  await db.seed.run();
  const base = await startApp(cleanup, db);
  const id = async (slug: string) => Number((await db('merchants').where({ slug }).first('id')).id);
  return {
    db, base,
    admin: await signInStaff(base, 'demo-city'),
    auditor: await signInStaff(base, 'demo-auditor'),
    bakery: await id(DEMO_MERCHANTS[0]!.slug), bookshop: await id(DEMO_MERCHANTS[2]!.slug), aobaCafe: await id(DEMO_SECOND_MERCHANTS[0]!.slug),
    partner: Number((await db('partners').where({ slug: DEMO_PARTNER.slug }).first('id')).id),
    applicant: Number((await applyAsShop(base, { nameJa: '申請中の店', nameEn: 'Applying shop' })).body.applicationId),
  };
});

/** Terms of a campaign running from today for a month, with these changes. */
const terms = (more: Partial<CampaignTerms> = {}): CampaignTerms => ({
  kind: 'administrative', nameJa: `テスト ${randomUUID().slice(0, 8)}`, nameEn: 'Test', startsOn: today(), endsOn: inDays(30),
  premiumPercent: 0, capPerResidentPoints: 10_000, budgetPoints: 100_000, validity: { until: inDays(30) }, merchantIds: null, partnerIds: null, ...more,
});

function must(reply: Reply, status: number): any {
  if (reply.status !== status) throw new Error(`expected ${status}, got ${reply.status}: ${JSON.stringify(reply.body)}`);
  return reply.body;
}

type Fixture = Awaited<ReturnType<typeof fixture>>;

/** A campaign created, funded with its whole budget and started. */
async function running(f: Fixture, more: Partial<CampaignTerms> = {}) {
  const created = must(await f.admin.post('/api/v1/campaigns', terms(more)), 201);
  must(await f.admin.post(`/api/v1/campaigns/${created.id}/funding`, { points: created.budgetPoints }), 200);
  return must(await f.admin.post(`/api/v1/campaigns/${created.id}/status`, { action: 'start' }), 200);
}

const grant = (db: Db, campaignId: number, mykeyId: string, points: number, now = new Date()) =>
  inLedgerTransaction(db, (trx) => grantPoints(trx, { reference: `test:${randomUUID()}`, campaignId, kind: 'administrative', mykeyId, points, now }));

async function ledgerClean(t: ExecutionContext, db: Db) {
  const report = await checkLedger(db);
  t.true(report.ok, JSON.stringify(report.violations.slice(0, 5)));
}

test('an administrator creates a planned campaign; every municipal role reads it, only the administrator writes', async (t) => {
  const f = await fixture();
  const created = must(await f.admin.post('/api/v1/campaigns', terms({ merchantIds: [f.bookshop, f.bakery, f.bakery] })), 201);
  t.like(created, { status: 'planned', version: 1, paying: false, fundedPoints: 0, budgetLeftPoints: 0, merchantIds: [f.bakery, f.bookshop].sort((a, b) => a - b) });
  const listed = must(await f.auditor.get('/api/v1/campaigns'), 200);
  t.like(listed.campaigns.find((c: { id: number }) => c.id === created.id), { status: 'planned', nameEn: 'Test' });
  t.deepEqual(listed.choices.merchants.map((m: { id: number }) => m.id).sort(), (await f.db('merchants').where({ municipality_code: CITY }).whereIn('status', ['approved', 'suspended']).pluck('id')).map(Number).sort());
  t.false(listed.choices.merchants.some((m: { id: number }) => m.id === f.applicant), 'a shop still applying is no choice');
  t.true(listed.choices.partners.some((p: { id: number }) => p.id === f.partner), 'the partner the town has an agreement with');
  t.like(must(await f.auditor.get(`/api/v1/campaigns/${created.id}`), 200), { id: created.id, version: 1 });
  t.like(await f.auditor.post('/api/v1/campaigns', terms()), { status: 403, body: { code: 'staff_role_forbidden' } });
  t.like(await f.auditor.post(`/api/v1/campaigns/${created.id}/status`, { action: 'start' }), { status: 403 });
  t.is((await eventsAbout(f.db, `campaign:${created.id}`)).map((e) => e.action).join(), 'campaign.created');
});

test('terms that contradict each other, or name another town\'s shop, are refused and nothing is stored', async (t) => {
  const f = await fixture();
  const nameJa = `却下 ${randomUUID().slice(0, 8)}`;
  const refused: Array<[string, Partial<CampaignTerms>, string]> = [
    ['a premium on an administrative campaign', { premiumPercent: 10 }, 'request_invalid'],
    ['a premium campaign without a premium', { kind: 'conversion_premium' }, 'request_invalid'],
    ['partners named by a grant campaign', { partnerIds: [f.partner] }, 'request_invalid'],
    ['an end before the start', { endsOn: inDays(-1) }, 'request_invalid'],
    ['points expiring before the last day', { validity: { until: inDays(29) } }, 'request_invalid'],
    ['another town\'s shop', { merchantIds: [f.bakery, f.aobaCafe] }, 'merchant_not_found'],
    ['a shop still applying', { merchantIds: [f.bakery, f.applicant] }, 'merchant_not_found'],
    ['a partner the town has no agreement with', { kind: 'conversion_premium', premiumPercent: 5, partnerIds: [(await addPartner(f.db, { agreements: [] })).id] }, 'partner_not_found'],
  ];
  for (const [what, more, code] of refused) t.like(await f.admin.post('/api/v1/campaigns', terms({ nameJa, ...more })), { body: { code } }, what);
  t.is(await f.db('campaigns').where({ name_ja: nameJa }).first('id'), undefined);
});

test('a stale edit is refused with each field changed since, as it was and as it is; nothing is lost', async (t) => {
  const f = await fixture();
  const created = must(await f.admin.post('/api/v1/campaigns', terms({ nameEn: 'Spring' })), 201);
  const first = { ...terms(), nameJa: created.nameJa, nameEn: 'Spring', budgetPoints: 200_000 };
  const edited = must(await f.admin.put(`/api/v1/campaigns/${created.id}`, { version: 1, terms: first }), 200);
  t.like(edited, { version: 2, budgetPoints: 200_000 });
  // A second staff member, still at version 1, changes the name and the shops.
  const stale = await f.admin.put(`/api/v1/campaigns/${created.id}`, { version: 1, terms: { ...first, budgetPoints: 100_000, nameEn: 'Summer', merchantIds: [f.bakery] } });
  t.is(stale.status, 409);
  t.like(stale.body, { code: 'campaign_version_conflict', currentVersion: 2, changes: [{ field: 'budgetPoints', was: 100_000, now: 200_000 }] });
  t.is(stale.body.changes.length, 1, 'only what the other edit changed');
  t.like(must(await f.admin.get(`/api/v1/campaigns/${created.id}`), 200), { version: 2, nameEn: 'Spring', budgetPoints: 200_000, merchantIds: null });
  // Made again from version 2, it goes through.
  t.like(must(await f.admin.put(`/api/v1/campaigns/${created.id}`, { version: 2, terms: { ...first, nameEn: 'Summer', merchantIds: [f.bakery] } }), 200), { version: 3, nameEn: 'Summer', merchantIds: [f.bakery] });
  // Once started, its terms stay; an edit from before the start learns the status changed.
  must(await f.admin.post(`/api/v1/campaigns/${created.id}/status`, { action: 'start' }), 200);
  t.like(await f.admin.put(`/api/v1/campaigns/${created.id}`, { version: 4, terms: first }), { status: 409, body: { code: 'campaign_not_planned' } });
  const late = await f.admin.put(`/api/v1/campaigns/${created.id}`, { version: 3, terms: first });
  t.like(late.body, { code: 'campaign_version_conflict', changes: [{ field: 'status', was: 'planned', now: 'running' }] });
});

test('planned → running ⇄ paused → ended: grants draw only while it runs, and ending returns what is left to the town', async (t) => {
  const f = await fixture();
  const mykeyId = await addResident(f.db);
  const created = must(await f.admin.post('/api/v1/campaigns', terms({ budgetPoints: 5_000 })), 201);
  must(await f.admin.post(`/api/v1/campaigns/${created.id}/funding`, { points: 3_000 }), 200);
  t.like(await f.admin.post(`/api/v1/campaigns/${created.id}/funding`, { points: 2_001 }), { status: 409, body: { code: 'campaign_funding_exceeds_budget', unfundedPoints: 2_000 } });
  await t.throwsAsync(grant(f.db, created.id, mykeyId, 100), { message: /planned/ }, 'a planned campaign grants nothing');
  t.like(await f.admin.post(`/api/v1/campaigns/${created.id}/status`, { action: 'pause' }), { status: 409, body: { code: 'campaign_status_invalid' } });
  t.like(must(await f.admin.post(`/api/v1/campaigns/${created.id}/status`, { action: 'start' }), 200), { status: 'running', paying: true });
  await grant(f.db, created.id, mykeyId, 1_000);
  must(await f.admin.post(`/api/v1/campaigns/${created.id}/status`, { action: 'pause' }), 200);
  await t.throwsAsync(grant(f.db, created.id, mykeyId, 100), { message: /paused/ });
  must(await f.admin.post(`/api/v1/campaigns/${created.id}/status`, { action: 'resume' }), 200);
  await grant(f.db, created.id, mykeyId, 500);
  // A top-up raises the budget and funds it at once; the key's retry tops up once.
  const key = randomUUID();
  const topped = must(await f.admin.post(`/api/v1/campaigns/${created.id}/top-ups`, { points: 1_000 }, key), 200);
  t.like(must(await f.admin.post(`/api/v1/campaigns/${created.id}/top-ups`, { points: 1_000 }, key), 200), topped);
  t.like(topped, { budgetPoints: 6_000, fundedPoints: 4_000, budgetLeftPoints: 2_500 });
  const ended = must(await f.admin.post(`/api/v1/campaigns/${created.id}/status`, { action: 'end' }), 200);
  t.like(ended, { status: 'ended', paying: false, budgetLeftPoints: 0, returnedPoints: 2_500, fundedPoints: 4_000 });
  await t.throwsAsync(grant(f.db, created.id, mykeyId, 1), { message: /ended/ });
  t.like(await f.admin.post(`/api/v1/campaigns/${created.id}/status`, { action: 'resume' }), { status: 409, body: { code: 'campaign_status_invalid' } });
  t.like(await f.admin.post(`/api/v1/campaigns/${created.id}/funding`, { points: 1 }), { status: 409, body: { code: 'campaign_status_invalid' } });
  const funding = await f.db('ledger_entries as e').join('ledger_postings as p', 'p.entry_id', 'e.id').join('ledger_accounts as a', 'a.id', 'p.account_id')
    .where({ 'e.campaign_id': created.id, 'a.kind': 'municipality_funding' }).orderBy('e.id').select('e.kind', 'e.reference', 'p.amount');
  t.deepEqual(funding.map((p) => [p.kind, Number(p.amount)]), [['funding', -3_000], ['funding', -1_000], ['budget_return', 2_500]], 'the town paid in 4,000 and got 2,500 back');
  t.is(funding.at(-1)!.reference, `campaign:${created.id}:return`);
  // What was granted stays as granted: its lots keep their campaign and expiry.
  t.deepEqual((await f.db('ledger_lots').where({ campaign_id: created.id }).select('original_points', 'expires_at')).map((l) => l.original_points), [1_000, 500]);
  t.deepEqual((await eventsAbout(f.db, `campaign:${created.id}`)).map((e) => e.action).reverse(),
    ['campaign.created', 'campaign.funded', 'campaign.started', 'campaign.paused', 'campaign.resumed', 'campaign.topped_up', 'campaign.ended']);
  await ledgerClean(t, f.db);
});

test('points valid N months from the grant expire by that rule, not at the campaign\'s end', async (t) => {
  const f = await fixture();
  const campaign = await running(f, { validity: { months: 3 } });
  const mykeyId = await addResident(f.db);
  const now = new Date();
  await grant(f.db, campaign.id, mykeyId, 700, now);
  const [lot] = await f.db('ledger_lots').where({ campaign_id: campaign.id }).select('expires_at');
  t.deepEqual(lot.expires_at, campaignPointsExpire({ months: 3 }, now));
  t.true(lot.expires_at > endOfTokyoDay(campaign.endsOn), 'three months from today outlives a one-month campaign');
});

test('a premium comes only from a running premium campaign its partner takes part in', async (t) => {
  const f = await fixture();
  const other = await addPartner(f.db, { agreements: [CITY] });
  // The seeded premium campaign runs for every partner; pause it so only ours can pay.
  const seeded = await f.db('campaigns').where({ municipality_code: CITY, kind: 'conversion_premium', status: 'running' }).pluck('id');
  await f.db('campaigns').whereIn('id', seeded).update({ status: 'paused' });
  t.teardown(() => f.db('campaigns').whereIn('id', seeded).update({ status: 'running' }));
  const campaign = await running(f, { kind: 'conversion_premium', premiumPercent: 10, partnerIds: [f.partner], validity: { months: 6 } });
  const premium = (partnerId: number) => campaignsRepository.premiumCampaign(f.db, CITY, today(), partnerId);
  t.is(await premium(f.partner), campaign.id);
  t.is(await premium(other.id), undefined, 'a partner not taking part gets no premium');
  const mykeyId = await addResident(f.db);
  const [credited] = await inLedgerTransaction(f.db, (trx) => creditConversions(trx, [{ reference: `test:${randomUUID()}`, municipalityCode: CITY, mykeyId, partnerId: f.partner, points: 1_000, campaignId: campaign.id }]));
  t.like(credited, { basePoints: 1_000, premiumPoints: 100 });
  must(await f.admin.post(`/api/v1/campaigns/${campaign.id}/status`, { action: 'pause' }), 200);
  t.is(await premium(f.partner), undefined, 'a paused campaign adds no premium');
  const [paused] = await inLedgerTransaction(f.db, (trx) => creditConversions(trx, [{ reference: `test:${randomUUID()}`, municipalityCode: CITY, mykeyId, partnerId: f.partner, points: 1_000, campaignId: campaign.id }]));
  t.like(paused, { basePoints: 1_000, premiumPoints: 0 }, 'and a conversion already holding it credits its points without one');
  await ledgerClean(t, f.db);
});

test('points a campaign paid for are spent only at the shops taking part; converted points anywhere', async (t) => {
  const f = await fixture();
  const campaign = await running(f, { merchantIds: [f.bakery] });
  const mykeyId = await addResident(f.db);
  await grant(f.db, campaign.id, mykeyId, 800);
  await inLedgerTransaction(f.db, (trx) => creditConversions(trx, [{ reference: `test:${randomUUID()}`, municipalityCode: CITY, mykeyId, partnerId: f.partner, points: 300 }]));
  const now = new Date();
  t.like(await residentPoints(f.db, CITY, mykeyId, now), { balance: 1_100, spendable: 1_100 });
  t.like(await residentPoints(f.db, CITY, mykeyId, now, f.bakery), { spendable: 1_100 });
  t.like(await residentPoints(f.db, CITY, mykeyId, now, f.bookshop), { spendable: 300 }, 'the bookshop takes only the converted points');
  const pay = (merchantId: number, points: number) => inLedgerTransaction(f.db, (trx) => payMerchant(trx, { reference: `test:${randomUUID()}`, merchantId, mykeyId, points, now }));
  await t.throwsAsync(pay(f.bookshop, 301), { message: /301 points asked, 300 available/ });
  const paid = await pay(f.bookshop, 300);
  t.is(paid.spendableAfter, 0, 'nothing more to spend at the bookshop');
  t.like(await residentPoints(f.db, CITY, mykeyId, now, f.bakery), { spendable: 800 });
  t.is((await pay(f.bakery, 800)).spendableAfter, 0);
  await ledgerClean(t, f.db);
});

test('another town\'s campaign is not found, and its staff change nothing of it', async (t) => {
  const f = await fixture();
  const aoba = await signInStaff(f.base, 'demo-aoba-city');
  const created = must(await f.admin.post('/api/v1/campaigns', terms()), 201);
  for (const reply of [
    await aoba.get(`/api/v1/campaigns/${created.id}`),
    await aoba.put(`/api/v1/campaigns/${created.id}`, { version: 1, terms: terms() }),
    await aoba.post(`/api/v1/campaigns/${created.id}/status`, { action: 'start' }),
    await aoba.post(`/api/v1/campaigns/${created.id}/funding`, { points: 1 }),
  ]) t.like(reply, { status: 404, body: { code: 'campaign_not_found' } });
  t.false(must(await aoba.get('/api/v1/campaigns'), 200).campaigns.some((c: { id: number }) => c.id === created.id));
  t.like(must(await f.admin.get(`/api/v1/campaigns/${created.id}`), 200), { status: 'planned', version: 1, fundedPoints: 0 });
});
