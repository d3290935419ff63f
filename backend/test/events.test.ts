// Events and administrative points: the town's categories, events paid from its campaigns, a
// resident tapping in at an event's device and being granted its points once whatever happens,
// the category travelling with every grant (one by one, CSV, event), and the figures per
// category and event as JSON and CSV. The ledger is checked clean after each.
import test, { type ExecutionContext } from 'ava';
import type { IssuedCertificate } from '@mykey/dev-tools/dev-ca/index.ts';
import { DEMO_EVENT_CAMPAIGN, DEMO_EVENT_CATEGORIES, DEMO_GRANT_CAMPAIGN, DEMO_MUNICIPALITY } from '@mykey/dev-tools/demo-towns.ts';
import type { Db } from '../src/db.ts';
import { checkLedger } from '../src/ledger/check.ts';
import { fundingEntry, grantEntry, requestHash } from '../src/ledger/entries.ts';
import { fundCampaign, inLedgerTransaction, post, residentPoints } from '../src/ledger/ledger.ts';
import { endOfTokyoDay, tokyoDate } from '../src/ledger/rules.ts';
import { dayAfter } from './helpers/campaign-figures.ts';
import { fileFixture, migratedUpTo } from './helpers/env.ts';
import { cardProof, enrollDevice, firstLogin, municipalCounter, secondTown, signInStaff, type Device, type Staff } from './helpers/identity.ts';
import { NOW, campaignState, ref } from './helpers/ledger.ts';

const fixture = fileFixture(test, async (cleanup) => {
  const town = await municipalCounter(cleanup);
  const aoba = await secondTown(town.base);
  const campaigns = (await town.staff.get('/api/v1/staff/grants/campaigns')).body.campaigns as Array<{ id: number; slug: string }>;
  const demoCampaign = campaigns.find((c) => c.slug === DEMO_EVENT_CAMPAIGN.slug)!.id;
  const grantCampaign = campaigns.find((c) => c.slug === DEMO_GRANT_CAMPAIGN.slug)!.id;
  const aobaCampaign = (await aoba.staff.get('/api/v1/staff/grants/campaigns')).body.campaigns[0].id as number;
  return { ...town, aoba, demoCampaign, grantCampaign, aobaCampaign };
});

const CITY = DEMO_MUNICIPALITY.code;
const DAY_MS = 86_400_000;
const today = () => tokyoDate(new Date());
const dayFrom = (days: number) => tokyoDate(new Date(Date.now() + days * DAY_MS));

async function ledgerClean(t: ExecutionContext, db: Db) {
  const report = await checkLedger(db);
  t.true(report.ok, JSON.stringify(report.violations.slice(0, 5)));
}

/** An event campaign of the demo city with these dates and this much funded. */
async function campaign(db: Db, terms: { startsOn?: string; endsOn?: string; funded: number }): Promise<number> {
  const [id] = await db('campaigns').insert({
    municipality_code: CITY, slug: ref('campaign'), name_ja: 'テスト', name_en: 'Test', premium_percent: 0, budget_points: 1_000_000,
    cap_per_resident_points: 100_000, starts_on: terms.startsOn ?? '2026-04-01', ends_on: terms.endsOn ?? '2027-03-31', ...campaignState(0, terms.endsOn ?? '2027-03-31', 'event'),
  });
  await inLedgerTransaction(db, (trx) => fundCampaign(trx, { reference: ref('fund'), campaignId: Number(id), points: terms.funded }));
  return Number(id);
}

async function categoryId(staff: Staff, nameJa: string): Promise<number> {
  return (await staff.get('/api/v1/event-categories')).body.categories.find((c: { nameJa: string }) => c.nameJa === nameJa).id;
}

let serial = 0;
/**
 * An event of the clerk's town held today and tomorrow unless told, served by `devices`: a test
 * running past midnight (Japan) still finds it open.
 */
