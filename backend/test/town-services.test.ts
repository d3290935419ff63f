// A town's services and the memberships residents link to their MyKey ID: the clerk registers a
// library and its counter, opens a link the resident's card signs, and the card then finds the
// member number at the counter, with the PIN or (where the service allows) without.
import test from 'ava';
import { issueCrl } from '@mykey/dev-tools/dev-ca/index.ts';
import { fileFixture } from './helpers/env.ts';
import { eventsAbout } from '../src/audit/chain.ts';
import { cardProof, cardSession, enrollDevice, firstLogin, municipalCounter, provenCard, secondTown, signInStaff, type Device, type Staff } from './helpers/identity.ts';
import type { IssuedCertificate } from '@mykey/dev-tools/dev-ca/index.ts';

const fixture = fileFixture(test, async (cleanup) => municipalCounter(cleanup));

let serial = 0;
/** A service of the clerk's town, served by `devices`. */
async function library(staff: Staff, devices: Device[], fields: Record<string, unknown> = {}) {
  const created = await staff.post('/api/v1/services', { kind: 'library', nameJa: `みらい市立図書館${++serial}`, nameEn: `Mirai City Library ${serial}`, ...fields });
  if (created.status !== 201) throw new Error(JSON.stringify(created.body));
  const assigned = await staff.put(`/api/v1/services/${created.body.id}/devices`, { deviceIds: devices.map((d) => d.id) });
  if (assigned.status !== 200) throw new Error(JSON.stringify(assigned.body));
  return assigned.body as { id: number; nameJa: string; tapPolicy: string };
}

/** The clerk opens a request; the resident's card signs it at `device`. */
async function signRequest(staff: Staff, serviceId: number, device: Device, card: IssuedCertificate, action: 'link' | 'unlink', memberNumber: string) {
  const request = await staff.post(`/api/v1/services/${serviceId}/membership-requests`, { action, memberNumber });
  if (request.status !== 201) return request;
  const challenge = await device.post('/api/v1/auth/challenges', { purpose: `service_${action}`, membershipRequestId: request.body.requestId });
  if (challenge.status !== 201) return challenge;
  return device.post('/api/v1/auth/card-sessions', cardProof(challenge.body, card));
}

const tap = (device: Device, card: IssuedCertificate) => device.post('/api/v1/auth/card-taps', { purpose: 'service_lookup', certificate: card.certificateDer.toString('base64') });
const memberNumberOf = (n: number) => `L${String(n).padStart(7, '0')}`;
let member = 0;

test('a clerk registers a library, names its counter, and finds it again; bad fields and a second service of the same name are refused', async (t) => {
  const { staff, device } = await fixture();
  const service = await library(staff, [device]);
  t.like(service, { tapPolicy: 'pin', deviceIds: [device.id] });
  t.like((await staff.get(`/api/v1/services/${service.id}`)).body, { id: service.id, kind: 'library', deviceIds: [device.id] });
  t.true((await staff.get('/api/v1/services')).body.services.some((s: { id: number }) => s.id === service.id));
  t.like(await staff.post('/api/v1/services', { kind: 'library', nameJa: service.nameJa, nameEn: 'Another' }), { status: 409, body: { code: 'service_name_taken' } });
  for (const bad of [{ kind: 'casino', nameJa: 'x', nameEn: 'x' }, { kind: 'library', nameJa: '図書館\n2', nameEn: 'x' }, { kind: 'library', nameJa: '', nameEn: 'x' }, { kind: 'library', nameJa: 'x', nameEn: 'x', tapPolicy: 'none' }]) {
    t.like(await staff.post('/api/v1/services', bad), { status: 400, body: { code: 'request_invalid' } }, JSON.stringify(bad));
  }
  const changed = await staff.patch(`/api/v1/services/${service.id}`, { tapPolicy: 'tap', nameEn: 'Central Library' });
  t.like(changed, { status: 200, body: { tapPolicy: 'tap', nameEn: 'Central Library', nameJa: service.nameJa } });
  t.like(await staff.put(`/api/v1/services/${service.id}/devices`, { deviceIds: [999_999_999] }), { status: 404, body: { code: 'device_not_found' } });
  t.like(await staff.get('/api/v1/services/999999999'), { status: 404, body: { code: 'service_not_found' } });
});

