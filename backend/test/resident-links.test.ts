// What is linked to the card, on the resident's own page (docs/resident.md): the memberships,
// with unlinking; the family consents and waiting offers, with withdrawal; the home
// municipality, moved to the kiosk's town with the card and PIN again. Only the session's own,
// each change once per Idempotency-Key and on record; a closed page changes nothing.
import test from 'ava';
import { randomUUID } from 'node:crypto';
import { fileFixture } from './helpers/env.ts';
import { cardProof, cardSession, enrollDevice, firstLogin, municipalCounter, provenCard, secondTown, type Device, type Staff } from './helpers/identity.ts';
import { openPage } from './helpers/resident-page.ts';
import type { IssuedCertificate } from '@mykey/dev-tools/dev-ca/index.ts';

const fixture = fileFixture(test, async (cleanup) => {
  const f = await municipalCounter(cleanup);
  const aoba = await secondTown(f.base);
  const libraryCounter = await enrollDevice(f.base, f.staff, '図書館カウンター');
  const library = await service(f.staff, libraryCounter, 'みらい市立図書館', 'Mirai City Library');
  const pool = await service(aoba.staff, aoba.device, 'あおば町民プール', 'Aoba Town Pool');
  const counter2 = await enrollDevice(f.base, f.staff, '支所窓口');
  return { ...f, aoba, libraryCounter, library, pool, counter2 };
});
type Fixture = Awaited<ReturnType<typeof fixture>>;

/** A service of the staff's town served by `device`. */
async function service(staff: Staff, device: Device, nameJa: string, nameEn: string): Promise<{ id: number; staff: Staff; device: Device }> {
  const created = await staff.post('/api/v1/services', { kind: 'sports_facility', nameJa, nameEn, tapPolicy: 'pin' });
  if (created.status !== 201) throw new Error(JSON.stringify(created.body));
  await staff.put(`/api/v1/services/${created.body.id}/devices`, { deviceIds: [device.id] });
  return { id: created.body.id, staff, device };
}

/** The card links `memberNumber` at the service's counter (the clerk's request, the card's signature). */
async function link(at: { id: number; staff: Staff; device: Device }, card: IssuedCertificate, memberNumber: string): Promise<number> {
  const request = await at.staff.post(`/api/v1/services/${at.id}/membership-requests`, { action: 'link', memberNumber });
  const challenge = await at.device.post('/api/v1/auth/challenges', { purpose: 'service_link', membershipRequestId: request.body.requestId });
  const linked = await at.device.post('/api/v1/auth/card-sessions', cardProof(challenge.body, card));
  if (linked.status !== 201) throw new Error(JSON.stringify(linked.body));
  return linked.body.membership.id;
}

/** The card consents at `counter` (an offer, or the acceptance of a code): the card session's reply. */
async function consent(counter: Device, card: IssuedCertificate, body: { action: 'offer'; label: string } | { action: 'accept'; code: string; label: string }) {
  const request = await counter.post('/api/v1/family/requests', body);
  const challenge = await counter.post('/api/v1/auth/challenges', { purpose: `family_${body.action}`, familyRequestId: request.body.requestId });
  const signed = await counter.post('/api/v1/auth/card-sessions', cardProof(challenge.body, card));
  if (signed.status !== 201) throw new Error(JSON.stringify(signed.body));
  return signed.body;
}

/** Two residents who consented with each other: a as 母, b as 子. */
async function pair(f: Fixture) {
  const [a, b] = [await firstLogin(f.pki, f.device), await firstLogin(f.pki, f.device)];
  const { code } = await consent(f.device, a.card, { action: 'offer', label: '母' });
  await consent(f.counter2, b.card, { action: 'accept', code, label: '子' });
  return { a, b };
}

const key = () => ({ 'Idempotency-Key': randomUUID() });
const auditOf = (f: Fixture, action: string, subject: string) => f.db('audit_events').where({ action, subject }).orderBy('seq', 'desc').first('actor_kind', 'actor_id', 'details');
const memberNumbers = (links: { memberships: Array<{ memberNumber: string }> }) => links.memberships.map((m) => m.memberNumber);

