// Municipal staff look a MyKey ID up, suspend it and reinstate it, through the HTTP API.
import test from 'ava';
import { eraseAuditTexts, verifyAuditChain } from '../src/audit/chain.ts';
import { fileFixture } from './helpers/env.ts';
import { cardSession, firstLogin, municipalCounter, provenCard, signInStaff } from './helpers/identity.ts';
import { MYKEY_ALPHABET, parseMykeyId } from '../src/mykey/id.ts';

const fixture = fileFixture(test, async (cleanup) => {
  const town = await municipalCounter(cleanup);
  const demoCity = await town.db('staff_accounts').where({ login_id: 'demo-city' }).first('id', 'display_name');
  return { ...town, staffId: Number(demoCity.id), staffName: demoCity.display_name as string };
});

async function resident() {
  const { pki, device } = await fixture();
  return firstLogin(pki, device);
}

/** An ID with a valid check character that no card here holds (IDs are random: 1 in 2^35). */
function unusedMykeyId(): string {
  return [...MYKEY_ALPHABET].map((check) => `2345678${check}`).find((id) => parseMykeyId(id).ok)!;
}

test('suspend: the card no longer logs in, the lookup shows who suspended it and why; reinstate: it logs in again', async (t) => {
  const { db, device, staff, staffId, staffName } = await fixture();
  const { card, mykeyId } = await resident();
  const suspended = await staff.post(`/api/v1/staff/mykeys/${mykeyId}/suspension`, { reason: 'カード紛失の届出（電話）' });
  t.is(suspended.status, 200, JSON.stringify(suspended.body));
  t.deepEqual(suspended.body, { mykeyId, status: 'suspended' });
  const refused = await cardSession(device, card);
  t.is(refused.status, 403);
  t.is(refused.body.code, 'mykey_suspended');

  const view = await staff.get(`/api/v1/staff/mykeys/${mykeyId}`);
  t.is(view.status, 200);
  t.like(view.body, { mykeyId, status: 'suspended', suspension: { reason: 'カード紛失の届出（電話）', staff: { id: staffId, name: staffName } } });
  t.like(view.body.events[0], { action: 'mykey.suspended', actor: { kind: 'staff', id: String(staffId), name: staffName }, details: { reason: 'カード紛失の届出（電話）' } });

  const reinstated = await staff.post(`/api/v1/staff/mykeys/${mykeyId}/reinstatement`, { reason: 'カードが見つかったため' });
  t.deepEqual(reinstated.body, { mykeyId, status: 'active' });
  t.like((await cardSession(device, card)).body, { mykeyId, issued: false });
  const after = await staff.get(`/api/v1/staff/mykeys/${mykeyId}`);
  t.like(after.body, { status: 'active', suspension: null });
  t.deepEqual(after.body.events.map((e: { action: string }) => e.action), ['mykey.reinstated', 'mykey.suspended', 'mykey.issued']);
  t.deepEqual(after.body.events.slice(0, 2).map((e: { action: string; actor: { kind: string; id: string }; details: { reason: string } }) => [e.action, e.actor.kind, e.actor.id, e.details.reason]), [
    ['mykey.reinstated', 'staff', String(staffId), 'カードが見つかったため'],
    ['mykey.suspended', 'staff', String(staffId), 'カード紛失の届出（電話）'],
  ]);
});

test('suspending a suspended ID, or reinstating an active one, is a clear conflict that changes nothing', async (t) => {
  const { db, staff } = await fixture();
  const { mykeyId } = await resident();
  const notSuspended = await staff.post(`/api/v1/staff/mykeys/${mykeyId}/reinstatement`, { reason: '誤操作' });
  t.is(notSuspended.status, 409);
  t.is(notSuspended.body.code, 'mykey_not_suspended');
  t.is((await staff.post(`/api/v1/staff/mykeys/${mykeyId}/suspension`, { reason: '不正利用の疑い' })).status, 200);
  const twice = await staff.post(`/api/v1/staff/mykeys/${mykeyId}/suspension`, { reason: '二重の操作' });
  t.is(twice.status, 409);
  t.is(twice.body.code, 'mykey_already_suspended');
  t.truthy(twice.body.messages.ja);
  t.like(await db('mykeys').where({ mykey_id: mykeyId }).first(), { suspension_reason: '不正利用の疑い' });
  t.is((await db('audit_events').where({ subject: mykeyId, action: 'mykey.suspended' })).length, 1);
});

