// Evacuation shelters: the town opens one, assigns its devices, residents tap in and out (PIN-less,
// or with the PIN), move between shelters, and the staff see the roster, its CSV and the
// headquarters summary; a closed shelter takes no taps, and its records go a set time after.
import test from 'ava';
import { randomUUID } from 'node:crypto';
import { fileFixture, migratedUpTo, silentLog } from './helpers/env.ts';
import { eventsAbout } from '../src/audit/chain.ts';
import { deleteExpiredStays } from '../src/shelters/retention-job.ts';
import { cardSession, enrollDevice, firstLogin, municipalCounter, signInStaff, type Device, type Staff } from './helpers/identity.ts';
import { journalEntry, journalKey, sendJournaled } from './helpers/journal.ts';
import type { IssuedCertificate } from '@mykey/dev-tools/dev-ca/index.ts';

const fixture = fileFixture(test, async (cleanup) => municipalCounter(cleanup));
type Fixture = Awaited<ReturnType<typeof fixture>>;

let serial = 0;
/** An open shelter of the clerk's town, served by `devices`. */
async function shelter(staff: Staff, devices: Device[], fields: Record<string, unknown> = {}) {
  const opened = await staff.post('/api/v1/shelters', { nameJa: `みらい小学校体育館${++serial}`, nameEn: `Mirai Elementary School Gym ${serial}`, place: 'みらい市中央1-2-3', capacity: 3, drill: true, ...fields });
  if (opened.status !== 201) throw new Error(JSON.stringify(opened.body));
  const assigned = await staff.put(`/api/v1/shelters/${opened.body.id}/devices`, { deviceIds: devices.map((d) => d.id) });
  if (assigned.status !== 200) throw new Error(JSON.stringify(assigned.body));
  return assigned.body as { id: number; nameJa: string; nameEn: string; capacity: number; deviceIds: number[] };
}

const tap = (device: Device, card: IssuedCertificate, purpose: 'shelter_check_in' | 'shelter_check_out', key?: string) =>
  device.post('/api/v1/auth/card-taps', { purpose, certificate: card.certificateDer.toString('base64') }, key);
const checkIn = (device: Device, card: IssuedCertificate, key?: string) => tap(device, card, 'shelter_check_in', key);
const checkOut = (device: Device, card: IssuedCertificate) => tap(device, card, 'shelter_check_out');

/** The stays recorded for a resident, oldest first. */
async function staysOf(db: Fixture['db'], mykeyId: string) {
  return db('shelter_stays as st').join('mykeys as m', 'm.id', 'st.mykey_pk').where({ 'm.mykey_id': mykeyId }).orderBy('st.id')
    .select('st.shelter_id', 'st.in_at', 'st.out_at', 'st.out_by', 'st.in_device_id', 'st.out_device_id');
}

