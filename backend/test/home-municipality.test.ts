// Two towns, kept apart (docs/security/tenancy.md): a MyKey ID's home municipality, the identity-
// wide staff actions only its staff may take (to any other town they answer exactly as for an
// unknown ID), the resident's own move of it, a town's block of an ID from its own services, each
// town's own history, and the audit of staff views and refusals. Both seeded towns, on the real app.
import test from 'ava';
import { randomUUID } from 'node:crypto';
import type { Knex } from 'knex';
import { DEMO_GRANT_CAMPAIGN, DEMO_MUNICIPALITY, DEMO_SECOND_GRANT_CAMPAIGN, DEMO_SECOND_MUNICIPALITY } from '@mykey/dev-tools/demo-towns.ts';
import { fileFixture, migratedUpTo } from './helpers/env.ts';
import { cardProof, cardSession, enrollDevice, firstLogin, municipalCounter, provenCard, secondTown, signInStaff, type Staff } from './helpers/identity.ts';
import { appendAudit } from '../src/audit/chain.ts';
import type { Db } from '../src/db.ts';
import { creditConversions, inLedgerTransaction } from '../src/ledger/ledger.ts';
import { MYKEY_ALPHABET, parseMykeyId } from '../src/mykey/id.ts';
import { customerOf } from '../src/mykey/pseudonym.ts';

const MIRAI = DEMO_MUNICIPALITY.code;
const AOBA = DEMO_SECOND_MUNICIPALITY.code;
const HOME_MIGRATION = '20261205010000_home_municipality.ts';

const fixture = fileFixture(test, async (cleanup) => {
  const mirai = await municipalCounter(cleanup);
  const aoba = await secondTown(mirai.base);
  const aobaShop = await signInStaff(mirai.base, 'demo-aoba-shop');
  const partner = await mirai.db('partners').where({ slug: 'demo-card' }).first('id');
  return {
    ...mirai, aobaStaff: aoba.staff, aobaDevice: aoba.device, aobaShop,
    aobaRegister: await enrollDevice(mirai.base, aobaShop, 'あおば珈琲店 レジ'), partnerId: Number(partner.id),
  };
});

/** A resident of みらい市: their card logged in first at みらい市's counter. */
async function miraiResident() {
  const { pki, device } = await fixture();
  return firstLogin(pki, device);
}

/** An ID with a valid check character that no card here holds (IDs are random: 1 in 2^35). */
function unusedMykeyId(): string {
  return [...MYKEY_ALPHABET].map((check) => `2345678${check}`).find((id) => parseMykeyId(id).ok)!;
}

async function homeOf(db: Db, mykeyId: string): Promise<string> {
  return (await db('mykeys').where({ mykey_id: mykeyId }).first('home_municipality_code')).home_municipality_code;
}

/** あおば珈琲店, the shop of demo-aoba-shop and of the register in the fixture. */
async function aobaShopId(db: Db): Promise<number> {
  return Number((await db('staff_accounts').where({ login_id: 'demo-aoba-shop' }).first('merchant_id')).merchant_id);
}

async function eventsOf(db: Db, mykeyId: string, action: string) {
  const rows = await db('audit_events').where({ subject: mykeyId, action }).orderBy('seq');
  return rows.map((row) => ({ ...row, details: typeof row.details === 'string' ? JSON.parse(row.details) : row.details }));
}

