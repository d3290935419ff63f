// Renewal through the HTTP API: a resident with both cards at a device, and municipal staff at
// the counter. Cards come from a CA made for this file; devices are enrolled as staff would.
import test from 'ava';
import { issueCrl } from '@mykey/dev-tools/dev-ca/index.ts';
import { DEMO_MUNICIPALITY } from '@mykey/dev-tools/demo-towns.ts';
import { fileFixture } from './helpers/env.ts';
import { cardSession, enrollDevice, firstLogin, municipalCounter, provenCard, secondTown, signInStaff, type Device } from './helpers/identity.ts';
import type { Db } from '../src/db.ts';
import { eventsAbout } from '../src/audit/chain.ts';

const fixture = fileFixture(test, async (cleanup) => {
  const town = await municipalCounter(cleanup);
  return { ...town, other: await enrollDevice(town.base, town.staff, 'カウンター2') };
});

async function resident(device: Device) {
  return firstLogin((await fixture()).pki, device);
}

async function cardsOf(db: Db, mykeyId: string) {
  return db('mykey_certificates as c').join('mykeys as m', 'm.id', 'c.mykey_pk').where('m.mykey_id', mykeyId)
    .orderBy('c.linked_at').select('c.status', 'c.link_method as method', 'c.ended_at as endedAt');
}

test('both cards: the new card takes the old one\'s place on the same MyKey ID; the old card no longer logs in', async (t) => {
  const { db, pki, device } = await fixture();
  const { card: oldCard, mykeyId } = await resident(device);
  const newCard = await pki.card();
  const oldProof = await provenCard(device, oldCard, 'relink');
  const newProof = await provenCard(device, newCard, 'relink');
  const reply = await device.post('/api/v1/mykeys/relinks', { oldProof, newProof });
  t.is(reply.status, 201, JSON.stringify(reply.body));
  t.deepEqual(reply.body, { mykeyId, method: 'both_cards' });

  const refused = await cardSession(device, oldCard);
  t.is(refused.status, 401);
  t.is(refused.body.code, 'certificate_replaced');
  t.like((await cardSession(device, newCard)).body, { mykeyId, issued: false });

  const cards = await cardsOf(db, mykeyId);
  t.like(cards, [{ status: 'replaced', method: 'issued' }, { status: 'active', method: 'both_cards', endedAt: null }]);
  t.truthy(cards[0].endedAt);
  const events = (await eventsAbout(db, mykeyId)).filter((e) => e.action === 'mykey.relinked');
  t.is(events.length, 1);
  t.like(events[0], { actor: { kind: 'device', id: String(device.id) }, details: { method: 'both_cards' } });
  t.deepEqual(events[0]!.details, { method: 'both_cards', municipalities: [DEMO_MUNICIPALITY.code] }, 'ids only, and the town it belongs to');
  const again = await device.post('/api/v1/mykeys/relinks', { oldProof, newProof });
  t.is(again.body.code, 'challenge_reused', 'both proofs were consumed');
});

test('both cards: a retry under the same Idempotency-Key gets the first answer; the key with another body is refused', async (t) => {
  const { db, pki, device } = await fixture();
  const { card, mykeyId } = await resident(device);
  const body = { oldProof: await provenCard(device, card, 'relink'), newProof: await provenCard(device, await pki.card(), 'relink') };
  const first = await device.post('/api/v1/mykeys/relinks', body, 'relink-key-0001');
  const retry = await device.post('/api/v1/mykeys/relinks', body, 'relink-key-0001');
  t.is(first.status, 201);
  t.deepEqual(retry, first);
  t.is((await db('audit_events').where({ action: 'mykey.relinked', subject: mykeyId })).length, 1);
  const other = await device.post('/api/v1/mykeys/relinks', { ...body, newProof: body.oldProof.replace(/.$/, (c) => (c === 'A' ? 'B' : 'A')) }, 'relink-key-0001');
  t.is(other.body.code, 'idempotency_key_reused');
});