test('a device moved to another service serves only that one', async (t) => {
  const { staff, base } = await fixture();
  const counter = await enrollDevice(base, staff, '移動する端末');
  const first = await library(staff, [counter]);
  const second = await library(staff, [counter]);
  t.deepEqual((await staff.get(`/api/v1/services/${first.id}`)).body.deviceIds, []);
  t.deepEqual((await staff.get(`/api/v1/services/${second.id}`)).body.deviceIds, [counter.id]);
});

test('link: the card signs the service and the member number shown, then a tap at the counter answers that number and logs a use', async (t) => {
  const { staff, base, pki, db } = await fixture();
  const counter = await enrollDevice(base, staff, '図書館カウンター');
  const service = await library(staff, [counter]);
  const resident = await firstLogin(pki, counter);
  const number = memberNumberOf(++member);
  // Typed in full-width lower case: the number as the card carries it.
  const typed = number.toLowerCase().replace(/[0-9a-z]/g, (c) => String.fromCharCode(c.charCodeAt(0) + 0xfee0));
  const request = await staff.post(`/api/v1/services/${service.id}/membership-requests`, { action: 'link', memberNumber: typed });
  t.like(request, { status: 201, body: { action: 'link', memberNumber: number, service: { id: service.id, nameJa: service.nameJa } } });
  const challenge = await counter.post('/api/v1/auth/challenges', { purpose: 'service_link', membershipRequestId: request.body.requestId });
  t.is(challenge.status, 201, JSON.stringify(challenge.body));
  const text = Buffer.from(challenge.body.challenge, 'base64').toString('utf8');
  t.true(text.endsWith(`membership-request: ${request.body.requestId}\nservice: ${service.id} ${service.nameJa}\nmember-number: ${number}\n`), text);
  const linked = await counter.post('/api/v1/auth/card-sessions', cardProof(challenge.body, resident.card));
  t.like(linked, { status: 201, body: { purpose: 'service_link', service: { id: service.id }, membership: { memberNumber: number } } });
  t.regex(linked.body.membership.pseudonym, /^[2-9A-Z]{4}-[2-9A-Z]{4}-[2-9A-Z]{4}$/);
  t.false(JSON.stringify(linked.body).includes(resident.mykeyId), 'the service never sees the MyKey ID');

  const looked = await cardSession(counter, resident.card, 'service_lookup');
  t.like(looked, { status: 201, body: { linked: true, memberNumber: number, pseudonym: linked.body.membership.pseudonym, service: { id: service.id } } });
  t.false(JSON.stringify(looked.body).includes(resident.mykeyId));
  t.like(await tap(counter, resident.card), { status: 403, body: { code: 'card_tap_not_allowed' } }, 'the service wants the PIN');
  await staff.patch(`/api/v1/services/${service.id}`, { tapPolicy: 'tap' });
  t.like(await tap(counter, resident.card), { status: 201, body: { linked: true, memberNumber: number } });
  const uses = await db('service_uses').where({ service_id: service.id, device_id: counter.id }).count({ n: '*' });
  t.is(Number(uses[0]!.n), 2, 'a use for each tap that found the member');
  t.like(await signRequest(staff, service.id, counter, resident.card, 'link', number), { status: 409, body: { code: 'membership_number_taken' } }, 'asked again: the number is taken');
  t.like((await staff.get(`/api/v1/services/${service.id}/memberships?memberNumber=${number}`)).body, { memberNumber: number, pseudonym: linked.body.membership.pseudonym });
});