test('a retried suspension under the same Idempotency-Key is applied once', async (t) => {
  const { db, staff } = await fixture();
  const { mykeyId } = await resident();
  const first = await staff.post(`/api/v1/staff/mykeys/${mykeyId}/suspension`, { reason: '紛失' }, 'suspend-key-0001');
  const retry = await staff.post(`/api/v1/staff/mykeys/${mykeyId}/suspension`, { reason: '紛失' }, 'suspend-key-0001');
  t.deepEqual(retry, first);
  t.is((await db('audit_events').where({ subject: mykeyId, action: 'mykey.suspended' })).length, 1);
  t.is((await staff.post(`/api/v1/staff/mykeys/${mykeyId}/suspension`, { reason: '別の理由' }, 'suspend-key-0001')).body.code, 'idempotency_key_reused');
  t.is((await staff.post(`/api/v1/staff/mykeys/${mykeyId}/reinstatement`, { reason: '紛失' }, '')).body.code, 'idempotency_key_required');
});

test('a counter relink on a suspended ID links the card and keeps the suspension until staff reinstate', async (t) => {
  const { pki, device, staff } = await fixture();
  const { mykeyId } = await resident();
  await staff.post(`/api/v1/staff/mykeys/${mykeyId}/suspension`, { reason: '紛失' });
  const newCard = await pki.card();
  const relink = await staff.post(`/api/v1/staff/mykeys/${mykeyId}/relinks`, { proof: await provenCard(device, newCard, 'counter_relink'), reason: '再交付。本人確認済み' });
  t.is(relink.status, 201, JSON.stringify(relink.body));
  t.is((await cardSession(device, newCard)).body.code, 'mykey_suspended');
  await staff.post(`/api/v1/staff/mykeys/${mykeyId}/reinstatement`, { reason: '新しいカードを確認' });
  t.like((await cardSession(device, newCard)).body, { mykeyId });
  const view = await staff.get(`/api/v1/staff/mykeys/${mykeyId}`);
  t.like(view.body.cards, [{ status: 'replaced', linkMethod: 'issued' }, { status: 'active', linkMethod: 'counter', endedAt: null }]);
  t.like(view.body.events[1], { action: 'mykey.relinked', details: { method: 'counter', reason: '再交付。本人確認済み' } });
});

test('the lookup shows status, issuance and cards, and nothing of any certificate', async (t) => {
  const { staff } = await fixture();
  const { card, mykeyId } = await resident();
  const view = await staff.get(`/api/v1/staff/mykeys/${mykeyId}`);
  t.is(view.status, 200);
  t.like(view.body, { mykeyId, status: 'active', suspension: null });
  t.false(Number.isNaN(Date.parse(view.body.issuedAt)));
  t.is(view.body.cards.length, 1);
  t.like(view.body.cards[0], { status: 'active', linkMethod: 'issued', endedAt: null });
  t.deepEqual(Object.keys(view.body.cards[0]).sort(), ['endedAt', 'linkMethod', 'linkedAt', 'status']);
  const text = JSON.stringify(view.body);
  t.false(text.toUpperCase().includes(card.serialNumberHex));
  t.false(text.includes(card.commonName));
});