async function event(staff: Staff, campaignId: number, devices: Device[], fields: Record<string, unknown> = {}) {
  const created = await staff.post('/api/v1/events', {
    nameJa: `ボランティア清掃活動${++serial}`, nameEn: `Volunteer clean-up ${serial}`, categoryId: await categoryId(staff, 'ボランティア'),
    startsOn: today(), endsOn: dayFrom(1), points: 50, campaignId, tapPolicy: 'tap', ...fields,
  });
  if (created.status !== 201) throw new Error(JSON.stringify(created.body));
  const assigned = await staff.put(`/api/v1/events/${created.body.id}/devices`, { deviceIds: devices.map((d) => d.id) });
  if (assigned.status !== 200) throw new Error(JSON.stringify(assigned.body));
  return assigned.body as { id: number; nameJa: string; nameEn: string; points: number; category: { id: number } };
}

const tap = (device: Device, card: IssuedCertificate, key?: string) =>
  device.post('/api/v1/auth/card-taps', { purpose: 'event_attendance', certificate: card.certificateDer.toString('base64') }, key);

async function pinTap(device: Device, card: IssuedCertificate) {
  const challenge = await device.post('/api/v1/auth/challenges', { purpose: 'event_attendance' });
  if (challenge.status !== 201) return challenge;
  return device.post('/api/v1/auth/card-sessions', cardProof(challenge.body, card));
}

const balance = async (db: Db, mykeyId: string) => (await residentPoints(db, CITY, mykeyId)).balance;
const count = async (db: Db, table: string, where: Record<string, unknown> = {}) => Number((await db(table).where(where).count({ n: '*' }))[0]!.n);

test('each town starts with the five categories; its staff add and rename their own, and names stay unique in the town', async (t) => {
  const { staff, aoba } = await fixture();
  const listed = (await staff.get('/api/v1/event-categories')).body.categories;
  t.deepEqual(DEMO_EVENT_CATEGORIES.map((c) => c.name_ja).filter((name) => !listed.some((l: { nameJa: string }) => l.nameJa === name)), []);
  t.like(listed.find((c: { nameJa: string }) => c.nameJa === '健康診断'), { nameEn: 'Health check-up' });
  const added = await staff.post('/api/v1/event-categories', { nameJa: '防災訓練', nameEn: 'Disaster drill' });
  t.like(added, { status: 201, body: { nameJa: '防災訓練', nameEn: 'Disaster drill' } });
  t.like(await staff.post('/api/v1/event-categories', { nameJa: '防災訓練', nameEn: 'Again' }), { status: 409, body: { code: 'event_category_name_taken' } });
  // Another town may have a category of the same name: names are unique per town.
  t.is((await aoba.staff.post('/api/v1/event-categories', { nameJa: '防災訓練', nameEn: 'Disaster drill' })).status, 201);
  const renamed = await staff.patch(`/api/v1/event-categories/${added.body.id}`, { nameJa: '防災訓練（秋）' });
  t.like(renamed, { status: 200, body: { id: added.body.id, nameJa: '防災訓練（秋）', nameEn: 'Disaster drill' } });
  t.like(await staff.patch(`/api/v1/event-categories/${added.body.id}`, { nameJa: '健康診断' }), { status: 409, body: { code: 'event_category_name_taken' } });
  for (const bad of [{ nameJa: '', nameEn: 'x' }, { nameJa: 'a\nb', nameEn: 'x' }, { nameJa: 'x' }]) {
    t.like(await staff.post('/api/v1/event-categories', bad), { status: 400, body: { code: 'request_invalid' } }, JSON.stringify(bad));
  }
  t.like(await staff.patch('/api/v1/event-categories/999999999', { nameEn: 'x' }), { status: 404, body: { code: 'event_category_not_found' } });
});