test('one number per MyKey ID at a service, one MyKey ID per number; the request is used once', async (t) => {
  const { staff, base, pki } = await fixture();
  const counter = await enrollDevice(base, staff, '体育館受付');
  const gym = await library(staff, [counter], { kind: 'sports_facility' });
  const [one, two] = [await firstLogin(pki, counter), await firstLogin(pki, counter)];
  const number = memberNumberOf(++member);
  t.is((await signRequest(staff, gym.id, counter, one.card, 'link', number)).status, 201);
  const second = await signRequest(staff, gym.id, counter, one.card, 'link', memberNumberOf(++member));
  t.like(second, { status: 409, body: { code: 'membership_exists', memberNumber: number } });
  // Two requests for one number, both signed: the second card finds it taken.
  const raced = memberNumberOf(++member);
  const first = await staff.post(`/api/v1/services/${gym.id}/membership-requests`, { action: 'link', memberNumber: raced });
  const other = await staff.post(`/api/v1/services/${gym.id}/membership-requests`, { action: 'link', memberNumber: raced });
  const sign = async (requestId: string, card: IssuedCertificate) => {
    const challenge = await counter.post('/api/v1/auth/challenges', { purpose: 'service_link', membershipRequestId: requestId });
    return counter.post('/api/v1/auth/card-sessions', cardProof(challenge.body, card));
  };
  t.is((await sign(first.body.requestId, two.card)).status, 201);
  t.like(await sign(other.body.requestId, (await firstLogin(pki, counter)).card), { status: 409, body: { code: 'membership_number_taken' } });
  t.like(await counter.post('/api/v1/auth/challenges', { purpose: 'service_link', membershipRequestId: first.body.requestId }), { status: 409, body: { code: 'membership_request_not_open' } });
  t.like(await counter.post('/api/v1/auth/challenges', { purpose: 'service_unlink', membershipRequestId: other.body.requestId }), { status: 404, body: { code: 'membership_request_not_found' } }, 'a link request is no unlink');
});

test('bad input at the counter: a device serving no service or another one, an unknown card, a suspended MyKey ID, an unlinked card', async (t) => {
  const { staff, base, pki, device } = await fixture();
  const counter = await enrollDevice(base, staff, '自転車駐車場');
  const parking = await library(staff, [counter], { kind: 'bicycle_parking', tapPolicy: 'tap' });
  const elsewhere = await library(staff, []);
  const request = await staff.post(`/api/v1/services/${elsewhere.id}/membership-requests`, { action: 'link', memberNumber: memberNumberOf(++member) });
  t.like(await counter.post('/api/v1/auth/challenges', { purpose: 'service_link', membershipRequestId: request.body.requestId }), { status: 404, body: { code: 'membership_request_not_found' } });
  const unserved = await enrollDevice(base, staff, 'どこにも属さない端末');
  t.like(await tap(unserved, (await firstLogin(pki, device)).card), { status: 403, body: { code: 'device_not_for_service' } });
  t.like(await tap(counter, await pki.card()), { status: 409, body: { code: 'service_card_unknown' } });
  const resident = await firstLogin(pki, device);
  const unlinked = await tap(counter, resident.card);
  t.like(unlinked, { status: 201, body: { linked: false, service: { id: parking.id } } });
  t.regex(unlinked.body.messages.ja, /つないでください/);
  t.is((await staff.post(`/api/v1/staff/mykeys/${resident.mykeyId}/suspension`, { reason: '紛失の届出' })).status, 200);
  t.like(await tap(counter, resident.card), { status: 403, body: { code: 'mykey_suspended' } });
  const shop = await enrollDevice(base, await signInStaff(base, 'demo-shop'), 'レジ');
  t.like(await tap(shop, resident.card), { status: 403, body: { code: 'purpose_not_for_device' } }, "a shop's register is no service counter");
});