test('card_already_linked: a new card with a MyKey ID of its own is refused, nothing changes and the old proof stays usable', async (t) => {
  const { db, pki, device } = await fixture();
  const first = await resident(device);
  const second = await resident(device);
  const oldProof = await provenCard(device, first.card, 'relink');
  const reply = await device.post('/api/v1/mykeys/relinks', { oldProof, newProof: await provenCard(device, second.card, 'relink') });
  t.is(reply.status, 409);
  t.is(reply.body.code, 'card_already_linked');
  t.regex(reply.body.detail, /cannot be merged/);
  t.like(await cardsOf(db, first.mykeyId), [{ status: 'active' }]);
  t.like(await cardsOf(db, second.mykeyId), [{ status: 'active' }]);
  const retried = await device.post('/api/v1/mykeys/relinks', { oldProof, newProof: await provenCard(device, await pki.card(), 'relink') });
  t.is(retried.status, 201, 'the refused attempt consumed nothing');
});

test('both cards: the same card twice, or the same proof twice, is refused', async (t) => {
  const { device } = await fixture();
  const { card } = await resident(device);
  const same = await device.post('/api/v1/mykeys/relinks', { oldProof: await provenCard(device, card, 'relink'), newProof: await provenCard(device, card, 'relink') });
  t.is(same.body.code, 'card_already_linked');
  t.regex(same.body.detail, /same card/);
  const proof = await provenCard(device, card, 'relink');
  t.is((await device.post('/api/v1/mykeys/relinks', { oldProof: proof, newProof: proof })).body.code, 'request_invalid');
});

test('card_not_linked: an old card that never logged in has no MyKey ID to pass on', async (t) => {
  const { pki, device } = await fixture();
  const reply = await device.post('/api/v1/mykeys/relinks', { oldProof: await provenCard(device, await pki.card(), 'relink'), newProof: await provenCard(device, await pki.card(), 'relink') });
  t.is(reply.status, 409);
  t.is(reply.body.code, 'card_not_linked');
});

test('both cards: a MyKey ID suspended after the cards were tapped is refused', async (t) => {
  const { pki, device, staff } = await fixture();
  const { card, mykeyId } = await resident(device);
  const body = { oldProof: await provenCard(device, card, 'relink'), newProof: await provenCard(device, await pki.card(), 'relink') };
  t.is((await staff.post(`/api/v1/staff/mykeys/${mykeyId}/suspension`, { reason: '紛失の届出' })).status, 200);
  const reply = await device.post('/api/v1/mykeys/relinks', body);
  t.is(reply.status, 403);
  t.is(reply.body.code, 'mykey_suspended');
});

test('both cards: proofs of another device, of another purpose, made up, or signed too long ago are refused', async (t) => {
  const { db, pki, device, other } = await fixture();
  const { card } = await resident(device);
  const newProof = await provenCard(device, await pki.card(), 'relink');
  const elsewhere = await device.post('/api/v1/mykeys/relinks', { oldProof: await provenCard(other, card, 'relink'), newProof });
  t.is(elsewhere.body.code, 'card_proof_unknown');
  const counter = await device.post('/api/v1/mykeys/relinks', { oldProof: await provenCard(device, card, 'counter_relink'), newProof });
  t.is(counter.body.code, 'card_proof_unknown');
  const login = await cardSession(device, card);
  t.is((await device.post('/api/v1/mykeys/relinks', { oldProof: login.body.challengeId, newProof })).body.code, 'card_proof_unknown');
  const unsigned = await device.post('/api/v1/auth/challenges', { purpose: 'relink' });
  t.is((await device.post('/api/v1/mykeys/relinks', { oldProof: unsigned.body.challengeId, newProof })).body.code, 'card_proof_unknown');
  t.is((await device.post('/api/v1/mykeys/relinks', { oldProof: 'A'.repeat(43), newProof })).body.code, 'card_proof_unknown');
  t.is((await device.post('/api/v1/mykeys/relinks', { oldProof: 'not a proof', newProof })).body.code, 'request_invalid');

  const stale = await provenCard(device, card, 'relink');
  await db('auth_challenges').where({ id: stale }).update({ signed_at: new Date(Date.now() - 61_000) });
  t.is((await device.post('/api/v1/mykeys/relinks', { oldProof: stale, newProof })).body.code, 'challenge_expired');
});