test('the page lists the session\'s own memberships in every town, consents, waiting offers and home; nobody else\'s', async (t) => {
  const f = await fixture();
  const { a, b } = await pair(f);
  await link(f.library, a.card, 'LIB-A1');
  await link(f.pool, a.card, 'POOL-A1');
  await link(f.library, b.card, 'LIB-B1');
  const offer = await consent(f.device, a.card, { action: 'offer', label: '母' });

  const { page } = await openPage(f.base, f.device, a.card);
  const links = await page.call('GET', '/api/v1/resident/links');
  t.is(links.status, 200);
  t.is(links.headers.get('cache-control'), 'no-store');
  t.like(links.body.memberships, [
    { service: { nameJa: 'みらい市立図書館', nameEn: 'Mirai City Library' }, municipality: { code: '139998', name: { ja: 'みらい市（デモ）' } }, memberNumber: 'LIB-A1' },
    { service: { nameJa: 'あおば町民プール' }, municipality: { code: '139971' }, memberNumber: 'POOL-A1' },
  ]);
  t.is(links.body.memberships.length, 2, 'b\'s membership is not a\'s');
  t.like(links.body.family, { consents: [{ theirLabel: '子', myLabel: '母' }], offers: [{ code: offer.code, myLabel: '母' }] });
  t.is(links.body.family.consents.length, 1);
  t.like(links.body.home, { municipality: { code: '139998', name: { ja: 'みらい市（デモ）' } }, movableHere: false });
  t.false(links.text.includes(a.mykeyId), 'no MyKey ID on the page');

  // The other side sees the same consent from theirs: their own label and a's.
  const pageB = (await openPage(f.base, f.device, b.card)).page;
  const linksB = (await pageB.call('GET', '/api/v1/resident/links')).body;
  t.deepEqual(memberNumbers(linksB), ['LIB-B1']);
  t.like(linksB.family, { consents: [{ theirLabel: '母', myLabel: '子' }], offers: [] });
});

test('unlinking a membership: the card no longer opens the service, on record by the resident via the page, once per key; another\'s is not found', async (t) => {
  const f = await fixture();
  const [a, b] = [await firstLogin(f.pki, f.device), await firstLogin(f.pki, f.device)];
  const ownId = await link(f.pool, a.card, 'POOL-7');
  const othersId = await link(f.library, b.card, 'LIB-8');
  const { page, opened } = await openPage(f.base, f.device, a.card);
  const deviceId = (await f.db('resident_sessions').orderBy('opened_at', 'desc').first('device_id')).device_id;

  t.like(await page.call('POST', `/api/v1/resident/memberships/${othersId}/unlink`, undefined, key()), { status: 404, body: { code: 'membership_not_found' } });
  t.like(await page.call('POST', '/api/v1/resident/memberships/nine/unlink', undefined, key()), { status: 404, body: { code: 'membership_not_found' } });
  t.like(await page.call('POST', `/api/v1/resident/memberships/${ownId}/unlink`), { status: 400, body: { code: 'idempotency_key_required' } });
  t.is(await f.db('memberships').whereIn('id', [ownId, othersId]).count({ n: '*' }).then((rows) => Number(rows[0]!.n)), 2, 'nothing unlinked by the refusals');

  const once = key();
  const unlinked = await page.call('POST', `/api/v1/resident/memberships/${ownId}/unlink`, undefined, once);
  t.like(unlinked, { status: 200, body: { service: { nameJa: 'あおば町民プール' }, unlinked: { memberNumber: 'POOL-7' } } });
  const replay = await page.call('POST', `/api/v1/resident/memberships/${ownId}/unlink`, undefined, once);
  t.deepEqual([replay.status, replay.headers.get('idempotent-replayed'), replay.body], [200, 'true', unlinked.body]);
  t.like(await page.call('POST', `/api/v1/resident/memberships/${ownId}/unlink`, undefined, key()), { status: 404, body: { code: 'membership_not_found' } }, 'gone: a new key finds nothing');

  t.deepEqual(memberNumbers((await page.call('GET', '/api/v1/resident/links')).body), []);
  const lookup = await cardSession(f.pool.device, a.card, 'service_lookup');
  t.like(lookup, { status: 201, body: { linked: false } }, 'the card no longer opens the pool');
  t.like(await auditOf(f, 'membership.unlinked', a.mykeyId), {
    actor_kind: 'device', actor_id: String(deviceId),
    details: { by: 'resident', via: 'resident_page', membership: ownId, service: f.pool.id, municipalities: [opened.body.municipality.code, '139971'].sort() },
  });
  t.truthy(await f.db('memberships').where({ id: othersId }).first('id'), 'b\'s membership stands');
});