test('taps at many gates at once: each answered its own number with one use; a twin and a retry get the first answer; a suspended card is refused alone', async (t) => {
  const { staff, base, pki, db, device } = await fixture();
  const gates = await Promise.all(Array.from({ length: 4 }, (_, i) => enrollDevice(base, staff, `体育館ゲート${i + 1}`)));
  const gym = await library(staff, gates, { kind: 'sports_facility', tapPolicy: 'tap' });
  const residents: Array<{ card: IssuedCertificate; mykeyId: string; number: string }> = [];
  for (let i = 0; i < 9; i++) {
    const resident = await firstLogin(pki, device);
    const number = memberNumberOf(++member);
    t.is((await signRequest(staff, gym.id, gates[0]!, resident.card, 'link', number)).status, 201);
    residents.push({ ...resident, number });
  }
  const suspended = residents.pop()!;
  t.is((await staff.post(`/api/v1/staff/mykeys/${suspended.mykeyId}/suspension`, { reason: '紛失の届出' })).status, 200);
  const body = (card: IssuedCertificate) => ({ purpose: 'service_lookup', certificate: card.certificateDer.toString('base64') });
  const path = '/api/v1/auth/card-taps';

  const [twin1, twin2, refused, ...answers] = await Promise.all([
    gates[0]!.post(path, body(residents[0]!.card), 'gym-twin-tap-1'),
    gates[0]!.post(path, body(residents[0]!.card), 'gym-twin-tap-1'),
    gates[1]!.post(path, body(suspended.card)),
    ...residents.map((resident, i) => gates[i % gates.length]!.post(path, body(resident.card))),
  ]);
  answers.forEach((answer, i) => t.like(answer, { status: 201, body: { linked: true, memberNumber: residents[i]!.number, service: { id: gym.id } } }));
  t.like(twin1, { status: 201, body: { linked: true, memberNumber: residents[0]!.number } });
  t.deepEqual(twin2, twin1, 'twins sent at once get one answer');
  t.like(refused, { status: 403, body: { code: 'mykey_suspended' } });
  t.deepEqual(await gates[0]!.post(path, body(residents[0]!.card), 'gym-twin-tap-1'), twin1, 'a retry later gets it too');
  t.like(await gates[0]!.post(path, body(residents[1]!.card), 'gym-twin-tap-1'), { status: 409, body: { code: 'idempotency_key_reused' } });
  const uses = await db('service_uses').where({ service_id: gym.id }).count({ n: '*' });
  t.is(Number(uses[0]!.n), residents.length + 1, 'one use per tap made, the twins and the retry one tap');
});

test('a revoked card is refused, and nothing is stored', async (t) => {
  const { staff, base, pki, identity, db } = await fixture();
  const counter = await enrollDevice(base, staff, '公民館受付');
  const hall = await library(staff, [counter], { kind: 'community_centre', tapPolicy: 'tap' });
  const resident = await firstLogin(pki, counter);
  t.is((await signRequest(staff, hall.id, counter, resident.card, 'link', memberNumberOf(++member))).status, 201);
  await identity.addCrl((await issueCrl(pki.ca, { revoked: [{ serialNumberHex: resident.card.serialNumberHex }] })).der);
  t.like(await tap(counter, resident.card), { status: 401, body: { code: 'certificate_revoked' } });
  t.is(Number((await db('service_uses').where({ service_id: hall.id }).count({ n: '*' }))[0]!.n), 0);
});

test('unlink: by the resident with card and PIN (only their own), or by staff with a reason; both audited', async (t) => {
  const { staff, base, pki, db } = await fixture();
  const counter = await enrollDevice(base, staff, '美術館受付');
  const museum = await library(staff, [counter], { kind: 'museum' });
  const [owner, stranger] = [await firstLogin(pki, counter), await firstLogin(pki, counter)];
  const number = memberNumberOf(++member);
  t.is((await signRequest(staff, museum.id, counter, owner.card, 'link', number)).status, 201);
  t.like(await signRequest(staff, museum.id, counter, stranger.card, 'unlink', number), { status: 403, body: { code: 'membership_not_this_card' } });
  t.like(await signRequest(staff, museum.id, counter, owner.card, 'unlink', number), { status: 201, body: { purpose: 'service_unlink', unlinked: { memberNumber: number } } });
  t.like((await cardSession(counter, owner.card, 'service_lookup')).body, { linked: false });
  t.like(await staff.post(`/api/v1/services/${museum.id}/membership-requests`, { action: 'unlink', memberNumber: number }), { status: 404, body: { code: 'membership_not_found' } });

  t.is((await signRequest(staff, museum.id, counter, owner.card, 'link', number)).status, 201, 'linked again');
  const found = await staff.get(`/api/v1/services/${museum.id}/memberships?memberNumber=${number}`);
  t.like(await staff.post(`/api/v1/services/${museum.id}/memberships/${found.body.id}/unlink`, { reason: '' }), { status: 400 });
  const key = 'unlink-by-staff-1';
  t.like(await staff.post(`/api/v1/services/${museum.id}/memberships/${found.body.id}/unlink`, { reason: '本人から退会の申出' }, key), { status: 200, body: { unlinked: { memberNumber: number } } });
  t.like(await staff.post(`/api/v1/services/${museum.id}/memberships/${found.body.id}/unlink`, { reason: '本人から退会の申出' }, key), { status: 200 }, 'replayed under its key');
  t.like(await staff.get(`/api/v1/services/${museum.id}/memberships?memberNumber=${number}`), { status: 404, body: { code: 'membership_not_found' } });
  const events = (await eventsAbout(db, owner.mykeyId)).filter((e) => e.action.startsWith('membership.')).reverse();
  // The staff's look-up of the number before they unlinked it is on record too (docs/resident.md).
  t.deepEqual(events.map((e) => `${e.action}/${e.actor.kind}`), ['membership.linked/device', 'membership.unlinked/device', 'membership.linked/device', 'membership.viewed/staff', 'membership.unlinked/staff']);
  t.like(events[4]!.details, { by: 'staff', memberNumber: number, reason: '本人から退会の申出', municipalities: ['139998'] });
});