test('both cards: without an enrolled device, or without an Idempotency-Key, nothing happens', async (t) => {
  const { base } = await fixture();
  const anonymous = await fetch(`${base}/api/v1/mykeys/relinks`, { method: 'POST', headers: { 'Content-Type': 'application/json', 'Idempotency-Key': 'anon-relink-1' }, body: '{}' });
  t.is((await anonymous.json()).code, 'device_unknown');
  const { device } = await fixture();
  const noKey = await device.post('/api/v1/mykeys/relinks', {}, '');
  t.is(noKey.body.code, 'idempotency_key_required');
});

test('one new card relinked to two MyKey IDs at the same moment: one wins, the other is card_already_linked', async (t) => {
  const { db, pki, device, other } = await fixture();
  const [a, b] = [await resident(device), await resident(other)];
  const newCard = await pki.card();
  const replies = await Promise.all([
    device.post('/api/v1/mykeys/relinks', { oldProof: await provenCard(device, a.card, 'relink'), newProof: await provenCard(device, newCard, 'relink') }),
    other.post('/api/v1/mykeys/relinks', { oldProof: await provenCard(other, b.card, 'relink'), newProof: await provenCard(other, newCard, 'relink') }),
  ]);
  t.deepEqual(replies.map((r) => r.status).sort(), [201, 409], JSON.stringify(replies.map((r) => r.body)));
  t.is(replies.find((r) => r.status === 409)!.body.code, 'card_already_linked');
  const winner = replies.find((r) => r.status === 201)!.body.mykeyId;
  t.like((await cardSession(device, newCard)).body, { mykeyId: winner });
  t.is((await db('mykey_certificates').where({ status: 'active' }).whereIn('mykey_pk', db('mykeys').select('id').whereIn('mykey_id', [a.mykeyId, b.mykeyId]))).length, 2);
});

test('at the counter: staff link a new card to a MyKey ID whose card was revoked; reason and staff member are in the audit log', async (t) => {
  const { db, pki, identity, device, staff } = await fixture();
  const { card: lostCard, mykeyId } = await resident(device);
  await identity.addCrl((await issueCrl(pki.ca, { revoked: [{ serialNumberHex: lostCard.serialNumberHex, reason: 'keyCompromise' }] })).der);
  t.is((await cardSession(device, lostCard)).body.code, 'certificate_revoked');

  const newCard = await pki.card();
  const reply = await staff.post(`/api/v1/staff/mykeys/${mykeyId}/relinks`, { proof: await provenCard(device, newCard, 'counter_relink'), reason: '紛失による再交付。運転免許証で本人確認' });
  t.is(reply.status, 201, JSON.stringify(reply.body));
  t.deepEqual(reply.body, { mykeyId, method: 'counter' });
  t.like((await cardSession(device, newCard)).body, { mykeyId, issued: false });
  t.is((await cardSession(device, lostCard)).body.code, 'certificate_revoked');
  t.like(await cardsOf(db, mykeyId), [{ status: 'revoked', method: 'issued' }, { status: 'active', method: 'counter' }]);

  const [event] = (await eventsAbout(db, mykeyId)).filter((e) => e.action === 'mykey.relinked');
  const demoCity = await db('staff_accounts').where({ login_id: 'demo-city' }).first('id');
  t.like(event, { actor: { kind: 'staff', id: String(demoCity.id) } });
  t.deepEqual(event!.details, { method: 'counter', reason: '紛失による再交付。運転免許証で本人確認', organization: 'municipality:139998', municipalities: ['139998'] });
});

test('at the counter: a new card that already has another MyKey ID is refused', async (t) => {
  const { device, staff } = await fixture();
  const first = await resident(device);
  const second = await resident(device);
  const reply = await staff.post(`/api/v1/staff/mykeys/${first.mykeyId}/relinks`, { proof: await provenCard(device, second.card, 'counter_relink'), reason: '窓口で確認' });
  t.is(reply.status, 409);
  t.is(reply.body.code, 'card_already_linked');
});