test('a typo in a MyKey ID is refused with the check code, an unknown ID is mykey_not_found, a lower-case spelling finds it', async (t) => {
  const { staff } = await fixture();
  const { mykeyId } = await resident();
  const substituted = mykeyId.slice(0, 3) + (mykeyId[3] === 'A' ? 'B' : 'A') + mykeyId.slice(4);
  const typo = await staff.get(`/api/v1/staff/mykeys/${substituted}`);
  t.is(typo.status, 400);
  t.is(typo.body.code, 'mykey_id_check_failed');
  t.regex(typo.body.messages.ja, /確認文字/);
  const malformed = await staff.get(`/api/v1/staff/mykeys/${encodeURIComponent('RKLZ-Y5Y0')}`);
  t.is(malformed.body.code, 'mykey_id_malformed');
  t.is((await staff.get('/api/v1/staff/mykeys/ABC')).body.code, 'mykey_id_malformed');
  t.is((await staff.get(`/api/v1/staff/mykeys/${'A'.repeat(5000)}`)).body.code, 'mykey_id_malformed');
  const unknown = await staff.get(`/api/v1/staff/mykeys/${unusedMykeyId()}`);
  t.is(unknown.status, 404);
  t.is(unknown.body.code, 'mykey_not_found');
  t.is((await staff.post(`/api/v1/staff/mykeys/${unusedMykeyId()}/suspension`, { reason: '紛失' })).body.code, 'mykey_not_found');
  const found = await staff.get(`/api/v1/staff/mykeys/${encodeURIComponent(`${mykeyId.slice(0, 4).toLowerCase()}－${mykeyId.slice(4)}`)}`);
  t.is(found.status, 200);
  t.is(found.body.mykeyId, mykeyId);
});

test('merchant staff and signed-out callers are refused on every MyKey ID endpoint', async (t) => {
  const { base } = await fixture();
  const { mykeyId } = await resident();
  const shop = await signInStaff(base, 'demo-shop');
  for (const reply of [
    await shop.get(`/api/v1/staff/mykeys/${mykeyId}`),
    await shop.post(`/api/v1/staff/mykeys/${mykeyId}/suspension`, { reason: '紛失' }),
    await shop.post(`/api/v1/staff/mykeys/${mykeyId}/reinstatement`, { reason: '紛失' }),
  ]) {
    t.is(reply.status, 403);
    t.is(reply.body.code, 'staff_role_forbidden');
  }
  const anonymous = await fetch(`${base}/api/v1/staff/mykeys/${mykeyId}`);
  t.is((await anonymous.json()).code, 'staff_session_required');
});

test('a reason is one line of 1 to 200 characters', async (t) => {
  const { staff } = await fixture();
  const { mykeyId } = await resident();
  for (const reason of ['', '   ', 'x'.repeat(201), '1行目\n2行目']) {
    const reply = await staff.post(`/api/v1/staff/mykeys/${mykeyId}/suspension`, { reason });
    t.is(reply.body.code, 'request_invalid', JSON.stringify(reason));
  }
  t.is((await staff.post(`/api/v1/staff/mykeys/${mykeyId}/suspension`, { reason: '紛'.repeat(200) })).status, 200);
});

test('a reason erased on a lawful request reads as erased in the record\'s history, and the chain still verifies', async (t) => {
  const { db, staff } = await fixture();
  const { mykeyId } = await resident();
  await staff.post(`/api/v1/staff/mykeys/${mykeyId}/suspension`, { reason: '本人から電話で申出（山田様）' });
  await staff.post(`/api/v1/staff/mykeys/${mykeyId}/reinstatement`, { reason: 'カードが見つかったため' });
  const suspendedAt = await db('audit_events').where({ subject: mykeyId, action: 'mykey.suspended' }).first('seq');
  await eraseAuditTexts(db, { seq: Number(suspendedAt.seq) }, { by: 'test operator', why: 'erasure request' });
  const { body } = await staff.get(`/api/v1/staff/mykeys/${mykeyId}`);
  t.deepEqual(body.events.slice(0, 2).map((e: { action: string; details: { reason: string | null } }) => [e.action, e.details.reason]), [
    ['mykey.reinstated', 'カードが見つかったため'],
    ['mykey.suspended', null],
  ]);
  t.like(await verifyAuditChain(db), { ok: true });
});