test('a membership hangs off the MyKey ID: it survives the renewal of the card, and each service sees its own pseudonym', async (t) => {
  const { staff, base, pki } = await fixture();
  const counter = await enrollDevice(base, staff, '講座受付');
  const [course, pool] = [await library(staff, [counter], { kind: 'lecture_course' }), await library(staff, [], { kind: 'sports_facility' })];
  const poolCounter = await enrollDevice(base, staff, 'プール受付');
  await staff.put(`/api/v1/services/${pool.id}/devices`, { deviceIds: [poolCounter.id] });
  const resident = await firstLogin(pki, counter);
  const [n1, n2] = [memberNumberOf(++member), memberNumberOf(++member)];
  const atCourse = await signRequest(staff, course.id, counter, resident.card, 'link', n1);
  const atPool = await signRequest(staff, pool.id, poolCounter, resident.card, 'link', n2);
  t.not(atCourse.body.membership.pseudonym, atPool.body.membership.pseudonym);
  const renewed = await pki.card();
  const relinked = await counter.post('/api/v1/mykeys/relinks', { oldProof: await provenCard(counter, resident.card, 'relink'), newProof: await provenCard(counter, renewed, 'relink') });
  t.is(relinked.status, 201, JSON.stringify(relinked.body));
  t.like((await cardSession(counter, renewed, 'service_lookup')).body, { linked: true, memberNumber: n1, pseudonym: atCourse.body.membership.pseudonym });
});

test("another town's clerk and devices see none of it", async (t) => {
  const { staff, base, pki, device } = await fixture();
  const service = await library(staff, [device]);
  const resident = await firstLogin(pki, device);
  const number = memberNumberOf(++member);
  t.is((await signRequest(staff, service.id, device, resident.card, 'link', number)).status, 201);
  const aoba = await secondTown(base);
  t.like(await aoba.staff.get(`/api/v1/services/${service.id}`), { status: 404, body: { code: 'service_not_found' } });
  t.like(await aoba.staff.get(`/api/v1/services/${service.id}/memberships?memberNumber=${number}`), { status: 404, body: { code: 'service_not_found' } });
  t.false(JSON.stringify((await aoba.staff.get('/api/v1/services')).body).includes(service.nameJa));
  t.like(await aoba.staff.put(`/api/v1/services/${service.id}/devices`, { deviceIds: [aoba.device.id] }), { status: 404, body: { code: 'service_not_found' } });
  const aobaService = await library(aoba.staff, [aoba.device]);
  t.like(await aoba.staff.put(`/api/v1/services/${aobaService.id}/devices`, { deviceIds: [device.id] }), { status: 404, body: { code: 'device_not_found' } }, "another town's device");
  t.like((await cardSession(aoba.device, resident.card, 'service_lookup')).body, { linked: false, service: { id: aobaService.id } });
});