test('withdrawing a consent ends it for both, an offer closes, on record via the page, once per key; another\'s is not found', async (t) => {
  const f = await fixture();
  const { a, b } = await pair(f);
  const stranger = await pair(f);
  const offer = await consent(f.device, a.card, { action: 'offer', label: '母' });
  const { page } = await openPage(f.base, f.device, a.card);
  const { family } = (await page.call('GET', '/api/v1/resident/links')).body;
  const strangers = (await (await openPage(f.base, f.device, stranger.a.card)).page.call('GET', '/api/v1/resident/links')).body.family.consents[0].id;

  t.like(await page.call('POST', `/api/v1/resident/family-consents/${strangers}/withdraw`, undefined, key()), { status: 404, body: { code: 'family_consent_not_found' } });

  const once = key();
  const withdrawn = await page.call('POST', `/api/v1/resident/family-consents/${family.consents[0].id}/withdraw`, undefined, once);
  t.like(withdrawn, { status: 200, body: { ended: 1 } });
  t.like(await page.call('POST', `/api/v1/resident/family-consents/${family.consents[0].id}/withdraw`, undefined, once), { status: 200, body: { ended: 1 } });
  t.like(await page.call('POST', `/api/v1/resident/family-consents/${family.consents[0].id}/withdraw`, undefined, key()), { status: 404, body: { code: 'family_consent_not_found' } }, 'ended: a new key finds nothing');
  t.like(await auditOf(f, 'family.withdrawn', a.mykeyId), { actor_kind: 'device', details: { ended: 1, offers: 0, via: 'resident_page' } });

  // Ended for b too; the offer still waits until it is withdrawn in turn.
  t.like((await (await openPage(f.base, f.device, b.card)).page.call('GET', '/api/v1/resident/links')).body.family, { consents: [], offers: [] });
  t.like((await page.call('GET', '/api/v1/resident/links')).body.family, { consents: [], offers: [{ code: offer.code }] });
  t.like(await page.call('POST', `/api/v1/resident/family-consents/${family.offers[0].id}/withdraw`, undefined, key()), { status: 200, body: { ended: 0 } });
  t.like(await f.counter2.post('/api/v1/family/requests', { action: 'accept', code: offer.code, label: '誰か' }), { status: 409, body: { code: 'family_offer_closed' } });
  t.like((await (await openPage(f.base, f.device, stranger.b.card)).page.call('GET', '/api/v1/resident/links')).body.family.consents, [{ theirLabel: '母' }], 'the stranger\'s consent stands');
});