test('an event is paid by a campaign of the town that runs on all its days; anything else is refused and nothing stored', async (t) => {
  const { db, staff, demoCampaign, grantCampaign, aobaCampaign } = await fixture();
  const volunteering = await categoryId(staff, 'ボランティア');
  const ended = await campaign(db, { startsOn: '2025-04-01', endsOn: '2026-03-31', funded: 1_000 });
  const base = { nameJa: '健康まつり', nameEn: 'Health fair', categoryId: volunteering, startsOn: '2026-12-10', points: 100, campaignId: demoCampaign };
  const asked = { name_ja: '健康まつり' };
  const before = await count(db, 'events', asked);
  const cases: Array<[string, Record<string, unknown>, number, string]> = [
    ['another town\'s campaign', { campaignId: aobaCampaign }, 404, 'campaign_not_found'],
    ['a campaign for administrative grants', { campaignId: grantCampaign }, 409, 'campaign_kind_mismatch'],
    ['a campaign that ended before the event', { campaignId: ended }, 409, 'event_campaign_not_running'],
    ['an event running past the campaign\'s end', { endsOn: '2027-04-02' }, 409, 'event_campaign_not_running'],
    ['an unknown category', { categoryId: 999_999_999 }, 404, 'event_category_not_found'],
    ['an end before the start', { endsOn: '2026-12-09' }, 400, 'request_invalid'],
    ['a date that does not exist', { startsOn: '2026-02-30' }, 400, 'request_invalid'],
    ['no points', { points: 0 }, 400, 'request_invalid'],
    ['fractional points', { points: 1.5 }, 400, 'request_invalid'],
    ['another tap policy', { tapPolicy: 'none' }, 400, 'request_invalid'],
  ];
  for (const [what, change, status, code] of cases) {
    const reply = await staff.post('/api/v1/events', { ...base, ...change });
    t.like(reply, { status, body: { code } }, what);
    t.truthy(reply.body.messages?.ja, what);
  }
  t.is(await count(db, 'events', asked), before);

  const created = await staff.post('/api/v1/events', base);
  t.like(created, { status: 201, body: { startsOn: '2026-12-10', endsOn: '2026-12-10', tapPolicy: 'pin', points: 100, deviceIds: [], category: { id: volunteering, nameJa: 'ボランティア' }, campaign: { id: demoCampaign } } });
  t.like((await staff.get(`/api/v1/events/${created.body.id}`)).body, { id: created.body.id, nameJa: '健康まつり' });
  t.true((await staff.get('/api/v1/events')).body.events.some((e: { id: number }) => e.id === created.body.id));
  const period = await staff.patch(`/api/v1/events/${created.body.id}`, { endsOn: '2026-12-12', tapPolicy: 'tap' });
  t.like(period, { status: 200, body: { startsOn: '2026-12-10', endsOn: '2026-12-12', tapPolicy: 'tap' } });
  // A change is checked against the whole event: the start may not pass the kept end.
  t.like(await staff.patch(`/api/v1/events/${created.body.id}`, { startsOn: '2026-12-13' }), { status: 400, body: { code: 'request_invalid' } });
  t.like(await staff.patch(`/api/v1/events/${created.body.id}`, { campaignId: ended }), { status: 409, body: { code: 'event_campaign_not_running' } });
  t.like((await staff.get(`/api/v1/events/${created.body.id}`)).body, { startsOn: '2026-12-10', endsOn: '2026-12-12', campaign: { id: demoCampaign } });
  t.like(await staff.get('/api/v1/events/999999999'), { status: 404, body: { code: 'event_not_found' } });
  t.like(await staff.put(`/api/v1/events/${created.body.id}/devices`, { deviceIds: [999_999_999] }), { status: 404, body: { code: 'device_not_found' } });
});