test('a clerk opens a shelter for a drill, changes it and closes it; bad fields are refused and nothing is stored; every change is audited', async (t) => {
  const { staff, device, db } = await fixture();
  const opened = await shelter(staff, [device], { capacity: 120 });
  t.like(opened, { capacity: 120, drill: true, deviceIds: [device.id], closedAt: null });
  t.like((await staff.get(`/api/v1/shelters/${opened.id}`)).body, { id: opened.id, place: 'みらい市中央1-2-3', deviceIds: [device.id] });
  t.true((await staff.get('/api/v1/shelters')).body.shelters.some((s: { id: number }) => s.id === opened.id));
  // Other tests open shelters meanwhile: the refused ones are counted by their own name.
  const good = { nameJa: '拒否される避難所', nameEn: 'Refused Shelter', place: '中央', capacity: 10, drill: false };
  for (const bad of [{ ...good, capacity: 0 }, { ...good, capacity: 2.5 }, { ...good, capacity: -3 }, { ...good, capacity: '10' }, { ...good, nameJa: '' }, { ...good, place: '一丁目\n二丁目' }, { ...good, drill: 'yes' }, { ...good, extra: 1 }, { nameJa: '避難所' }]) {
    t.like(await staff.post('/api/v1/shelters', bad), { status: 400, body: { code: 'request_invalid' } }, JSON.stringify(bad));
  }
  t.is((await staff.post('/api/v1/shelters', good, '')).status, 400, 'no change without an Idempotency-Key');
  t.is(Number((await db('shelters').where({ name_en: good.nameEn }).count({ n: '*' }))[0]!.n), 0, 'no refused shelter is stored');
  t.like(await staff.patch(`/api/v1/shelters/${opened.id}`, {}), { status: 400, body: { code: 'request_invalid' } });
  t.like(await staff.patch(`/api/v1/shelters/${opened.id}`, { capacity: 80, drill: false }), { status: 200, body: { capacity: 80, drill: false, nameJa: opened.nameJa } });
  t.like(await staff.put(`/api/v1/shelters/${opened.id}/devices`, { deviceIds: [999_999_999] }), { status: 404, body: { code: 'device_not_found' } });
  t.like(await staff.get('/api/v1/shelters/999999999'), { status: 404, body: { code: 'shelter_not_found' } });
  t.like(await staff.get('/api/v1/shelters/abc'), { status: 404, body: { code: 'shelter_not_found' } });

  const key = randomUUID();
  const closed = await staff.post(`/api/v1/shelters/${opened.id}/close`, {}, key);
  t.is(closed.status, 200);
  t.truthy(closed.body.closedAt);
  t.deepEqual(await staff.post(`/api/v1/shelters/${opened.id}/close`, {}, key), closed, 'the same key answers the same, again');
  t.like(await staff.post(`/api/v1/shelters/${opened.id}/close`, {}), { status: 409, body: { code: 'shelter_closed' } });
  t.like(await staff.patch(`/api/v1/shelters/${opened.id}`, { capacity: 5 }), { status: 409, body: { code: 'shelter_closed' } });
  t.like(await staff.put(`/api/v1/shelters/${opened.id}/devices`, { deviceIds: [] }), { status: 409, body: { code: 'shelter_closed' } });
  t.like((await staff.get(`/api/v1/shelters/${opened.id}`)).body, { capacity: 80, closedAt: closed.body.closedAt });
  const actions = (await eventsAbout(db, `shelter:${opened.id}`)).map((e: { action: string }) => e.action);
  t.deepEqual(actions, ['shelter.closed', 'shelter.updated', 'shelter.devices_set', 'shelter.opened'], 'newest first');
});

test('a shop clerk has no shelters, and a shop register cannot check anyone in', async (t) => {
  const { base, pki, device } = await fixture();
  const shop = await signInStaff(base, 'demo-shop');
  t.is((await shop.get('/api/v1/shelters')).status, 403);
  t.is((await shop.post('/api/v1/shelters', { nameJa: 'x', nameEn: 'x', place: 'x', capacity: 1, drill: true })).status, 403);
  const register = await enrollDevice(base, shop, 'レジ');
  t.like(await checkIn(register, (await firstLogin(pki, device)).card), { status: 403, body: { code: 'purpose_not_for_device' } });
});

test('a device serves one thing at a time, the last it was given to: a shelter takes it from its service and from another shelter, a service takes it back', async (t) => {
  const { staff, base, pki, device } = await fixture();
  const counter = await enrollDevice(base, staff, '公民館受付');
  const hall = (await staff.post('/api/v1/services', { kind: 'community_centre', nameJa: `みらい公民館${++serial}`, nameEn: `Mirai Hall ${serial}`, tapPolicy: 'tap' })).body;
  await staff.put(`/api/v1/services/${hall.id}/devices`, { deviceIds: [counter.id] });
  const resident = await firstLogin(pki, device);

  const first = await shelter(staff, [counter]);
  t.deepEqual((await staff.get(`/api/v1/services/${hall.id}`)).body.deviceIds, [], 'the shelter took the counter from the service');
  t.like(await counter.post('/api/v1/auth/card-taps', { purpose: 'service_lookup', certificate: resident.card.certificateDer.toString('base64') }), { status: 403, body: { code: 'device_not_for_service' } });
  t.like(await checkIn(counter, resident.card), { status: 201, body: { shelter: { id: first.id } } });

  const second = await shelter(staff, [counter]);
  t.deepEqual((await staff.get(`/api/v1/shelters/${first.id}`)).body.deviceIds, [], 'the second shelter took it from the first');
  t.like(await checkIn(counter, resident.card), { status: 201, body: { shelter: { id: second.id }, moved: true } });

  await staff.put(`/api/v1/services/${hall.id}/devices`, { deviceIds: [counter.id] });
  t.deepEqual((await staff.get(`/api/v1/shelters/${second.id}`)).body.deviceIds, [], 'given back to the service, it serves the shelter no more');
  t.like(await checkOut(counter, resident.card), { status: 403, body: { code: 'device_not_for_shelter' } });
  t.like(await checkIn(await enrollDevice(base, staff, '未割当'), resident.card), { status: 403, body: { code: 'device_not_for_shelter' } });
});