/** The raw answer to a staff request, as the caller receives it. */
async function rawCall(staff: Staff, method: 'GET' | 'POST', path: string, body?: unknown) {
  const { base } = await fixture();
  const response = await fetch(`${base}${path}`, {
    method,
    headers: { cookie: staff.cookie, ...(body === undefined ? {} : { 'Content-Type': 'application/json', 'Idempotency-Key': randomUUID() }) },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const headers = ['content-type', 'content-length', 'cache-control', 'www-authenticate'].map((name) => `${name}: ${response.headers.get(name)}`);
  return { status: response.status, headers, text: await response.text() };
}

/** An answer with its request id and the MyKey ID asked about blanked: nothing else may differ. */
function blanked(answer: Awaited<ReturnType<typeof rawCall>>, mykeyId: string) {
  const text = answer.text.replace(/"requestId":"[^"]*"/, '"requestId":"…"').replaceAll(mykeyId, '<ID>');
  return { ...answer, text };
}

test('an ID\'s home is the town of the device it was issued at; a shop\'s device issues into its shop\'s town (and is told only its pseudonym)', async (t) => {
  const { db, pki, identity, aobaRegister, aobaDevice } = await fixture();
  const { mykeyId } = await miraiResident();
  t.is(await homeOf(db, mykeyId), MIRAI);
  const card = await pki.card();
  const atShop = await cardSession(aobaRegister, card);
  t.is(atShop.status, 201, JSON.stringify(atShop.body));
  t.like(atShop.body, { issued: true, mykeyId: undefined });
  // The resident learns the ID at a town's device.
  const atTown = await cardSession(aobaDevice, card);
  t.like(atTown.body, { issued: false, customer: undefined });
  t.is(atShop.body.customer, customerOf(identity.secret, await aobaShopId(db), atTown.body.mykeyId));
  t.is(await homeOf(db, atTown.body.mykeyId), AOBA);
  const [issued] = await eventsOf(db, atTown.body.mykeyId, 'mykey.issued');
  t.deepEqual(issued!.details.municipalities, [AOBA], 'the issuance belongs to the town that issued it');
});

test('to another town\'s staff, the record, counter relink, suspension and reinstatement answer byte for byte as for an unknown ID', async (t) => {
  const { db, pki, aobaStaff, aobaDevice } = await fixture();
  const { mykeyId } = await miraiResident();
  const unknown = unusedMykeyId();
  const calls: Array<[string, 'GET' | 'POST', string, () => Promise<unknown>]> = [
    ['record', 'GET', '', async () => undefined],
    ['counter relink', 'POST', '/relinks', async () => ({ proof: await provenCard(aobaDevice, await pki.card(), 'counter_relink'), reason: '転入時に確認' })],
    ['suspension', 'POST', '/suspension', async () => ({ reason: '不正利用の疑い' })],
    ['reinstatement', 'POST', '/reinstatement', async () => ({ reason: '確認済み' })],
  ];
  for (const [name, method, suffix, body] of calls) {
    const foreign = await rawCall(aobaStaff, method, `/api/v1/staff/mykeys/${mykeyId}${suffix}`, await body());
    const none = await rawCall(aobaStaff, method, `/api/v1/staff/mykeys/${unknown}${suffix}`, await body());
    t.is(foreign.status, 404, name);
    t.is(JSON.parse(foreign.text).code, 'mykey_not_found', name);
    t.deepEqual(blanked(foreign, mykeyId), blanked(none, unknown), name);
  }
  // Nothing happened to the resident, and each refusal is on record in the home town's history.
  t.like(await db('mykeys').where({ mykey_id: mykeyId }).first(), { status: 'active', home_municipality_code: MIRAI });
  t.is((await db('mykey_certificates as c').join('mykeys as m', 'm.id', 'c.mykey_pk').where('m.mykey_id', mykeyId)).length, 1);
  const refusals = await eventsOf(db, mykeyId, 'staff.isolation_refused');
  t.deepEqual(refusals.map((e) => [e.details.method, e.details.route, e.details.answered, e.details.municipalities]), [
    ['GET', '/api/v1/staff/mykeys/:mykeyId', 'mykey_not_found', [MIRAI]],
    ['POST', '/api/v1/staff/mykeys/:mykeyId/relinks', 'mykey_not_found', [MIRAI]],
    ['POST', '/api/v1/staff/mykeys/:mykeyId/suspension', 'mykey_not_found', [MIRAI]],
    ['POST', '/api/v1/staff/mykeys/:mykeyId/reinstatement', 'mykey_not_found', [MIRAI]],
  ]);
  t.true(refusals.every((e) => e.actor_kind === 'staff' && e.details.organization === `municipality:${AOBA}`));
  t.is((await db('audit_events').where({ subject: unknown })).length, 0, 'an ID that does not exist has nothing to attach a refusal to');
});

test('a shop clerk on a municipal route gets 403, and the refusal is audited', async (t) => {
  const { db, aobaShop } = await fixture();
  const { mykeyId } = await miraiResident();
  const clerk = await db('staff_accounts').where({ login_id: 'demo-aoba-shop' }).first('id');
  const before = (await db('audit_events').where({ action: 'staff.role_refused', subject: `staff:${clerk.id}` })).length;
  const refused = await aobaShop.post(`/api/v1/staff/mykeys/${mykeyId}/block`, { reason: '店舗から' });
  t.is(refused.status, 403);
  t.is(refused.body.code, 'staff_role_forbidden');
  const events = await db('audit_events').where({ action: 'staff.role_refused', subject: `staff:${clerk.id}` }).orderBy('seq');
  t.is(events.length, before + 1);
  const details = typeof events.at(-1).details === 'string' ? JSON.parse(events.at(-1).details) : events.at(-1).details;
  t.like(details, { method: 'POST', route: '/api/v1/staff/mykeys/:mykeyId/block', municipalities: [AOBA] });
});

test('a home move at a shop\'s register of the new town: the register is told the shop\'s pseudonym and the new home, not the MyKey ID', async (t) => {
  const { db, identity, aobaRegister } = await fixture();
  const { card, mykeyId } = await miraiResident();
  const moved = await aobaRegister.post('/api/v1/mykeys/home-moves', { proof: await provenCard(aobaRegister, card, 'home_move') });
  t.is(moved.status, 201, JSON.stringify(moved.body));
  t.deepEqual(moved.body, { customer: customerOf(identity.secret, await aobaShopId(db), mykeyId), homeMunicipalityCode: AOBA });
  t.is(await homeOf(db, mykeyId), AOBA);
});

test('the resident moves their home with card and PIN at a device of the new town; on record in both towns, staff powers follow', async (t) => {
  const { db, pki, device, staff, aobaStaff, aobaDevice } = await fixture();
  const { card, mykeyId } = await miraiResident();
  t.is((await aobaStaff.get(`/api/v1/staff/mykeys/${mykeyId}`)).status, 404);

  // Proofs of another purpose, or made at another device, do not move anything.
  const notForMoving = await aobaDevice.post('/api/v1/mykeys/home-moves', { proof: await provenCard(aobaDevice, card, 'relink') });
  t.is(notForMoving.body.code, 'card_proof_unknown');
  const elsewhere = await aobaDevice.post('/api/v1/mykeys/home-moves', { proof: await provenCard(device, card, 'home_move') });
  t.is(elsewhere.body.code, 'card_proof_unknown');
  t.is(await homeOf(db, mykeyId), MIRAI);

  const proof = await provenCard(aobaDevice, card, 'home_move');
  const moved = await aobaDevice.post('/api/v1/mykeys/home-moves', { proof }, 'home-move-key-0001');
  t.is(moved.status, 201, JSON.stringify(moved.body));
  t.deepEqual(moved.body, { mykeyId, homeMunicipalityCode: AOBA });
  t.deepEqual(await aobaDevice.post('/api/v1/mykeys/home-moves', { proof }, 'home-move-key-0001'), moved, 'a retry gets the first answer');
  t.is(await homeOf(db, mykeyId), AOBA);
  const [event] = await eventsOf(db, mykeyId, 'mykey.home_moved');
  t.like(event, { actor_kind: 'device', actor_id: String(aobaDevice.id), details: { from: MIRAI, to: AOBA, municipalities: [AOBA, MIRAI].sort() } });
  t.is((await eventsOf(db, mykeyId, 'mykey.home_moved')).length, 1);
  const again = await aobaDevice.post('/api/v1/mykeys/home-moves', { proof: await provenCard(aobaDevice, card, 'home_move') });
  t.is(again.status, 409);
  t.is(again.body.code, 'mykey_home_unchanged');

  // The new home's staff have the whole record; the old home's staff no longer do.
  const record = await aobaStaff.get(`/api/v1/staff/mykeys/${mykeyId}`);
  t.is(record.status, 200);
  t.like(record.body, { mykeyId, homeMunicipalityCode: AOBA, status: 'active', townBlock: null });
  t.deepEqual(record.body.events.map((e: { action: string }) => e.action), ['mykey.home_moved'], 'みらい市\'s issuance is みらい市\'s history');
  t.is((await staff.get(`/api/v1/staff/mykeys/${mykeyId}`)).body.code, 'mykey_not_found');
  t.is((await staff.post(`/api/v1/staff/mykeys/${mykeyId}/suspension`, { reason: '転出後' })).body.code, 'mykey_not_found');
  const oldTown = await staff.get(`/api/v1/staff/mykeys/${mykeyId}/town`);
  // The old home sees the move too, and あおば町's refused look from before the move, made while it was home.
  t.deepEqual(oldTown.body.events.map((e: { action: string }) => e.action), ['mykey.home_moved', 'staff.isolation_refused', 'mykey.issued']);
  t.is((await aobaStaff.post(`/api/v1/staff/mykeys/${mykeyId}/suspension`, { reason: '本人の申出' })).status, 200);
});

test('a town blocks an ID from its own services only: payments at its shops, its grants, its devices; other towns go on', async (t) => {
  const { db, identity, device, staff, aobaStaff, aobaShop, aobaDevice, aobaRegister, partnerId } = await fixture();
  const { card, mykeyId } = await miraiResident();
  // Another town grants to the resident, credits a conversion in its accounts and takes a payment.
  const grant = (who: Staff, campaign: string) => who.post('/api/v1/staff/grants', { mykeyId, campaign, points: 100, reason: 'イベント参加' });
  t.is((await grant(aobaStaff, DEMO_SECOND_GRANT_CAMPAIGN.slug)).status, 201);
  await inLedgerTransaction(db, (trx) => creditConversions(trx, [{ reference: `test:${randomUUID()}`, municipalityCode: AOBA, mykeyId, partnerId, points: 1_000 }]));
  const pay = async () => {
    const intent = await aobaShop.post('/api/v1/merchant/payment-intents', { amount: 300 });
    const challenge = await aobaRegister.post('/api/v1/auth/challenges', { purpose: 'payment', paymentIntentId: intent.body.intentId });
    return aobaRegister.post('/api/v1/auth/card-sessions', cardProof(challenge.body, card));
  };
  const paid = await pay();
  t.is(paid.status, 201, JSON.stringify(paid.body));
  t.like(paid.body, { customer: customerOf(identity.secret, await aobaShopId(db), mykeyId), amount: 300 });

  const key = randomUUID();
  const blocked = await aobaStaff.post(`/api/v1/staff/mykeys/${mykeyId}/block`, { reason: '不正利用の疑い（店舗から通報）' }, key);
  t.is(blocked.status, 200, JSON.stringify(blocked.body));
  t.deepEqual(blocked.body, { mykeyId, municipalityCode: AOBA, blocked: true });
  t.deepEqual(await aobaStaff.post(`/api/v1/staff/mykeys/${mykeyId}/block`, { reason: '不正利用の疑い（店舗から通報）' }, key), blocked, 'a retry gets the first answer');
  t.is((await aobaStaff.post(`/api/v1/staff/mykeys/${mykeyId}/block`, { reason: '二重' })).body.code, 'mykey_already_blocked');
  t.is((await eventsOf(db, mykeyId, 'mykey.blocked')).length, 1);

  // Refused in あおば町: its shops, its grants, its devices, for any purpose.
  t.like(await pay(), { status: 403, body: { code: 'mykey_blocked_here' } });
  t.like(await grant(aobaStaff, DEMO_SECOND_GRANT_CAMPAIGN.slug), { status: 403, body: { code: 'mykey_blocked_here' } });
  t.like(await cardSession(aobaDevice, card), { status: 403, body: { code: 'mykey_blocked_here' } });
  t.like(await cardSession(aobaDevice, card, 'home_move'), { status: 403, body: { code: 'mykey_blocked_here' } });
  // みらい市 is unaffected, and its staff do not see あおば町's block or its reason.
  t.like(await cardSession(device, card), { status: 201, body: { mykeyId } });
  t.is((await grant(staff, DEMO_GRANT_CAMPAIGN.slug)).status, 201);
  const home = await staff.get(`/api/v1/staff/mykeys/${mykeyId}`);
  t.like(home.body, { status: 'active', townBlock: null });
  t.false(JSON.stringify(home.body).includes('不正利用の疑い'));
  t.deepEqual(home.body.events.map((e: { action: string }) => e.action), ['points.granted', 'mykey.issued']);

  // あおば町 sees its own block and only its own events.
  const theirs = await aobaStaff.get(`/api/v1/staff/mykeys/${mykeyId}/town`);
  t.is(theirs.status, 200);
  t.like(theirs.body, { mykeyId, municipalityCode: AOBA, townBlock: { reason: '不正利用の疑い（店舗から通報）', staff: { name: '町職員 次郎' } } });
  t.deepEqual(theirs.body.events.map((e: { action: string }) => e.action), ['mykey.blocked', 'points.granted']);
  t.false(JSON.stringify(theirs.body).includes('cards'), 'no cards, no suspension: those are the home town\'s');

  const unblocked = await aobaStaff.post(`/api/v1/staff/mykeys/${mykeyId}/unblock`, { reason: '誤報と確認' });
  t.deepEqual(unblocked.body, { mykeyId, municipalityCode: AOBA, blocked: false });
  t.is((await aobaStaff.post(`/api/v1/staff/mykeys/${mykeyId}/unblock`, { reason: '二重' })).body.code, 'mykey_not_blocked');
  t.like(await cardSession(aobaDevice, card), { status: 201, body: { mykeyId } });
  t.like((await aobaStaff.get(`/api/v1/staff/mykeys/${mykeyId}/town`)).body, { townBlock: null });
  t.is((await aobaStaff.post(`/api/v1/staff/mykeys/${unusedMykeyId()}/block`, { reason: '不明' })).body.code, 'mykey_not_found');
});

test('every staff look at a record is audited in the viewer\'s town, and kept out of the history shown', async (t) => {
  const { db, staff, aobaStaff } = await fixture();
  const { mykeyId } = await miraiResident();
  t.is((await staff.get(`/api/v1/staff/mykeys/${mykeyId}`)).status, 200);
  t.is((await staff.get(`/api/v1/staff/mykeys/${mykeyId}/town`)).status, 200);
  const seen = await aobaStaff.get(`/api/v1/staff/mykeys/${mykeyId}/town`);
  t.deepEqual(seen.body.events, [], 'あおば町 has no events of this resident');
  const views = await eventsOf(db, mykeyId, 'mykey.viewed');
  t.deepEqual(views.map((e) => [e.actor_kind, e.details.scope, e.details.municipalities]), [
    ['staff', 'record', [MIRAI]], ['staff', 'town', [MIRAI]], ['staff', 'town', [AOBA]],
  ]);
  const after = await staff.get(`/api/v1/staff/mykeys/${mykeyId}`);
  t.deepEqual(after.body.events.map((e: { action: string }) => e.action), ['mykey.issued']);
});

/** A database migrated up to just before the home-municipality migration. */
const beforeHomes = (t: import('ava').ExecutionContext): Promise<Db> => migratedUpTo((fn) => t.teardown(fn), HOME_MIGRATION);

/** Rows as a populated database had them before homes: towns, a shop, staff and devices. */
async function legacyTowns(db: Db) {
  await db('municipalities').insert([{ code: MIRAI, name_ja: 'み', name_en: 'M' }, { code: AOBA, name_ja: 'あ', name_en: 'A' }]);
  const [shop] = await db('merchants').insert({ municipality_code: AOBA, slug: 'shop', name_ja: '店', name_en: 'Shop', status: 'approved' });
  const [staffId] = await db('staff_accounts').insert({ login_id: 'city', display_name: '職員', role: 'municipality', municipality_code: MIRAI, password_hash: 'x' });
  const device = async (organization: object, n: number) => (await db('devices').insert({
    ...organization, name: `d${n}`, token_hash: Buffer.alloc(32, n), enrolled_at: new Date(), enrolled_by_staff_id: staffId,
  }))[0]!;
  return { miraiDevice: await device({ municipality_code: MIRAI }, 1), shopDevice: await device({ merchant_id: shop }, 2) };
}

async function legacyMykey(db: Db, mykeyId: string, certByte: number): Promise<number> {
  const [pk] = await db('mykeys').insert({ mykey_id: mykeyId });
  await db('mykey_certificates').insert({ cert_key: Buffer.alloc(32, certByte), mykey_pk: pk, link_method: 'issued' });
  return pk!;
}

const issuedAt = (db: Db, mykeyId: string, deviceId: number) => db.transaction((trx: Knex.Transaction) =>
  appendAudit(trx, { action: 'mykey.issued', actor: { kind: 'device', id: String(deviceId) }, subject: mykeyId, details: { attempt: 0 } }));

test.serial('the migration gives existing IDs a home: the issuing device\'s town from the audit log, else where a card first signed', async (t) => {
  const db = await beforeHomes(t);
  const { miraiDevice, shopDevice } = await legacyTowns(db);
  await legacyMykey(db, 'AAAAAAA1', 1);
  await issuedAt(db, 'AAAAAAA1', shopDevice);
  await legacyMykey(db, 'AAAAAAA2', 2);
  await issuedAt(db, 'AAAAAAA2', miraiDevice);
  // No issuance event: its card signed first at the shop's device, later at みらい市's.
  await legacyMykey(db, 'AAAAAAA3', 3);
  const signed = (id: string, deviceId: number, at: string) => ({ id, device_id: deviceId, purpose: 'login', created_at: at, expires_at: at, signed_at: at, cert_key: Buffer.alloc(32, 3) });
  await db('auth_challenges').insert([signed('c'.repeat(43), miraiDevice, '2026-06-02 00:00:00'), signed('b'.repeat(43), shopDevice, '2026-06-01 00:00:00')]);
  await db.migrate.up();
  const homes = Object.fromEntries((await db('mykeys').orderBy('mykey_id').select('mykey_id', 'home_municipality_code')).map((r) => [r.mykey_id, r.home_municipality_code]));
  t.deepEqual(homes, { AAAAAAA1: AOBA, AAAAAAA2: MIRAI, AAAAAAA3: AOBA });
  await t.throwsAsync(db('mykeys').insert({ mykey_id: 'AAAAAAA4' }), { message: /home_municipality_code/ }, 'new IDs must have a home');
});

test.serial('an ID the migration cannot place stops it, with the count; once set by hand the migration runs again', async (t) => {
  const db = await beforeHomes(t);
  await legacyTowns(db);
  const pk = await legacyMykey(db, 'BBBBBBB1', 9);
  await t.throwsAsync(db.migrate.up(), { message: /1 MyKey IDs have no recoverable home municipality/ });
  await db('mykeys').where({ id: pk }).update({ home_municipality_code: MIRAI });
  await db.migrate.up();
  t.is(await homeOf(db, 'BBBBBBB1'), MIRAI);
  t.true(await db.schema.hasTable('mykey_town_blocks'));
});

test.serial('on a platform of one town, an ID with nothing else to go by gets that town', async (t) => {
  const db = await beforeHomes(t);
  await db('municipalities').insert({ code: MIRAI, name_ja: 'み', name_en: 'M' });
  await legacyMykey(db, 'CCCCCCC1', 10);
  await db.migrate.up();
  t.is(await homeOf(db, 'CCCCCCC1'), MIRAI);
});