test('a device serves one thing at a time: given to an event it leaves its service, given back to a service it leaves the event', async (t) => {
  const { staff, base, pki, device, demoCampaign } = await fixture();
  const counter = await enrollDevice(base, staff, '公民館受付');
  const library = (await staff.post('/api/v1/services', { kind: 'library', nameJa: `公民館図書室${++serial}`, nameEn: `Community library ${serial}` })).body;
  await staff.put(`/api/v1/services/${library.id}/devices`, { deviceIds: [counter.id] });
  const cleanUp = await event(staff, demoCampaign, [counter]);
  t.deepEqual((await staff.get(`/api/v1/services/${library.id}`)).body.deviceIds, []);
  const resident = await firstLogin(pki, device);
  const lookup = await counter.post('/api/v1/auth/card-taps', { purpose: 'service_lookup', certificate: resident.card.certificateDer.toString('base64') });
  t.like(lookup, { status: 403, body: { code: 'device_not_for_service' } }, 'at the event, the device no longer serves the library');
  t.deepEqual((await staff.get(`/api/v1/events/${cleanUp.id}`)).body.deviceIds, [counter.id]);
  const other = await event(staff, demoCampaign, [counter]);
  t.deepEqual((await staff.get(`/api/v1/events/${cleanUp.id}`)).body.deviceIds, [], 'moved to the other event');
  t.deepEqual((await staff.get(`/api/v1/events/${other.id}`)).body.deviceIds, [counter.id]);
  t.is((await staff.put(`/api/v1/services/${library.id}/devices`, { deviceIds: [counter.id] })).status, 200);
  t.deepEqual((await staff.get(`/api/v1/events/${other.id}`)).body.deviceIds, []);
  t.deepEqual((await staff.get(`/api/v1/services/${library.id}`)).body.deviceIds, [counter.id]);
});

test('a shelter takes a device from an event, and an event takes it back from the shelter: the device serves the last it was given to', async (t) => {
  const { staff, base, pki, device, demoCampaign } = await fixture();
  const desk = await enrollDevice(base, staff, '体育館受付');
  const festival = await event(staff, demoCampaign, [desk], { tapPolicy: 'tap' });
  const shelter = (await staff.post('/api/v1/shelters', { nameJa: `みらい市民体育館${++serial}`, nameEn: `Mirai Gym ${serial}`, place: 'みらい市中央1-1', capacity: 50, drill: true })).body;
  t.is((await staff.put(`/api/v1/shelters/${shelter.id}/devices`, { deviceIds: [desk.id] })).status, 200);
  t.deepEqual((await staff.get(`/api/v1/events/${festival.id}`)).body.deviceIds, [], 'the shelter took the desk from the event');
  const resident = await firstLogin(pki, device);
  t.like(await tap(desk, resident.card), { status: 403, body: { code: 'device_not_for_event' } });
  t.like(await desk.post('/api/v1/auth/card-taps', { purpose: 'shelter_check_in', certificate: resident.card.certificateDer.toString('base64') }), { status: 201 });
  t.is((await staff.put(`/api/v1/events/${festival.id}/devices`, { deviceIds: [desk.id] })).status, 200);
  t.deepEqual((await staff.get(`/api/v1/shelters/${shelter.id}`)).body.deviceIds, [], 'the event took it back');
  t.like(await desk.post('/api/v1/auth/card-taps', { purpose: 'shelter_check_out', certificate: resident.card.certificateDer.toString('base64') }), { status: 403, body: { code: 'device_not_for_shelter' } });
  t.like(await tap(desk, resident.card), { status: 201 });
});