test("at the counter: a proof made at another municipality's device, or for a resident's own relink, is refused", async (t) => {
  const { pki, base, device, staff } = await fixture();
  const { mykeyId } = await resident(device);
  const { staff: aoba, device: aobaDevice } = await secondTown(base);
  const newCard = await pki.card();
  const foreign = await staff.post(`/api/v1/staff/mykeys/${mykeyId}/relinks`, { proof: await provenCard(aobaDevice, newCard, 'counter_relink'), reason: '窓口で確認' });
  t.is(foreign.body.code, 'card_proof_unknown');
  const ownRelink = await staff.post(`/api/v1/staff/mykeys/${mykeyId}/relinks`, { proof: await provenCard(device, newCard, 'relink'), reason: '窓口で確認' });
  t.is(ownRelink.body.code, 'card_proof_unknown');
  // The other town's staff, with their own device's proof, may not relink a resident of another
  // town: to them the ID does not exist (home-municipality.test.ts compares the answers).
  const proof = await provenCard(aobaDevice, newCard, 'counter_relink');
  const theirs = await aoba.post(`/api/v1/staff/mykeys/${mykeyId}/relinks`, { proof, reason: '転入時に確認' });
  t.is(theirs.status, 404);
  t.is(theirs.body.code, 'mykey_not_found');
});

test('at the counter: merchant staff are refused, and so is a request without a reason or with a typo in the MyKey ID', async (t) => {
  const { pki, base, device, staff } = await fixture();
  const { mykeyId } = await resident(device);
  const shop = await signInStaff(base, 'demo-shop');
  const proof = await provenCard(device, await pki.card(), 'counter_relink');
  const merchant = await shop.post(`/api/v1/staff/mykeys/${mykeyId}/relinks`, { proof, reason: '窓口で確認' });
  t.is(merchant.status, 403);
  t.is(merchant.body.code, 'staff_role_forbidden');
  t.is((await staff.post(`/api/v1/staff/mykeys/${mykeyId}/relinks`, { proof })).body.code, 'request_invalid');
  t.is((await staff.post(`/api/v1/staff/mykeys/${mykeyId}/relinks`, { proof, reason: 'x'.repeat(201) })).body.code, 'request_invalid');
  const swapped = mykeyId[1]! + mykeyId[0]! + mykeyId.slice(2);
  if (swapped !== mykeyId) t.is((await staff.post(`/api/v1/staff/mykeys/${swapped}/relinks`, { proof, reason: '窓口で確認' })).body.code, 'mykey_id_check_failed');
  const reply = await staff.post(`/api/v1/staff/mykeys/${mykeyId.toLowerCase().replace(/^(.{4})/, '$1-')}/relinks`, { proof, reason: '窓口で確認' });
  t.is(reply.status, 201, 'the proof was not consumed by the refusals; the ID may be typed in lower case with a hyphen');
  t.is(reply.body.mykeyId, mykeyId);
});

test('at the counter: a retry under the same Idempotency-Key gets the first answer; a used or expired proof is refused', async (t) => {
  const { db, pki, device, staff } = await fixture();
  const { mykeyId } = await resident(device);
  const body = { proof: await provenCard(device, await pki.card(), 'counter_relink'), reason: '窓口で確認' };
  const first = await staff.post(`/api/v1/staff/mykeys/${mykeyId}/relinks`, body, 'counter-relink-0001');
  t.is(first.status, 201);
  t.deepEqual(await staff.post(`/api/v1/staff/mykeys/${mykeyId}/relinks`, body, 'counter-relink-0001'), first);
  t.is((await staff.post(`/api/v1/staff/mykeys/${mykeyId}/relinks`, body)).body.code, 'challenge_reused');
  const stale = await provenCard(device, await pki.card(), 'counter_relink');
  await db('auth_challenges').where({ id: stale }).update({ signed_at: new Date(Date.now() - 61_000) });
  t.is((await staff.post(`/api/v1/staff/mykeys/${mykeyId}/relinks`, { proof: stale, reason: '窓口で確認' })).body.code, 'challenge_expired');
});