test('check in PIN-less, again (already inside, one record), move to another shelter, check out, and out again (not inside); with the PIN too', async (t) => {
  const { staff, base, pki, device, db } = await fixture();
  const [gymDesk, hallDesk] = [await enrollDevice(base, staff, '体育館受付'), await enrollDevice(base, staff, '公民館受付')];
  const gym = await shelter(staff, [gymDesk]);
  const hall = await shelter(staff, [hallDesk]);
  const resident = await firstLogin(pki, device);

  const key = randomUUID();
  const inside = await checkIn(gymDesk, resident.card, key);
  t.like(inside, { status: 201, body: { purpose: 'shelter_check_in', result: 'checked_in', shelter: { id: gym.id, nameJa: gym.nameJa }, moved: false, inside: 1, capacity: 3 } });
  t.regex(inside.body.messages.ja, /入所を受け付けました/);
  t.regex(inside.body.messages.en, /checked in/);
  t.false(JSON.stringify(inside.body).includes(resident.mykeyId), 'the screen is not shown the MyKey ID');
  t.deepEqual(await checkIn(gymDesk, resident.card, key), inside, 'a retry of the same tap answers the same');

  const again = await checkIn(gymDesk, resident.card);
  t.like(again, { status: 201, body: { result: 'already_inside', since: inside.body.since, inside: 1 } });
  t.regex(again.body.messages.ja, /すでに.*入所しています（\d{4}-\d\d-\d\d \d\d:\d\d:\d\d から）/);
  t.is((await staysOf(db, resident.mykeyId)).length, 1, 'twice inside is one record');

  const moved = await checkIn(hallDesk, resident.card);
  t.like(moved, { status: 201, body: { result: 'checked_in', moved: true, shelter: { id: hall.id }, inside: 1 } });
  let stays = await staysOf(db, resident.mykeyId);
  t.is(stays.length, 2);
  t.like(stays[0], { shelter_id: gym.id, out_by: 'move', out_device_id: null, in_device_id: gymDesk.id });
  t.is(stays[0].out_at.toISOString(), moved.body.since, 'out of the first at the moment of the move');
  t.like(stays[1], { shelter_id: hall.id, out_at: null, in_device_id: hallDesk.id });
  t.like((await staff.get(`/api/v1/shelters/${gym.id}/roster`)).body, { inside: 0, people: [] });

  t.like(await checkOut(gymDesk, resident.card), { status: 409, body: { code: 'shelter_not_inside' } }, 'not inside the shelter they left');
  const out = await checkOut(hallDesk, resident.card);
  t.like(out, { status: 201, body: { purpose: 'shelter_check_out', result: 'checked_out', since: moved.body.since, inside: 0 } });
  t.regex(out.body.messages.ja, /退所を記録しました/);
  stays = await staysOf(db, resident.mykeyId);
  t.like(stays[1], { out_by: 'tap', out_device_id: hallDesk.id });
  t.is(stays[1].out_at.toISOString(), out.body.outAt);
  const notInside = await checkOut(hallDesk, resident.card);
  t.like(notInside, { status: 409, body: { code: 'shelter_not_inside' } });
  t.regex(notInside.body.messages.ja, /入所が記録されていません/);

  const withPin = await cardSession(gymDesk, resident.card, 'shelter_check_in');
  t.like(withPin, { status: 201, body: { purpose: 'shelter_check_in', result: 'checked_in', shelter: { id: gym.id } } });
  t.like(await cardSession(gymDesk, resident.card, 'shelter_check_out'), { status: 201, body: { result: 'checked_out' } });
  t.is((await staysOf(db, resident.mykeyId)).length, 3);
  t.like(await checkIn(gymDesk, await pki.card()), { status: 409, body: { code: 'shelter_card_unknown' } }, 'a card with no MyKey ID');
});