test('a tap at the event grants its points once: a second tap answers the first grant, a retry under the same key replays, and the history says what it was for', async (t) => {
  const { db, staff, base, pki, device, demoCampaign } = await fixture();
  const reception = await enrollDevice(base, staff, '清掃活動受付');
  const cleanUp = await event(staff, demoCampaign, [reception], { points: 50 });
  const resident = await firstLogin(pki, device);
  const before = await balance(db, resident.mykeyId);

  const first = await tap(reception, resident.card, 'tap-key-0001');
  t.is(first.status, 201, JSON.stringify(first.body));
  t.like(first.body, { purpose: 'event_attendance', alreadyGranted: false, event: { id: cleanUp.id, nameJa: cleanUp.nameJa }, grant: { points: 50, eventId: cleanUp.id, categoryId: cleanUp.category.id, label: { ja: cleanUp.nameJa, en: cleanUp.nameEn } }, balanceAfter: before + 50 });
  t.false(JSON.stringify(first.body).includes(resident.mykeyId), 'the answer does not show the MyKey ID');
  t.deepEqual(await tap(reception, resident.card, 'tap-key-0001'), first, 'the same key replays the answer');
  const second = await tap(reception, resident.card);
  t.like(second, { status: 201, body: { alreadyGranted: true, grant: first.body.grant, balanceAfter: before + 50 } });
  const withPin = await pinTap(reception, resident.card);
  t.like(withPin, { status: 201, body: { alreadyGranted: true, grant: { entryId: first.body.grant.entryId } } });
  // Taps at once, as a flaky network retrying under new keys would send them: still one grant.
  const burst = await Promise.all(Array.from({ length: 4 }, () => tap(reception, resident.card)));
  t.deepEqual(burst.map((r) => [r.status, r.body.grant?.entryId]), burst.map(() => [201, first.body.grant.entryId]));
  t.is(await balance(db, resident.mykeyId), before + 50);
  t.is(await count(db, 'grant_records', { event_id: cleanUp.id }), 1);

  const history = await staff.get(`/api/v1/staff/grant-history?mykeyId=${resident.mykeyId}`);
  t.like(history, { status: 200, body: { mykeyId: resident.mykeyId } });
  t.like(history.body.grants[0], { entryId: first.body.grant.entryId, points: 50, label: { ja: cleanUp.nameJa }, eventId: cleanUp.id });
  const listed = (await staff.get(`/api/v1/staff/grants?campaign=${DEMO_EVENT_CAMPAIGN.slug}`)).body.grants.find((g: { entryId: number }) => g.entryId === first.body.grant.entryId);
  t.like(listed, { source: 'event', eventId: cleanUp.id, categoryId: cleanUp.category.id, points: 50 });
  const audit = await db('audit_events').where({ action: 'points.granted_at_event', subject: resident.mykeyId });
  t.is(audit.length, 1);
  await ledgerClean(t, db);
});

test('an event that wants the PIN refuses a PIN-less tap and grants after the PIN', async (t) => {
  const { db, staff, base, pki, device, demoCampaign } = await fixture();
  const reception = await enrollDevice(base, staff, '健診受付');
  const checkUp = await event(staff, demoCampaign, [reception], { tapPolicy: 'pin', categoryId: await categoryId(staff, '健康診断'), points: 300 });
  const resident = await firstLogin(pki, device);
  t.like(await tap(reception, resident.card), { status: 403, body: { code: 'card_tap_not_allowed' } });
  t.is(await count(db, 'grant_records', { event_id: checkUp.id }), 0);
  t.like(await pinTap(reception, resident.card), { status: 201, body: { alreadyGranted: false, grant: { points: 300, label: { ja: checkUp.nameJa } } } });
  await ledgerClean(t, db);
});

// Serial: it compares whole tables before and after, which another test's tap would change.
test.serial('a tap outside the event\'s dates, beyond the budget, with a suspended MyKey ID or at a device serving no event is a clear problem and stores nothing', async (t) => {
  const { db, staff, base, pki, device, demoCampaign, aoba } = await fixture();
  const small = await campaign(db, { funded: 80 });
  const [tomorrow, poor, spent] = [await enrollDevice(base, staff, '明日の受付'), await enrollDevice(base, staff, '予算の少ない受付'), await enrollDevice(base, staff, '終わった受付')];
  // Two days off, not one: the test may run past midnight.
  await event(staff, demoCampaign, [tomorrow], { startsOn: dayFrom(2), endsOn: dayFrom(3) });
  await event(staff, demoCampaign, [spent], { startsOn: dayFrom(-3), endsOn: dayFrom(-2) });
  await event(staff, small, [poor], { points: 50 });
  const idle = await enrollDevice(base, staff, '何も受け付けない端末');
  const resident = await firstLogin(pki, device);
  const other = await firstLogin(pki, device);
  const suspended = await firstLogin(pki, device);
  const poorFirst = await tap(poor, other.card);
  t.is(poorFirst.status, 201, 'the first 50 of the 80 points');
  t.is((await staff.post(`/api/v1/staff/mykeys/${suspended.mykeyId}/suspension`, { reason: 'カード紛失の届出' })).status, 200);
  const aobaReception = aoba.device;

  const tables = ['ledger_entries', 'ledger_lots', 'grant_records', 'idempotency_keys'];
  const snapshot = () => Promise.all(tables.map((table) => count(db, table)));
  const before = await snapshot();
  const cases: Array<[string, Promise<{ status: number; body: any }>, number, string]> = [
    ['the day before the event', tap(tomorrow, resident.card), 409, 'event_not_open'],
    ['the day after the event', tap(spent, resident.card), 409, 'event_not_open'],
    ['beyond the campaign\'s budget', tap(poor, resident.card), 409, 'campaign_budget_insufficient'],
    ['a device that serves no event', tap(idle, resident.card), 403, 'device_not_for_event'],
    ['another town\'s device serving none of its events', tap(aobaReception, resident.card), 403, 'device_not_for_event'],
  ];
  for (const [what, reply, status, code] of cases) {
    const { status: got, body } = await reply;
    t.is(got, status, `${what}: ${JSON.stringify(body)}`);
    t.is(body.code, code, what);
    t.truthy(body.messages?.ja && body.messages?.en, what);
  }
  const suspendedTap = await tap(poor, suspended.card);
  t.like(suspendedTap, { status: 403, body: { code: 'mykey_suspended' } });
  t.deepEqual(await snapshot(), before);
  t.is(await balance(db, resident.mykeyId), 0);
  await ledgerClean(t, db);
});