test('moving home: the card signs home_move at the kiosk the page opened at, the home becomes the kiosk\'s town, once per key', async (t) => {
  const f = await fixture();
  const [a, b] = [await firstLogin(f.pki, f.device), await firstLogin(f.pki, f.device)];
  // At みらい市, the home already: nothing to move.
  const atHome = (await openPage(f.base, f.device, a.card)).page;
  t.like(await atHome.call('POST', '/api/v1/resident/home-moves', { proof: await provenCard(f.device, a.card, 'home_move') }, key()), { status: 409, body: { code: 'mykey_home_unchanged' } });

  const { page } = await openPage(f.base, f.aoba.device, a.card);
  t.like((await page.call('GET', '/api/v1/resident/links')).body.home, { municipality: { code: '139998' }, movableHere: true });
  // Another device's proof, another card's, a malformed one: refused, nothing moved.
  t.like(await page.call('POST', '/api/v1/resident/home-moves', { proof: await provenCard(f.device, a.card, 'home_move') }, key()), { status: 400, body: { code: 'card_proof_unknown' } });
  t.like(await page.call('POST', '/api/v1/resident/home-moves', { proof: await provenCard(f.aoba.device, b.card, 'home_move') }, key()), { status: 409, body: { code: 'resident_card_mismatch' } });
  t.like(await page.call('POST', '/api/v1/resident/home-moves', { proof: 'short' }, key()), { status: 400, body: { code: 'request_invalid' } });
  t.like(await page.call('POST', '/api/v1/resident/home-moves', { proof: await provenCard(f.aoba.device, a.card, 'resident_page') }, key()), { status: 400, body: { code: 'card_proof_unknown' } }, 'a resident_page proof moves nothing');
  t.is((await f.db('mykeys').where({ mykey_id: b.mykeyId }).first('home_municipality_code')).home_municipality_code, '139998');
  t.is((await f.db('mykeys').where({ mykey_id: a.mykeyId }).first('home_municipality_code')).home_municipality_code, '139998');

  const once = key();
  const proof = await provenCard(f.aoba.device, a.card, 'home_move');
  const moved = await page.call('POST', '/api/v1/resident/home-moves', { proof }, once);
  t.like(moved, { status: 201, body: { home: { municipality: { code: '139971', name: { ja: 'あおば町（デモ）' } }, movableHere: false } } });
  const replay = await page.call('POST', '/api/v1/resident/home-moves', { proof }, once);
  t.deepEqual([replay.status, replay.headers.get('idempotent-replayed'), replay.body], [201, 'true', moved.body]);
  t.is((await f.db('mykeys').where({ mykey_id: a.mykeyId }).first('home_municipality_code')).home_municipality_code, '139971');
  t.like(await auditOf(f, 'mykey.home_moved', a.mykeyId), { actor_kind: 'device', actor_id: String(f.aoba.device.id), details: { from: '139998', to: '139971', via: 'resident_page' } });
  t.like((await page.call('GET', '/api/v1/resident/links')).body.home, { municipality: { code: '139971' }, movableHere: false });
});

test('a closed page changes nothing: no unlink, no withdrawal, no move', async (t) => {
  const f = await fixture();
  const { a } = await pair(f);
  const membershipId = await link(f.library, a.card, 'LIB-CLOSED');
  const { page } = await openPage(f.base, f.aoba.device, a.card);
  const { family } = (await page.call('GET', '/api/v1/resident/links')).body;
  const proof = await provenCard(f.aoba.device, a.card, 'home_move');
  t.is((await page.call('DELETE', '/api/v1/resident/session?reason=card_removed')).status, 204);
  const closed = { status: 401, body: { code: 'resident_session_closed' } };
  t.like(await page.call('GET', '/api/v1/resident/links'), closed);
  t.like(await page.call('POST', `/api/v1/resident/memberships/${membershipId}/unlink`, undefined, key()), closed);
  t.like(await page.call('POST', `/api/v1/resident/family-consents/${family.consents[0].id}/withdraw`, undefined, key()), closed);
  t.like(await page.call('POST', '/api/v1/resident/home-moves', { proof }, key()), closed);
  t.truthy(await f.db('memberships').where({ id: membershipId }).first('id'));
  t.is((await f.db('family_pairings').where({ id: family.consents[0].id }).first('ended_at')).ended_at, null);
  t.is((await f.db('mykeys').where({ mykey_id: a.mykeyId }).first('home_municipality_code')).home_municipality_code, '139998');
});