test("taps sent late from the desk's journal: the check-in is on the roster since the card was tapped, the check-out after it at its own time; a check-in sent twice is one stay", async (t) => {
  const { staff, base, pki, device, db } = await fixture();
  const desk = await enrollDevice(base, staff, '停電中の受付');
  const gym = await shelter(staff, [desk]);
  const { privateKey } = await journalKey(desk);
  const resident = await firstLogin(pki, device);
  const now = Date.now();
  const [inAt, outAt] = [new Date(now - 2 * 3_600_000), new Date(now - 3_600_000)];

  const checkInEntry = journalEntry(desk, privateKey, resident.card, inAt, 'shelter_check_in');
  const inside = await sendJournaled(desk, checkInEntry);
  t.like(inside, { status: 201, body: { result: 'checked_in', since: inAt.toISOString(), inside: 1 } });
  t.deepEqual(await sendJournaled(desk, checkInEntry), inside, 'sent again (the answer lost): the same answer');
  t.deepEqual((await staff.get(`/api/v1/shelters/${gym.id}/roster`)).body.people, [{ mykeyId: resident.mykeyId, since: inAt.toISOString(), deviceId: desk.id }]);
  t.is((await staysOf(db, resident.mykeyId)).length, 1, 'sent twice, recorded once');

  const out = await sendJournaled(desk, journalEntry(desk, privateKey, resident.card, outAt, 'shelter_check_out'));
  t.like(out, { status: 201, body: { result: 'checked_out', since: inAt.toISOString(), outAt: outAt.toISOString(), inside: 0 } });
  const stays = await staysOf(db, resident.mykeyId);
  t.is(stays.length, 1);
  t.like(stays[0], { shelter_id: gym.id, out_by: 'tap', in_device_id: desk.id, out_device_id: desk.id });
  t.is(stays[0].in_at.toISOString(), inAt.toISOString());
  t.is(stays[0].out_at.toISOString(), outAt.toISOString());
  t.like((await staff.get(`/api/v1/shelters/${gym.id}/roster`)).body, { inside: 0, people: [] });
});

test('one card tapped at two shelters at once is inside one of them only', async (t) => {
  const { staff, base, pki, device, db } = await fixture();
  const desks = [await enrollDevice(base, staff, '東受付'), await enrollDevice(base, staff, '西受付')];
  await shelter(staff, [desks[0]!]);
  await shelter(staff, [desks[1]!]);
  const resident = await firstLogin(pki, device);
  const replies = await Promise.all([...desks, ...desks].map((desk) => checkIn(desk, resident.card)));
  t.true(replies.every((reply) => reply.status === 201), JSON.stringify(replies.map((r) => r.body)));
  const stays = await staysOf(db, resident.mykeyId);
  t.is(stays.filter((stay: { out_at: Date | null }) => stay.out_at === null).length, 1, 'inside one shelter');
  t.true(stays.every((stay: { out_at: Date | null; out_by: string | null }) => stay.out_at === null || stay.out_by === 'move'));
});