test('the category travels with grants by staff: one by one, in a CSV with a category column (by name or id), and an old CSV without one (uncategorised)', async (t) => {
  const { db, staff, base, pki, device, aoba } = await fixture();
  const lifelong = await categoryId(staff, '生涯学習');
  const child = await categoryId(staff, '子育て教室');
  const [a, b, c] = [await firstLogin(pki, device), await firstLogin(pki, device), await firstLogin(pki, device)];
  const one = await staff.post('/api/v1/staff/grants', { mykeyId: a.mykeyId, campaign: DEMO_GRANT_CAMPAIGN.slug, points: 120, reason: '講座修了', category: lifelong });
  t.like(one, { status: 201, body: { category: { id: lifelong, nameJa: '生涯学習' } } });
  const aobaCategory = (await aoba.staff.get('/api/v1/event-categories')).body.categories[0].id;
  t.like(await staff.post('/api/v1/staff/grants', { mykeyId: a.mykeyId, campaign: DEMO_GRANT_CAMPAIGN.slug, points: 1, reason: 'x', category: aobaCategory }), { status: 404, body: { code: 'event_category_not_found' } });
  const plain = await staff.post('/api/v1/staff/grants', { mykeyId: b.mykeyId, campaign: DEMO_GRANT_CAMPAIGN.slug, points: 10, reason: '分類なし' });
  t.like(plain, { status: 201, body: { category: null } });

  const upload = async (text: string) => {
    const response = await fetch(`${base}/api/v1/staff/grant-uploads?campaign=${DEMO_GRANT_CAMPAIGN.slug}`, { method: 'POST', headers: { cookie: staff.cookie, 'Content-Type': 'text/csv' }, body: text });
    return { status: response.status, body: await response.json() };
  };
  const file = await upload(['mykey_id,points,reason,category', `${a.mykeyId},200,教室,子育て教室`, `${b.mykeyId},30,講座,${lifelong}`, `${c.mykeyId},40,分類なし,`, `${c.mykeyId},50,分類なし2`, `${c.mykeyId},60,不明,存在しない分類`, ''].join('\r\n'));
  t.like(file, { status: 201, body: { records: 5, granted: 4, refused: 1 } });
  const old = await upload(['mykey_id,points,reason', `${b.mykeyId},70,旧形式`, ''].join('\r\n'));
  t.like(old, { status: 201, body: { granted: 1, refused: 0 } });

  const historyOf = async (mykeyId: string) => (await staff.get(`/api/v1/staff/grant-history?mykeyId=${mykeyId}`)).body.grants as Array<{ points: number; categoryId: number | null; label: { ja: string } | null; eventId: number | null }>;
  t.deepEqual((await historyOf(a.mykeyId)).map((g) => [g.points, g.categoryId, g.label?.ja ?? null, g.eventId]), [[200, child, '子育て教室', null], [120, lifelong, '生涯学習', null]]);
  t.deepEqual((await historyOf(b.mykeyId)).map((g) => [g.points, g.categoryId]), [[70, null], [30, lifelong], [10, null]]);
  t.deepEqual((await historyOf(c.mykeyId)).map((g) => [g.points, g.categoryId]).sort(), [[40, null], [50, null]]);
  t.like(await staff.get('/api/v1/staff/grant-history?mykeyId=ABC'), { status: 400, body: { code: 'mykey_id_malformed' } });
  // Another town's staff see none of this town's grants to the resident.
  t.deepEqual((await aoba.staff.get(`/api/v1/staff/grant-history?mykeyId=${a.mykeyId}`)).body.grants, []);
  t.is(await count(db, 'grant_records', { mykey_pk: (await db('mykeys').where({ mykey_id: a.mykeyId }).first('id')).id }), 2);
  await ledgerClean(t, db);
});

test('every grant entry has its record: the ledger\'s grants and the records agree in count and points', async (t) => {
  const { db } = await fixture();
  const [entries] = await db.raw(`SELECT COUNT(*) AS n, COALESCE(SUM(p.amount), 0) AS points FROM ledger_entries e JOIN ledger_postings p ON p.entry_id = e.id
    JOIN ledger_accounts a ON a.id = p.account_id AND a.kind = 'resident' WHERE e.kind = 'grant'`);
  const [records] = await db.raw('SELECT COUNT(*) AS n, COALESCE(SUM(r.points), 0) AS points FROM grant_records r JOIN ledger_entries e ON e.id = r.entry_id AND e.kind = \'grant\'');
  t.deepEqual([Number(records[0].n), Number(records[0].points)], [Number(entries[0].n), Number(entries[0].points)]);
});

test('the town sees the points granted per category and per event over a period, as JSON and as a CSV for Excel', async (t) => {
  const { db, base, pki, device, demoCampaign } = await fixture();
  // The period is the days the test ran on: one, or two when it ran past midnight (Japan).
  const firstDay = today();
  // A town of its own figures: a campaign and a category only this test grants under.
  const staff = await signInStaff(base, 'demo-city');
  const n = ++serial;
  const category = (await staff.post('/api/v1/event-categories', { nameJa: `集計用${n}`, nameEn: `Figures ${n}` })).body.id as number;
  const reception = await enrollDevice(base, staff, '集計の受付');
  const festival = await event(staff, demoCampaign, [reception], { startsOn: firstDay, endsOn: dayAfter(firstDay, 1), categoryId: category, points: 25, nameJa: `夏まつり${n}`, nameEn: `Summer festival ${n}` });
  const residents = [await firstLogin(pki, device), await firstLogin(pki, device), await firstLogin(pki, device)];
  for (const r of residents) t.is((await tap(reception, r.card)).status, 201);
  await tap(reception, residents[0]!.card);
  t.is((await staff.post('/api/v1/staff/grants', { mykeyId: residents[0]!.mykeyId, campaign: DEMO_GRANT_CAMPAIGN.slug, points: 5, reason: '窓口', category })).status, 201);

  const lastDay = today();
  const figures = await staff.get(`/api/v1/event-figures?from=${firstDay}&to=${lastDay}`);
  t.is(figures.status, 200, JSON.stringify(figures.body));
  t.like(figures.body.categories.find((c: { category: { id: number } | null }) => c.category?.id === category), { grants: 4, points: 80 });
  t.like(figures.body.events.find((e: { event: { id: number } }) => e.event.id === festival.id), { grants: 3, points: 75, categoryId: category });
  t.true(figures.body.total.points >= 80);
  const earlier = await staff.get(`/api/v1/event-figures?from=${dayAfter(firstDay, -10)}&to=${dayAfter(firstDay, -1)}`);
  t.like(earlier.body.categories.find((c: { category: { id: number } | null }) => c.category?.id === category), { grants: 0, points: 0 });
  t.false(earlier.body.events.some((e: { event: { id: number } }) => e.event.id === festival.id), 'not held then, nothing granted then');
  for (const query of [`from=${today()}`, 'from=2026-01-01&to=2027-06-01', `from=${today()}&to=${dayFrom(-1)}`, 'from=2026-02-30&to=2026-03-01']) {
    t.like(await staff.get(`/api/v1/event-figures?${query}`), { status: 400, body: { code: 'event_figures_period_invalid' } }, query);
  }

  const response = await fetch(`${base}/api/v1/event-figures.csv?from=${firstDay}&to=${lastDay}`, { headers: { cookie: staff.cookie } });
  t.is(response.status, 200);
  t.regex(response.headers.get('content-disposition') ?? '', new RegExp(`event-figures-town-${DEMO_MUNICIPALITY.code}-${firstDay}-${lastDay}\\.csv`));
  const bytes = Buffer.from(await response.arrayBuffer());
  t.deepEqual([...bytes.subarray(0, 3)], [0xef, 0xbb, 0xbf], 'a BOM, so Excel reads UTF-8');
  const rows = bytes.toString('utf8').slice(1).trimEnd().split('\r\n');
  t.is(rows[0], 'from,to,category_id,category_name_ja,category_name_en,event_id,event_name_ja,event_name_en,grants,points');
  t.true(rows.includes(`${firstDay},${lastDay},${category},集計用${n},Figures ${n},${festival.id},夏まつり${n},Summer festival ${n},3,75`), rows.join('\n'));
  t.true(rows.includes(`${firstDay},${lastDay},${category},集計用${n},Figures ${n},,,,1,5`), rows.join('\n'));
  await ledgerClean(t, db);
});