test('the roster: who is inside since when, the count against capacity (over it too), and its CSV for headquarters', async (t) => {
  const { staff, base, pki, device } = await fixture();
  const desk = await enrollDevice(base, staff, '中学校受付');
  const school = await shelter(staff, [desk], { capacity: 2, nameJa: '避難所,"第一"', nameEn: '=Shelter One' });
  const residents = [await firstLogin(pki, device), await firstLogin(pki, device), await firstLogin(pki, device)];
  const ins: Array<{ since: string; inside: number }> = [];
  for (const resident of residents) ins.push((await checkIn(desk, resident.card)).body);
  t.like(ins[2], { inside: 3, capacity: 2 }, 'nobody is turned away when it is full; the count says so');
  await checkOut(desk, residents[1]!.card);

  const roster = await staff.get(`/api/v1/shelters/${school.id}/roster`);
  t.like(roster, { status: 200, body: { inside: 2, capacity: 2, shelter: { id: school.id } } });
  t.deepEqual(roster.body.people, [residents[0]!, residents[2]!].map((r, i) => ({ mykeyId: r.mykeyId, since: ins[i * 2]!.since, deviceId: desk.id })));

  const response = await fetch(`${base}/api/v1/shelters/${school.id}/roster.csv`, { headers: { cookie: staff.cookie } });
  t.is(response.status, 200);
  t.is(response.headers.get('content-type'), 'text/csv; charset=utf-8');
  t.regex(response.headers.get('content-disposition') ?? '', new RegExp(`attachment; filename="shelter-${school.id}-roster-\\d{8}T\\d{4}\\.csv"`));
  const bytes = Buffer.from(await response.arrayBuffer());
  t.deepEqual([...bytes.subarray(0, 3)], [0xef, 0xbb, 0xbf], 'starts with the BOM');
  const jst = (iso: string) => new Date(Date.parse(iso) + 9 * 3_600_000).toISOString().slice(0, 19).replace('T', ' ');
  t.is(bytes.subarray(3).toString('utf8'), [
    'shelter_id,shelter_name_ja,shelter_name_en,mykey_id,checked_in_at_jst,device_id',
    `${school.id},"避難所,""第一""",'=Shelter One,${residents[0]!.mykeyId},${jst(ins[0]!.since)},${desk.id}`,
    `${school.id},"避難所,""第一""",'=Shelter One,${residents[2]!.mykeyId},${jst(ins[2]!.since)},${desk.id}`,
    '',
  ].join('\r\n'));
});

test('closing a shelter checks everyone out and it takes no more taps; the summary shows every open shelter of the town only', async (t) => {
  const { staff, base, pki, device, db } = await fixture();
  const [eastDesk, westDesk] = [await enrollDevice(base, staff, '東小受付'), await enrollDevice(base, staff, '西小受付')];
  const east = await shelter(staff, [eastDesk], { capacity: 50 });
  const west = await shelter(staff, [westDesk], { capacity: 30, drill: false });
  const [one, two] = [await firstLogin(pki, device), await firstLogin(pki, device)];
  await checkIn(eastDesk, one.card);
  const last = (await checkIn(eastDesk, two.card)).body;

  const summary = await staff.get('/api/v1/shelters/summary');
  t.is(summary.status, 200);
  const line = (id: number) => summary.body.shelters.find((s: { shelter: { id: number } }) => s.shelter.id === id);
  t.like(line(east.id), { inside: 2, capacity: 50, lastChangeAt: last.since, shelter: { nameJa: east.nameJa, drill: true } });
  t.like(line(west.id), { inside: 0, capacity: 30, shelter: { drill: false } });
  t.is(line(west.id).lastChangeAt, (await staff.get(`/api/v1/shelters/${west.id}`)).body.openedAt, 'no tap yet: the opening');

  const closed = await staff.post(`/api/v1/shelters/${east.id}/close`, {});
  t.is(closed.status, 200);
  const stays = await db('shelter_stays').where({ shelter_id: east.id });
  t.true(stays.every((s: { out_at: Date; out_by: string }) => s.out_by === 'close' && s.out_at.toISOString() === closed.body.closedAt));
  t.like((await staff.get(`/api/v1/shelters/${east.id}/roster`)).body, { inside: 0, people: [] });
  t.like(await checkIn(eastDesk, one.card), { status: 409, body: { code: 'shelter_closed' } });
  t.like(await checkOut(eastDesk, one.card), { status: 409, body: { code: 'shelter_closed' } });
  t.like(await checkIn(westDesk, one.card), { status: 201, body: { moved: false } }, 'out of the closed one, they may go in elsewhere');
  const after = (await staff.get('/api/v1/shelters/summary')).body.shelters.map((s: { shelter: { id: number } }) => s.shelter.id);
  t.false(after.includes(east.id), 'a closed shelter leaves the summary');
  t.true(after.includes(west.id));
  const aoba = await signInStaff(base, 'demo-aoba-city');
  t.false((await aoba.get('/api/v1/shelters/summary')).body.shelters.some((s: { shelter: { id: number } }) => [east.id, west.id].includes(s.shelter.id)), "another town's summary has none of them");
});