test('the migration gives every grant made before categories an uncategorised record, and rolls back to the schema before', async (t) => {
  const db = await migratedUpTo((fn) => t.teardown(fn), '20261207020000_events.ts');
  // The town, its campaign and accounts as they were then; the grant posted as the ledger's
  // entries (today's operations read campaign columns that came later).
  const code = '999981';
  await db('municipalities').insert({ code, name_ja: '旧市', name_en: 'Old City' });
  const [campaignId] = await db('campaigns').insert({ municipality_code: code, slug: ref('old-campaign'), name_ja: '旧', name_en: 'Old', premium_percent: 0,
    budget_points: 1_000, cap_per_resident_points: 1_000, starts_on: '2026-04-01', ends_on: '2027-03-31' });
  const [mykeyPk] = await db('mykeys').insert({ mykey_id: 'TESTMIG2', status: 'active', home_municipality_code: code });
  const account = async (owner: Record<string, unknown>) => Number((await db('ledger_accounts').insert({ municipality_code: code, ...owner }))[0]);
  const [fundingAccount, budgetAccount, residentAccount] = [await account({ kind: 'municipality_funding' }), await account({ kind: 'campaign_budget', campaign_id: campaignId }),
    await account({ kind: 'resident', mykey_pk: mykeyPk })];
  const head = (reference: string) => ({ reference, municipalityCode: code, requestHash: requestHash({ reference }), postedAt: NOW });
  await inLedgerTransaction(db, (trx) => post(trx, fundingEntry(head(ref('fund')), { campaignId: Number(campaignId), fundingAccount, budgetAccount, points: 1_000 })));
  const posted = await inLedgerTransaction(db, (trx) => post(trx, grantEntry(head(ref('old-grant')),
    { campaignId: Number(campaignId), budgetAccount, residentAccount, points: 321, expiresAt: endOfTokyoDay('2027-03-31') })));
  await db.migrate.up();
  t.like(await db('grant_records').where({ entry_id: posted.entryId }).first(), { mykey_pk: Number(mykeyPk), points: 321, category_id: null, event_id: null, label_ja: null });
  await db.migrate.down();
  t.false(await db.schema.hasTable('grant_records'));
  t.false(await db.schema.hasColumn('service_devices', 'event_id'));
  await db.migrate.up();
  t.is(await count(db, 'grant_records', { entry_id: posted.entryId }), 1);
});