test('retention: the records of a shelter closed longer ago than the period are deleted; those of one closed since, or open, are kept', async (t) => {
  const { staff, base, pki, device, db } = await fixture();
  const desks = [await enrollDevice(base, staff, '旧避難所受付'), await enrollDevice(base, staff, '最近の避難所受付'), await enrollDevice(base, staff, '開設中受付')];
  const [old, recent, open] = [await shelter(staff, [desks[0]!]), await shelter(staff, [desks[1]!]), await shelter(staff, [desks[2]!])];
  const residents = [await firstLogin(pki, device), await firstLogin(pki, device), await firstLogin(pki, device)];
  for (const [i, resident] of residents.entries()) {
    await checkIn(desks[i]!, resident.card);
    await checkOut(desks[i]!, resident.card);
    await checkIn(desks[i]!, resident.card);
  }
  for (const s of [old, recent]) t.is((await staff.post(`/api/v1/shelters/${s.id}/close`, {})).status, 200);
  const now = Date.now();
  const DAY = 86_400_000;
  // Closed 31 days ago, and 29 days ago, against a period of 30 days.
  await db('shelters').where({ id: old.id }).update({ closed_at: new Date(now - 31 * DAY) });
  await db('shelters').where({ id: recent.id }).update({ closed_at: new Date(now - 29 * DAY) });
  const count = async (id: number) => Number((await db('shelter_stays').where({ shelter_id: id }).count({ n: '*' }))[0]!.n);

  t.true(await deleteExpiredStays(db, silentLog, 30, new Date(now), 1) >= 2, 'in batches of one');
  t.is(await count(old.id), 0);
  t.is(await count(recent.id), 2);
  t.is(await count(open.id), 2);
  t.like((await staff.get(`/api/v1/shelters/${old.id}`)).body, { id: old.id }, 'the shelter itself stays, without its records');
});

test('the migration to one assignment per device keeps what each device served: a shelter\'s desk stays, a device a service took since serves the service; and rolls back', async (t) => {
  const db = await migratedUpTo((fn) => t.teardown(fn), '20261208070000_device_assignments.ts');
  await db('municipalities').insert({ code: '999991', name_ja: '割当市', name_en: 'Assign City' });
  const [staffId] = await db('staff_accounts').insert({ login_id: 'assign', display_name: '職員', organization_kind: 'municipality', roles: 'operator', municipality_code: '999991', password_hash: 'x' });
  const now = new Date();
  const devices: number[] = [];
  for (const name of ['desk', 'taken back', 'library']) {
    const [id] = await db('devices').insert({ municipality_code: '999991', name, token_hash: Buffer.alloc(32, devices.length + 1), enrolled_at: now, enrolled_by_staff_id: staffId });
    devices.push(Number(id));
  }
  const [serviceId] = await db('services').insert({ municipality_code: '999991', kind: 'library', name_ja: '図書館', name_en: 'Library', created_at: now, updated_at: now });
  const [shelterId] = await db('shelters').insert({ municipality_code: '999991', name_ja: '体育館', name_en: 'Gym', place: '本町', capacity: 10, drill: true, opened_at: now, updated_at: now });
  const [desk, takenBack, library] = devices as [number, number, number];
  await db('shelter_devices').insert([{ device_id: desk, shelter_id: shelterId }, { device_id: takenBack, shelter_id: shelterId }]);
  await db('service_devices').insert([{ device_id: takenBack, service_id: serviceId }, { device_id: library, service_id: serviceId }]);
  await db.migrate.up();
  const rows = await db('device_assignments').orderBy('device_id').select('device_id', 'service_id', 'event_id', 'shelter_id');
  t.deepEqual(rows.map((row) => ({ ...row })), [
    { device_id: desk, service_id: null, event_id: null, shelter_id: Number(shelterId) },
    { device_id: takenBack, service_id: Number(serviceId), event_id: null, shelter_id: null },
    { device_id: library, service_id: Number(serviceId), event_id: null, shelter_id: null },
  ]);
  await t.throwsAsync(db('device_assignments').where({ device_id: desk }).update({ service_id: serviceId }), undefined, 'one thing at a time, by the schema');
  await db.migrate.down();
  t.deepEqual((await db('shelter_devices').select('device_id')).map((row) => Number(row.device_id)), [desk]);
  t.is((await db('service_devices').count({ n: '*' }))[0]!.n, 2);
});
