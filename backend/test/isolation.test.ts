// Every town sees only its own. The staff, shops, devices and partners of town A try every
// object of town B through every route of the API: each attempt answers exactly as for an
// object that does not exist, changes nothing of B's, and nothing of B's appears in anything
// A receives. The routes come from the app's own routers: a route without a case here fails
// the suite, so a new route joins it by construction.
import test, { type ExecutionContext } from 'ava';
import { generateKeyPairSync, randomBytes, randomUUID } from 'node:crypto';
import { DEMO_EVENT_CAMPAIGN, DEMO_GRANT_CAMPAIGN, DEMO_SECOND_CAMPAIGN, DEMO_SECOND_EVENT_CAMPAIGN, DEMO_SECOND_GRANT_CAMPAIGN, DEMO_SECOND_MERCHANTS, DEMO_SECOND_MUNICIPALITY as TOWN_B, DEMO_SECOND_STAFF, DEMO_PASSWORD } from '@mykey/dev-tools/demo-towns.ts';
import { fileFixture } from './helpers/env.ts';
import { cardProof, cardSession, enrollDevice, firstLogin, municipalCounter, provenCard, signInStaff, type Reply, type Staff } from './helpers/identity.ts';
import { addPartner, newMykeyId, signedFetch, type TestPartner } from './helpers/partners.ts';
import { routeList } from './helpers/routes.ts';
import { creditConversions, inLedgerTransaction } from '../src/ledger/ledger.ts';
import { tokyoDate } from '../src/ledger/rules.ts';
import { demoPasswordHash } from './helpers/staff.ts';
import { applyAsShop, SHOP_APPLICATION } from './helpers/shops.ts';

const SHOP_B = DEMO_SECOND_MERCHANTS[0]!;
// B's campaigns: it grants from the administrative one, its events are paid by the event one.
const CAMPAIGNS_B = [DEMO_SECOND_CAMPAIGN, DEMO_SECOND_GRANT_CAMPAIGN, DEMO_SECOND_EVENT_CAMPAIGN];
const GRANTS_B = DEMO_SECOND_GRANT_CAMPAIGN;

/** B's details as the payer of its transfer file. */
const PAYER_B = { requesterCode: '9876543210', requesterName: 'アオバチョウ', bankCode: '0777', bankName: 'アオバギンコウ', branchCode: '321', branchName: 'ホンテン', accountType: 'ordinary', accountNumber: '7777777' };

/** The Japanese date `n` days before today. */
const daysAgo = (n: number) => tokyoDate(new Date(Date.now() - n * 86_400_000));

const fixture = fileFixture(test, async (cleanup) => {
  // Town A is the seeded みらい市, town B the seeded あおば町.
  const a = await municipalCounter(cleanup);
  const { db, base, pki } = a;
  const cityB = await signInStaff(base, 'demo-aoba-city');
  const shopB = await signInStaff(base, 'demo-aoba-shop');
  const counterB = await enrollDevice(base, cityB, 'あおば町窓口端末');
  const registerB = await enrollDevice(base, shopB, 'あおば珈琲店レジ');
  const partnerB = await addPartner(db, { agreements: [TOWN_B.code] });

  // B's objects: a resident issued at B's counter, with points, a grant, an upload, payments,
  // a signed and an unsigned challenge, a conversion and a batch of B's partner.
  const residentB = await firstLogin(pki, counterB);
  await inLedgerTransaction(db, (trx) => creditConversions(trx, [{ reference: `test:${randomUUID()}`, municipalityCode: TOWN_B.code, mykeyId: residentB.mykeyId, partnerId: partnerB.id, points: 10_000 }]));
  const grantB = await cityB.post('/api/v1/staff/grants', { mykeyId: residentB.mykeyId, campaign: GRANTS_B.slug, points: 100, reason: 'あおば町の付与理由' });
  must(grantB, 201);
  const uploadB = await rawStaff(base, cityB, 'POST', `/api/v1/staff/grant-uploads?campaign=${GRANTS_B.slug}`, `mykey_id,points,reason\n${residentB.mykeyId},50,あおば町の一括理由\n`, 'text/csv');
  must(uploadB, 201);
  const openIntentB = must(await shopB.post('/api/v1/merchant/payment-intents', { amount: 300 }), 201).body.intentId as string;
  const paidIntentB = must(await shopB.post('/api/v1/merchant/payment-intents', { amount: 200 }), 201).body.intentId as string;
  const payChallenge = must(await registerB.post('/api/v1/auth/challenges', { purpose: 'payment', paymentIntentId: paidIntentB }), 201);
  const paidB = must(await registerB.post('/api/v1/auth/card-sessions', cardProof(payChallenge.body, residentB.card)), 201);
  const relinkProofB = await provenCard(counterB, residentB.card, 'relink');
  const moveProofB = await provenCard(counterB, residentB.card, 'home_move');
  // B blocks two of its residents from its own services (the second one for A to block too).
  const blockedB = await firstLogin(pki, counterB);
  for (const mykeyId of [residentB.mykeyId, blockedB.mykeyId]) must(await cityB.post(`/api/v1/staff/mykeys/${mykeyId}/block`, { reason: 'あおば町の利用停止理由' }), 200);
  const challengeB = must(await counterB.post('/api/v1/auth/challenges', { purpose: 'login' }), 201).body;
  // B's library, served by B's counter, where B's resident linked a membership; and a link B's clerk left open.
  const libraryB = must(await cityB.post('/api/v1/services', { kind: 'library', nameJa: 'あおば町立図書館', nameEn: 'Aoba Town Library', tapPolicy: 'tap' }), 201).body;
  must(await cityB.put(`/api/v1/services/${libraryB.id}/devices`, { deviceIds: [counterB.id] }), 200);
  const linkB = must(await cityB.post(`/api/v1/services/${libraryB.id}/membership-requests`, { action: 'link', memberNumber: 'AOBA-0001' }), 201).body;
  const linkChallengeB = must(await counterB.post('/api/v1/auth/challenges', { purpose: 'service_link', membershipRequestId: linkB.requestId }), 201).body;
  const memberB = await firstLogin(pki, counterB);
  const membershipB = must(await counterB.post('/api/v1/auth/card-sessions', cardProof(linkChallengeB, memberB.card)), 201).body.membership;
  const openLinkB = must(await cityB.post(`/api/v1/services/${libraryB.id}/membership-requests`, { action: 'link', memberNumber: 'AOBA-0002' }), 201).body;
  // B's member taps at B's counter: a use in B's figures.
  must(await counterB.post('/api/v1/auth/card-taps', { purpose: 'service_lookup', certificate: memberB.card.certificateDer.toString('base64') }), 201);
  // B's shelter, served by a desk of its own, where B's library member checked in.
  const shelterDeskB = await enrollDevice(base, cityB, 'あおば町避難所受付');
  const shelterB = must(await cityB.post('/api/v1/shelters', { nameJa: 'あおば町民体育館', nameEn: 'Aoba Town Gym', place: 'あおば町本町1-1', capacity: 40, drill: true }), 201).body;
  must(await cityB.put(`/api/v1/shelters/${shelterB.id}/devices`, { deviceIds: [shelterDeskB.id] }), 200);
  must(await shelterDeskB.post('/api/v1/auth/card-taps', { purpose: 'shelter_check_in', certificate: memberB.card.certificateDer.toString('base64') }), 201);
  // B's own event category and a clean-up day paid by B's campaign at a reception device of B's, where B's member tapped in.
  const categoryB = must(await cityB.post('/api/v1/event-categories', { nameJa: 'あおば町の分類', nameEn: 'Aoba category' }), 201).body;
  const campaignIdB = Number((await db('campaigns').where({ slug: DEMO_SECOND_EVENT_CAMPAIGN.slug }).first('id')).id);
  // Held today and tomorrow: the suite may run past midnight (Japan) and still tap at it.
  const eventB = must(await cityB.post('/api/v1/events', { nameJa: 'あおば町清掃活動', nameEn: 'Aoba clean-up', categoryId: categoryB.id, startsOn: tokyoDate(new Date()), endsOn: daysAgo(-1), points: 20, campaignId: campaignIdB, tapPolicy: 'tap' }), 201).body;
  const receptionB = await enrollDevice(base, cityB, 'あおば町行事受付');
  must(await cityB.put(`/api/v1/events/${eventB.id}/devices`, { deviceIds: [receptionB.id] }), 200);
  must(await receptionB.post('/api/v1/auth/card-taps', { purpose: 'event_attendance', certificate: memberB.card.certificateDer.toString('base64') }), 201);
  // B's closed settlement period and its payer's details.
  must(await cityB.put('/api/v1/staff/settlement-payer', PAYER_B), 200);
  const periodB = must(await cityB.post('/api/v1/staff/settlement-periods', { from: daysAgo(7), to: daysAgo(1), payOn: daysAgo(-7) }), 201).body.period.id as number;
  const conversionB = { partnerTxId: `aoba-tx-${randomBytes(4).toString('hex')}`, mykeyId: residentB.mykeyId, municipality: TOWN_B.code, partnerPoints: 1000 };
  must(await signedFetch(base, partnerB, 'POST', '/api/v1/partner/conversions', JSON.stringify(conversionB)), 202);
  const batchB = `aoba-batch-${randomBytes(4).toString('hex')}`;
  const batchLine = JSON.stringify({ ...conversionB, partnerTxId: `${conversionB.partnerTxId}-b` });
  must(await signedFetch(base, partnerB, 'PUT', `/api/v1/partner/conversion-batches/${batchB}`, `${batchLine}\n`, { contentType: 'application/x-ndjson', upload: true }), 200);

  // B's shop and an application to B, pending (the public form's, from no town's session).
  const shopIdB = Number((await db('merchants').where({ slug: SHOP_B.slug }).first('id')).id);
  const applicationB = must(await applyAsShop(base, { municipalityCode: TOWN_B.code, nameJa: 'あおば町の申請店', nameEn: 'Aoba applicant', address: 'あおば町申請1-1' }), 201).body;
  // B's open invitations: one for B's own staff, one its shop's owner issued.
  must(await cityB.post('/api/v1/staff/invitations', { displayName: 'あおば町の招待職員', roles: ['auditor'] }), 201);
  must(await shopB.post('/api/v1/staff/invitations', { displayName: 'あおば珈琲店の招待店員', roles: ['clerk'] }), 201);
  const invitationIdsB = (await db('staff_invitations').whereIn('display_name', ['あおば町の招待職員', 'あおば珈琲店の招待店員']).pluck('id')).map(Number);
  // B's own planned campaign, for B's shop and B's partner only.
  const plannedB = must(await cityB.post('/api/v1/campaigns', campaignTerms({ nameJa: 'あおば町の計画キャンペーン', nameEn: 'Aoba planned campaign', kind: 'conversion_premium', premiumPercent: 5, merchantIds: [shopIdB], partnerIds: [partnerB.id] })), 201).body;

  // Town A's parties: the seeded demo town's clerk, shop clerk, counter, register and a partner.
  const shopA = await signInStaff(base, 'demo-shop');
  const registerA = await enrollDevice(base, shopA, 'レジA');
  const partnerA = await addPartner(db, { agreements: ['139998'] });

  const b = {
    code: TOWN_B.code, campaignId: campaignIdB, resident: residentB, categoryId: Number(categoryB.id), eventId: Number(eventB.id), receptionB, cityB, shopB, counterB, registerB, partnerB,
    uploadId: String(uploadB.body.uploadId), openIntent: openIntentB, paidIntent: paidIntentB, relinkProof: relinkProofB, moveProof: moveProofB, challenge: challengeB, blocked: blockedB,
    partnerTxId: conversionB.partnerTxId, batchId: batchB, member: memberB, libraryId: Number(libraryB.id), membershipId: Number(membershipB.id), openLink: openLinkB.requestId as string,
    shelterId: Number(shelterB.id), shelterDesk: shelterDeskB, periodId: periodB, shopId: shopIdB, applicationId: Number(applicationB.applicationId), plannedCampaignId: Number(plannedB.id), invitationIds: invitationIdsB,
  };
  // Strings only B's objects hold, B's shop's pseudonym of its resident among them. (The
  // resident's MyKey ID is left out: A may name it itself, to grant points, and then sees it in
  // its own answer.)
  const markers = [
    TOWN_B.code, TOWN_B.name_ja, TOWN_B.name_en, SHOP_B.name_ja, SHOP_B.name_en, ...CAMPAIGNS_B.flatMap((c) => [c.slug, c.name_ja, c.name_en]),
    ...DEMO_SECOND_STAFF.map((staff) => staff.display_name), ...DEMO_SECOND_STAFF.map((staff) => staff.login_id), 'あおば町窓口端末', 'あおば珈琲店レジ', 'あおば町の付与理由', 'あおば町の一括理由', 'あおば町の利用停止理由',
    paidB.body.customer, openIntentB, paidIntentB, relinkProofB, moveProofB, challengeB.challengeId, conversionB.partnerTxId, batchB, partnerB.slug,
    'あおば町立図書館', 'Aoba Town Library', 'AOBA-0001', 'AOBA-0002', membershipB.pseudonym, openLinkB.requestId,
    'あおば町民体育館', 'Aoba Town Gym', 'あおば町本町1-1', 'あおば町避難所受付',
    'あおば町の分類', 'Aoba category', 'あおば町清掃活動', 'Aoba clean-up', 'あおば町行事受付',
    PAYER_B.requesterCode, 'ｱｵﾊﾞﾁﾖｳ', 'ｱｵﾊﾞｷﾞﾝｺｳ',
    'あおば町の申請店', 'Aoba applicant', 'あおば町申請1-1',
    'あおば町の計画キャンペーン', 'Aoba planned campaign', plannedB.slug,
    'あおば町の招待職員', 'あおば珈琲店の招待店員',
  ];
  // A's own library, served by A's counter, with PIN-less taps.
  const libraryA = must(await a.staff.post('/api/v1/services', { kind: 'library', nameJa: 'みらい市立図書館', nameEn: 'Mirai City Library', tapPolicy: 'tap' }), 201).body;
  must(await a.staff.put(`/api/v1/services/${libraryA.id}/devices`, { deviceIds: [a.device.id] }), 200);
  // A's own shelter, served by a desk of its own.
  const shelterDeskA = await enrollDevice(base, a.staff, 'みらい市避難所受付');
  const shelterA = must(await a.staff.post('/api/v1/shelters', { nameJa: 'みらい市民体育館', nameEn: 'Mirai City Gym', place: 'みらい市中央1-1', capacity: 100, drill: true }), 201).body;
  must(await a.staff.put(`/api/v1/shelters/${shelterA.id}/devices`, { deviceIds: [shelterDeskA.id] }), 200);
  // A's own clean-up day at a reception device of A's.
  const receptionA = await enrollDevice(base, a.staff, 'みらい市行事受付');
  const campaignIdA = Number((await db('campaigns').where({ slug: DEMO_EVENT_CAMPAIGN.slug }).first('id')).id);
  const volunteeringA = (await a.staff.get('/api/v1/event-categories')).body.categories[0].id as number;
  // Held today and tomorrow: the suite may run past midnight (Japan) and still tap at it.
  const eventA = must(await a.staff.post('/api/v1/events', { nameJa: 'みらい市清掃活動', nameEn: 'Mirai clean-up', categoryId: volunteeringA, startsOn: tokyoDate(new Date()), endsOn: daysAgo(-1), points: 20, campaignId: campaignIdA, tapPolicy: 'tap' }), 201).body;
  must(await a.staff.put(`/api/v1/events/${eventA.id}/devices`, { deviceIds: [receptionA.id] }), 200);
  return { ...a, cityA: a.staff, counterA: a.device, shopA, registerA, partnerA, libraryA: Number(libraryA.id), shelterA: Number(shelterA.id), shelterDeskA, receptionA, eventA: Number(eventA.id), campaignIdA, volunteeringA, b, markers };
});

type Fixture = Awaited<ReturnType<typeof fixture>>;

/** B's shop and B's application, as B's administrator sees them: unchanged by anything A tried. */
async function shopsOfBUntouched(t: ExecutionContext, f: Fixture): Promise<void> {
  const shop = (await f.b.cityB.get(`/api/v1/staff/shops/${f.b.shopId}`)).body;
  t.is(shop.status, 'approved');
  t.not(shop.bankAccount?.accountNumber, '9999999');
  t.like((await f.b.cityB.get(`/api/v1/staff/shops/${f.b.applicationId}`)).body, { status: 'pending', statusReason: null, bankAccount: { accountNumber: SHOP_APPLICATION.bankAccount.accountNumber } });
}

function must(reply: Reply, status: number): Reply {
  if (reply.status !== status) throw new Error(`expected ${status}, got ${reply.status}: ${JSON.stringify(reply.body)}`);
  return reply;
}

/** A staff request whose body is not JSON (a file), or whose answer may not be (a download). */
async function rawStaff(base: string, staff: Staff, method: string, path: string, body?: string, type?: string): Promise<Reply & { text: string }> {
  const response = await fetch(`${base}${path}`, { method, headers: { cookie: staff.cookie, ...(type && { 'Content-Type': type }) }, body });
  const text = await response.text();
  let json: unknown;
  try { json = JSON.parse(text); } catch { json = undefined; }
  return { status: response.status, body: json, text };
}

const partnerCall = (f: Fixture, partner: TestPartner, method: string, path: string, body?: string, contentType?: string) =>
  signedFetch(f.base, partner, method, path, body, contentType ? { contentType, upload: method === 'PUT' } : {});

/** Fails when anything of town B is in what A received. */
function nothingOfB(t: ExecutionContext, f: Fixture, ...replies: Array<Reply & { text?: string }>): void {
  for (const reply of replies) {
    const text = reply.text ?? JSON.stringify(reply.body);
    for (const marker of f.markers) t.false(text.includes(marker), `A received ${JSON.stringify(marker)} of town B: ${text.slice(0, 300)}`);
  }
}

/** Problem documents differ only in their request id (and the path in `instance`). */
const comparable = (reply: Reply) => {
  const { requestId: _r, instance: _i, ...rest } = (reply.body ?? {}) as Record<string, unknown>;
  return { status: reply.status, ...rest };
};

/** B's object answers A exactly as an object that does not exist. */
function sameAsUnknown(t: ExecutionContext, f: Fixture, ofB: Reply, unknown: Reply): void {
  t.true(unknown.status === 404 || unknown.status === 400, `the unknown object answered ${unknown.status}: ${JSON.stringify(unknown.body)}`);
  t.deepEqual(comparable(ofB), comparable(unknown));
  // `instance` is the path A itself sent.
  nothingOfB(t, f, { status: ofB.status, body: comparable(ofB) });
}

/** A clerk of A's bakery of the test's own, for what ends an account's sessions. */
async function ownClerkA(f: Fixture): Promise<Staff> {
  const loginId = `a-clerk-${randomBytes(4).toString('hex')}`;
  const bakery = await f.db('merchants').where({ slug: 'demo-bakery' }).first('id');
  await f.db('staff_accounts').insert({ login_id: loginId, display_name: '店員 分離', organization_kind: 'merchant', roles: 'owner', merchant_id: bakery.id, password_hash: await demoPasswordHash() });
  return signInStaff(f.base, loginId);
}

/** B's staff are still signed in and B's block of its resident stands. */
async function bUntouched(t: ExecutionContext, f: Fixture): Promise<void> {
  t.is((await f.b.cityB.get('/api/v1/staff/session')).status, 200, "B's clerk is still signed in");
  t.is((await f.b.shopB.get('/api/v1/staff/session')).status, 200, "B's shop clerk is still signed in");
  const town = must(await f.b.cityB.get(`/api/v1/staff/mykeys/${f.b.resident.mykeyId}/town`), 200);
  t.truthy(town.body.townBlock, "B's block of its resident stands");
}

const unknownIntent = () => `pi_${randomBytes(16).toString('base64url')}`;
const today = () => tokyoDate(new Date());
/** The Japanese date a year on: the last day of points converted today. */
const aYearOn = () => tokyoDate(new Date(Date.now() + 365 * 86_400_000));

type Case = (t: ExecutionContext, f: Fixture) => Promise<void>;

/** A campaign's terms: an administrative one running from today for a month, unless told. */
function campaignTerms(more: Record<string, unknown> = {}) {
  const inMonth = tokyoDate(new Date(Date.now() + 30 * 86_400_000));
  return {
    kind: 'administrative', nameJa: 'みらい市のキャンペーン', nameEn: 'Mirai campaign', startsOn: tokyoDate(new Date()), endsOn: inMonth, premiumPercent: 0,
    capPerResidentPoints: 1_000, budgetPoints: 10_000, validity: { until: inMonth }, merchantIds: null, partnerIds: null, ...more,
  };
}

/** B's planned campaign as B's staff see it: unchanged by anything A tried. */
async function bCampaignUntouched(t: ExecutionContext, f: Fixture): Promise<void> {
  t.like(must(await f.b.cityB.get(`/api/v1/campaigns/${f.b.plannedCampaignId}`), 200).body,
    { status: 'planned', version: 1, fundedPoints: 0, budgetPoints: 10_000, merchantIds: [f.b.shopId] }, "B's campaign is as B left it");
}

/** Routes that reach no town's objects, and why. */
const UNSCOPED: Record<string, string> = {
  'GET /healthz': 'liveness: no data',
  'GET /readyz': 'readiness: no data',
  'GET /api/v1/openapi.json': "the API's description: no data",
  'POST /api/v1/staff/sessions': 'sign-in: answers only about the account signing in',
  'POST /api/v1/devices': 'enrollment: the one-time code is the credential and names its organization',
  'POST /api/v1/staff/sessions/second-factor': "sign-in's second step: answers only about the session signing in",
  'POST /api/v1/staff/totp/enrolment/confirm': "completes the caller's own enrolment: answers only about its own account",
  'GET /api/v1/shop-applications/towns': "the public application form's list of towns: every town's name, public by design",
  'POST /api/v1/staff/invitations/redemptions': 'the one-time invitation code is the credential and names its organization',
};

/** The ids of B's staff accounts (its town's and its shop's). */
async function staffOfB(f: Fixture): Promise<number[]> {
  return (await f.db('staff_accounts').whereIn('login_id', DEMO_SECOND_STAFF.map((staff) => staff.login_id)).pluck('id')).map(Number);
}

/** A's town staff and A's shop try a change to each of B's staff accounts: answered as unknown, and B's staff keep their roles and sessions. */
async function bStaffUnreachable(t: ExecutionContext, f: Fixture, attempt: (staff: Staff, id: number) => Promise<Reply>): Promise<void> {
  const before = await f.db('staff_accounts').whereIn('id', await staffOfB(f)).orderBy('id').select('roles', 'disabled_at', 'totp_secret_sealed');
  for (const staff of [f.cityA, f.shopA]) {
    for (const id of await staffOfB(f)) sameAsUnknown(t, f, await attempt(staff, id), await attempt(staff, 999_999_999));
  }
  t.deepEqual(await f.db('staff_accounts').whereIn('id', await staffOfB(f)).orderBy('id').select('roles', 'disabled_at', 'totp_secret_sealed'), before);
  await bUntouched(t, f);
}

/** A resident of A with points in A, whose card opened their own page at A's counter: calls with the page's cookie. */
async function residentPageA(f: Fixture) {
  const resident = await firstLogin(f.pki, f.counterA);
  await inLedgerTransaction(f.db, (trx) => creditConversions(trx, [{ reference: `test:${randomUUID()}`, municipalityCode: '139998', mykeyId: resident.mykeyId, partnerId: f.partnerA.id, points: 500 }]));
  return residentPage(f, await provenCard(f.counterA, resident.card, 'resident_page'));
}

/** A browser handing in the card's signed resident_page challenge, then calling with the page's cookie. */
async function residentPage(f: Fixture, proof: string) {
  const opened = await fetch(`${f.base}/api/v1/resident/sessions`, { method: 'POST', headers: { 'Content-Type': 'application/json' }, body: JSON.stringify({ proof }) });
  const page = { cookie: opened.headers.get('set-cookie')?.split(';')[0] ?? '' } as Staff;
  return {
    opened: { status: opened.status, body: await opened.json() } as Reply,
    call: (method: string, path: string) => rawStaff(f.base, page, method, path),
    /** A change of the page's: POSTed with a fresh Idempotency-Key. */
    change: async (path: string, body?: unknown): Promise<Reply> => {
      const response = await fetch(`${f.base}${path}`, { method: 'POST', headers: { cookie: page.cookie, 'Idempotency-Key': randomUUID(), ...(body !== undefined && { 'Content-Type': 'application/json' }) }, body: body === undefined ? undefined : JSON.stringify(body) });
      return { status: response.status, body: await response.json() };
    },
  };
}

/** Two residents of B who consented with each other at B's counter: their pairing's id. */
async function familyOfB(f: Fixture): Promise<number> {
  const consent = async (card: Awaited<ReturnType<typeof firstLogin>>['card'], body: Record<string, string>) => {
    const request = must(await f.b.counterB.post('/api/v1/family/requests', body), 201).body;
    const challenge = must(await f.b.counterB.post('/api/v1/auth/challenges', { purpose: `family_${body.action}`, familyRequestId: request.requestId }), 201).body;
    return must(await f.b.counterB.post('/api/v1/auth/card-sessions', cardProof(challenge, card)), 201).body;
  };
  const [parent, child] = [await firstLogin(f.pki, f.b.counterB), await firstLogin(f.pki, f.b.counterB)];
  const { code } = await consent(parent.card, { action: 'offer', label: 'あおば町の親' });
  await consent(child.card, { action: 'accept', code, label: 'あおば町の子' });
  return Number((await f.db('family_pairings').where({ code }).first('id')).id);
}

const CASES: Record<string, Case> = {
  async 'POST /api/v1/resident/sessions'(t, f) {
    // B's card proof of another purpose opens nothing, as a proof that does not exist.
    sameAsUnknown(t, f,
      (await residentPage(f, f.b.relinkProof)).opened,
      (await residentPage(f, randomBytes(32).toString('base64url'))).opened);
    const own = await residentPageA(f);
    t.is(own.opened.status, 201);
    nothingOfB(t, f, own.opened);
  },

  async 'GET /api/v1/resident/session'(t, f) {
    nothingOfB(t, f, must(await (await residentPageA(f)).call('GET', '/api/v1/resident/session'), 200));
    t.like(await rawStaff(f.base, f.cityA, 'GET', '/api/v1/resident/session'), { status: 401, body: { code: 'resident_session_closed' } }, 'a staff session is no resident\'s');
  },

  async 'GET /api/v1/resident/points'(t, f) {
    const points = must(await (await residentPageA(f)).call('GET', '/api/v1/resident/points'), 200);
    nothingOfB(t, f, points);
    t.deepEqual(points.body.balances.map((b: { points: number }) => b.points), [500]);
    t.like(await rawStaff(f.base, f.b.cityB, 'GET', '/api/v1/resident/points'), { status: 401, body: { code: 'resident_session_closed' } });
  },

  async 'GET /api/v1/resident/history'(t, f) {
    const history = must(await (await residentPageA(f)).call('GET', '/api/v1/resident/history'), 200);
    nothingOfB(t, f, history);
    t.is(history.body.total, 1);
  },

  async 'GET /api/v1/resident/history.csv'(t, f) {
    const csv = await (await residentPageA(f)).call('GET', '/api/v1/resident/history.csv');
    nothingOfB(t, f, must(csv, 200));
    t.is(csv.text.trimEnd().split('\r\n').length, 2);
  },

  async 'GET /api/v1/resident/record-views'(t, f) {
    // A's staff look at A's resident: their page shows that look alone, nothing of what B's staff
    // did to B's residents (a grant, blocks); B's staff see nothing with their own cookie.
    const resident = await firstLogin(f.pki, f.counterA);
    must(await f.cityA.get(`/api/v1/staff/mykeys/${resident.mykeyId}`), 200);
    const page = await residentPage(f, await provenCard(f.counterA, resident.card, 'resident_page'));
    const views = must(await page.call('GET', '/api/v1/resident/record-views'), 200);
    nothingOfB(t, f, views);
    t.like(views.body, { total: 1, views: [{ municipality: { code: '139998' }, look: true }] });
    t.like(await rawStaff(f.base, f.b.cityB, 'GET', '/api/v1/resident/record-views'), { status: 401, body: { code: 'resident_session_closed' } });
  },

  async 'DELETE /api/v1/resident/session'(t, f) {
    // B's resident's page, opened at B's counter, stays open whatever A's page does.
    const pageB = await residentPage(f, await provenCard(f.b.counterB, f.b.member.card, 'resident_page'));
    t.is(pageB.opened.status, 201);
    const pageA = await residentPageA(f);
    t.is((await pageA.call('DELETE', '/api/v1/resident/session?reason=card_removed')).status, 204);
    t.is((await pageA.call('GET', '/api/v1/resident/points')).status, 401);
    t.is((await pageB.call('GET', '/api/v1/resident/points')).status, 200);
  },
  async 'GET /api/v1/resident/links'(t, f) {
    const links = must(await (await residentPageA(f)).call('GET', '/api/v1/resident/links'), 200);
    nothingOfB(t, f, links);
    t.like(links.body, { memberships: [], family: { consents: [], offers: [] }, home: { municipality: { code: '139998' } } });
    t.like(await rawStaff(f.base, f.b.cityB, 'GET', '/api/v1/resident/links'), { status: 401, body: { code: 'resident_session_closed' } });
  },

  async 'POST /api/v1/resident/memberships/:id/unlink'(t, f) {
    const page = await residentPageA(f);
    sameAsUnknown(t, f, await page.change(`/api/v1/resident/memberships/${f.b.membershipId}/unlink`), await page.change('/api/v1/resident/memberships/999999999/unlink'));
    t.truthy(await f.db('memberships').where({ id: f.b.membershipId }).first('id'), "B's membership stands");
  },

  async 'POST /api/v1/resident/family-consents/:id/withdraw'(t, f) {
    const pairingB = await familyOfB(f);
    const page = await residentPageA(f);
    sameAsUnknown(t, f, await page.change(`/api/v1/resident/family-consents/${pairingB}/withdraw`), await page.change('/api/v1/resident/family-consents/999999999/withdraw'));
    t.is((await f.db('family_pairings').where({ id: pairingB }).first('ended_at')).ended_at, null, "B's consent stands");
  },

  async 'POST /api/v1/resident/home-moves'(t, f) {
    const page = await residentPageA(f);
    // B's resident's signed home_move, handed in on A's page, moves nothing, as a proof that does not exist.
    sameAsUnknown(t, f, await page.change('/api/v1/resident/home-moves', { proof: f.b.moveProof }), await page.change('/api/v1/resident/home-moves', { proof: randomBytes(32).toString('base64url') }));
    t.is((await f.db('mykeys').where({ mykey_id: f.b.resident.mykeyId }).first('home_municipality_code')).home_municipality_code, f.b.code, "B's resident stays B's");
  },

  async 'GET /api/v1/staff/session'(t, f) {
    nothingOfB(t, f, await f.cityA.get('/api/v1/staff/session'), await f.shopA.get('/api/v1/staff/session'));
  },

  async 'DELETE /api/v1/staff/session'(t, f) {
    const own = await signInStaff(f.base, 'demo-city');
    const ended = await rawStaff(f.base, own, 'DELETE', '/api/v1/staff/session');
    t.is(ended.status, 204);
    t.is((await f.b.cityB.get('/api/v1/staff/session')).status, 200, "B's session lives on");
  },

  async 'DELETE /api/v1/staff/sessions'(t, f) {
    const clerk = await ownClerkA(f);
    t.is((await rawStaff(f.base, clerk, 'DELETE', '/api/v1/staff/sessions')).status, 204);
    t.is((await clerk.get('/api/v1/staff/session')).status, 401);
    await bUntouched(t, f);
  },

  async 'POST /api/v1/staff/password'(t, f) {
    const clerk = await ownClerkA(f);
    const changed = await clerk.post('/api/v1/staff/password', { currentPassword: DEMO_PASSWORD, newPassword: 'isolation-合言葉-2026-あ' });
    t.true(changed.status === 200 || changed.status === 201, JSON.stringify(changed.body));
    nothingOfB(t, f, changed);
    await bUntouched(t, f);
  },

  async 'POST /api/v1/staff/totp/enrolment'(t, f) {
    const clerk = await ownClerkA(f);
    nothingOfB(t, f, must(await clerk.post('/api/v1/staff/totp/enrolment', {}), 201));
  },

  async 'POST /api/v1/staff/device-enrollment-codes'(t, f) {
    const code = must(await f.cityA.post('/api/v1/staff/device-enrollment-codes', { name: 'A の新端末' }), 201);
    nothingOfB(t, f, code);
    const enrolled = await fetch(`${f.base}/api/v1/devices`, { method: 'POST', headers: { 'Content-Type': 'application/json' }, body: JSON.stringify({ code: code.body.code }) });
    const device = await enrolled.json() as { organization?: { id?: string } };
    t.is(enrolled.status, 201);
    t.not(device.organization?.id, f.b.code);
  },

  async 'GET /api/v1/staff/devices'(t, f) {
    nothingOfB(t, f, await f.cityA.get('/api/v1/staff/devices'), await f.shopA.get('/api/v1/staff/devices'));
  },

  async 'POST /api/v1/staff/devices/:id/revocation'(t, f) {
    for (const staff of [f.cityA, f.shopA]) {
      for (const deviceB of [f.b.counterB, f.b.registerB]) {
        sameAsUnknown(t, f, await staff.post(`/api/v1/staff/devices/${deviceB.id}/revocation`, {}), await staff.post('/api/v1/staff/devices/999999999/revocation', {}));
      }
    }
    t.is((await f.b.cityB.get('/api/v1/staff/devices')).body.devices.find((d: { id: number }) => Number(d.id) === f.b.counterB.id)?.status, 'active');
  },

  async 'GET /api/v1/devices/self'(t, f) {
    for (const device of [f.counterA, f.registerA]) nothingOfB(t, f, must(await device.get('/api/v1/devices/self'), 200));
  },

  async 'PUT /api/v1/devices/self/journal-key'(t, f) {
    // A device registers its own key only: the answer names it alone, and B's devices keep none.
    for (const device of [f.counterA, f.registerA]) {
      const publicKey = generateKeyPairSync('ed25519').publicKey.export({ type: 'spki', format: 'der' }).toString('base64');
      const reply = must(await device.put('/api/v1/devices/self/journal-key', { publicKey }), 200);
      nothingOfB(t, f, reply);
      t.deepEqual(reply.body, { deviceId: device.id });
    }
    const keysOfB = await f.db('devices').whereIn('id', [f.b.counterB.id, f.b.registerB.id]).whereNotNull('journal_public_key').count({ n: '*' });
    t.is(Number(keysOfB[0]!.n), 0);
  },

  async 'POST /api/v1/auth/challenges'(t, f) {
    for (const intent of [f.b.openIntent, f.b.paidIntent]) {
      sameAsUnknown(t, f,
        await f.registerA.post('/api/v1/auth/challenges', { purpose: 'payment', paymentIntentId: intent }),
        await f.registerA.post('/api/v1/auth/challenges', { purpose: 'payment', paymentIntentId: unknownIntent() }));
    }
    nothingOfB(t, f, must(await f.counterA.post('/api/v1/auth/challenges', { purpose: 'login' }), 201));
    sameAsUnknown(t, f,
      await f.counterA.post('/api/v1/auth/challenges', { purpose: 'service_link', membershipRequestId: f.b.openLink }),
      await f.counterA.post('/api/v1/auth/challenges', { purpose: 'service_link', membershipRequestId: `mr_${randomBytes(16).toString('base64url')}` }));
  },

  async 'POST /api/v1/auth/card-sessions'(t, f) {
    // A's counter sends a proof for a challenge B's counter was given.
    const card = await f.pki.card();
    const unknownChallenge = { challengeId: randomBytes(32).toString('base64url'), challenge: f.b.challenge.challenge };
    sameAsUnknown(t, f,
      await f.counterA.post('/api/v1/auth/card-sessions', cardProof(f.b.challenge, card)),
      await f.counterA.post('/api/v1/auth/card-sessions', cardProof(unknownChallenge, card)));
    // B's resident may log in at A's counter: the answer is about the card A's counter read.
    nothingOfB(t, f, must(await cardSession(f.counterA, f.b.resident.card), 201));
  },

  async 'POST /api/v1/auth/card-taps'(t, f) {
    // B's resident's card, or B's intent, at A's devices answers as a card or intent of nobody's.
    const tapOf = (certificate: Buffer, extra: Record<string, string> = {}) => ({ certificate: certificate.toString('base64'), ...extra });
    const stranger = (await f.pki.card()).certificateDer;
    const ofB = await f.counterA.post('/api/v1/auth/card-taps', { purpose: 'login', ...tapOf(f.b.resident.card.certificateDer) });
    t.deepEqual(comparable(ofB), comparable(await f.counterA.post('/api/v1/auth/card-taps', { purpose: 'login', ...tapOf(stranger) })));
    const intentOfB = await f.registerA.post('/api/v1/auth/card-taps', { purpose: 'payment', ...tapOf(stranger, { paymentIntentId: f.b.openIntent }) });
    t.deepEqual(comparable(intentOfB), comparable(await f.registerA.post('/api/v1/auth/card-taps', { purpose: 'payment', ...tapOf(stranger, { paymentIntentId: unknownIntent() }) })));
    nothingOfB(t, f, ofB, intentOfB);
    // B's library member, tapping at A's library, is nobody's member there.
    const atLibraryA = must(await f.counterA.post('/api/v1/auth/card-taps', { purpose: 'service_lookup', ...tapOf(f.b.member.card.certificateDer) }), 201);
    t.like(atLibraryA.body, { linked: false, service: { id: f.libraryA } });
    nothingOfB(t, f, atLibraryA);
    // B's resident tapping in at A's event is granted A's points in A; B's event device knows nothing of A's events.
    const atEventA = must(await f.receptionA.post('/api/v1/auth/card-taps', { purpose: 'event_attendance', ...tapOf(f.b.member.card.certificateDer) }), 201);
    t.like(atEventA.body, { event: { id: f.eventA }, grant: { points: 20 } });
    nothingOfB(t, f, atEventA);
    const aCardAtB = await f.b.receptionB.post('/api/v1/auth/card-taps', { purpose: 'event_attendance', ...tapOf(stranger) });
    t.is(aCardAtB.body.code, 'card_not_registered');
    t.like(await f.counterA.post('/api/v1/auth/card-taps', { purpose: 'event_attendance', ...tapOf(f.b.member.card.certificateDer) }), { status: 403, body: { code: 'device_not_for_event' } }, "A's library counter serves no event");
  },

  async 'POST /api/v1/mykeys/relinks'(t, f) {
    const newCard = await f.pki.card();
    const unknownProof = randomBytes(32).toString('base64url');
    sameAsUnknown(t, f,
      await f.counterA.post('/api/v1/mykeys/relinks', { oldProof: f.b.relinkProof, newProof: await provenCard(f.counterA, newCard, 'relink') }),
      await f.counterA.post('/api/v1/mykeys/relinks', { oldProof: unknownProof, newProof: await provenCard(f.counterA, newCard, 'relink') }));
  },

  async 'GET /api/v1/staff/mykeys/:mykeyId'(t, f) {
    sameAsUnknown(t, f, await f.cityA.get(`/api/v1/staff/mykeys/${f.b.resident.mykeyId}`), await f.cityA.get(`/api/v1/staff/mykeys/${newMykeyId()}`));
  },

  async 'POST /api/v1/staff/mykeys/:mykeyId/relinks'(t, f) {
    const newCard = await f.pki.card();
    const attempt = async (mykeyId: string) => f.cityA.post(`/api/v1/staff/mykeys/${mykeyId}/relinks`, { proof: await provenCard(f.counterA, newCard, 'counter_relink'), reason: '本人確認書類で確認' });
    sameAsUnknown(t, f, await attempt(f.b.resident.mykeyId), await attempt(newMykeyId()));
    t.is((await f.b.cityB.get(`/api/v1/staff/mykeys/${f.b.resident.mykeyId}`)).body.cards.filter((c: { status: string }) => c.status === 'active').length, 1);
  },

  async 'POST /api/v1/staff/mykeys/:mykeyId/suspension'(t, f) {
    const attempt = (mykeyId: string) => f.cityA.post(`/api/v1/staff/mykeys/${mykeyId}/suspension`, { reason: '不正利用の疑い' });
    sameAsUnknown(t, f, await attempt(f.b.resident.mykeyId), await attempt(newMykeyId()));
    t.is((await f.b.cityB.get(`/api/v1/staff/mykeys/${f.b.resident.mykeyId}`)).body.status, 'active');
  },

  async 'POST /api/v1/staff/mykeys/:mykeyId/reinstatement'(t, f) {
    const attempt = (mykeyId: string) => f.cityA.post(`/api/v1/staff/mykeys/${mykeyId}/reinstatement`, { reason: '確認済み' });
    sameAsUnknown(t, f, await attempt(f.b.resident.mykeyId), await attempt(newMykeyId()));
  },

  async 'GET /api/v1/staff/mykeys/:mykeyId/town'(t, f) {
    // Any town may look at its own side of an ID: its own block and its own events, nothing of B's.
    const town = must(await f.cityA.get(`/api/v1/staff/mykeys/${f.b.resident.mykeyId}/town`), 200);
    t.falsy(town.body.townBlock, "B's block is B's alone");
    nothingOfB(t, f, town);
  },

  async 'POST /api/v1/staff/mykeys/:mykeyId/block'(t, f) {
    const blocked = must(await f.cityA.post(`/api/v1/staff/mykeys/${f.b.blocked.mykeyId}/block`, { reason: 'みらい市での利用停止' }), 200);
    nothingOfB(t, f, blocked);
    const seenByB = must(await f.b.cityB.get(`/api/v1/staff/mykeys/${f.b.blocked.mykeyId}/town`), 200);
    t.false(JSON.stringify(seenByB.body).includes('みらい市での利用停止'), "A's block is A's alone");
    t.truthy(seenByB.body.townBlock, "B's own block stands");
  },

  async 'POST /api/v1/staff/mykeys/:mykeyId/unblock'(t, f) {
    // A cannot lift B's block: A has none of its own to lift.
    const lifted = await f.cityA.post(`/api/v1/staff/mykeys/${f.b.resident.mykeyId}/unblock`, { reason: '解除' });
    t.is(lifted.body?.code, 'mykey_not_blocked', JSON.stringify(lifted.body));
    nothingOfB(t, f, { status: lifted.status, body: comparable(lifted) });
    await bUntouched(t, f);
  },

  async 'POST /api/v1/mykeys/home-moves'(t, f) {
    // A's counter sends a proof signed at B's counter: as unknown as a proof that never was.
    sameAsUnknown(t, f,
      await f.counterA.post('/api/v1/mykeys/home-moves', { proof: f.b.moveProof }),
      await f.counterA.post('/api/v1/mykeys/home-moves', { proof: randomBytes(32).toString('base64url') }));
    t.is((await f.b.cityB.get(`/api/v1/staff/mykeys/${f.b.resident.mykeyId}`)).status, 200, 'the resident is still at home in B');
  },

  async 'GET /api/v1/services'(t, f) {
    nothingOfB(t, f, must(await f.cityA.get('/api/v1/services'), 200), await f.shopA.get('/api/v1/services'));
    t.is((await f.shopA.get('/api/v1/services')).status, 403, "a shop has no town services");
  },

  async 'POST /api/v1/services'(t, f) {
    // B's name is B's alone: A may use it for its own library.
    const created = must(await f.cityA.post('/api/v1/services', { kind: 'library', nameJa: 'あおば町立図書館', nameEn: 'Aoba Town Library (of Mirai)' }), 201);
    t.not(created.body.id, f.b.libraryId);
    t.is((await f.b.cityB.get(`/api/v1/services/${f.b.libraryId}`)).body.nameEn, 'Aoba Town Library');
  },

  async 'GET /api/v1/services/:id'(t, f) {
    sameAsUnknown(t, f, await f.cityA.get(`/api/v1/services/${f.b.libraryId}`), await f.cityA.get('/api/v1/services/999999999'));
  },

  async 'PATCH /api/v1/services/:id'(t, f) {
    const attempt = (id: number) => f.cityA.patch(`/api/v1/services/${id}`, { tapPolicy: 'pin' });
    sameAsUnknown(t, f, await attempt(f.b.libraryId), await attempt(999_999_999));
    t.is((await f.b.cityB.get(`/api/v1/services/${f.b.libraryId}`)).body.tapPolicy, 'tap');
  },

  async 'PUT /api/v1/services/:id/devices'(t, f) {
    sameAsUnknown(t, f,
      await f.cityA.put(`/api/v1/services/${f.b.libraryId}/devices`, { deviceIds: [f.counterA.id] }),
      await f.cityA.put('/api/v1/services/999999999/devices', { deviceIds: [f.counterA.id] }));
    // B's counter is no device of A's, and stays B's library's.
    sameAsUnknown(t, f,
      await f.cityA.put(`/api/v1/services/${f.libraryA}/devices`, { deviceIds: [f.counterA.id, f.b.counterB.id] }),
      await f.cityA.put(`/api/v1/services/${f.libraryA}/devices`, { deviceIds: [f.counterA.id, 999_999_999] }));
    t.deepEqual((await f.b.cityB.get(`/api/v1/services/${f.b.libraryId}`)).body.deviceIds, [f.b.counterB.id]);
  },

  async 'POST /api/v1/services/:id/membership-requests'(t, f) {
    const attempt = (id: number) => f.cityA.post(`/api/v1/services/${id}/membership-requests`, { action: 'unlink', memberNumber: 'AOBA-0001' });
    sameAsUnknown(t, f, await attempt(f.b.libraryId), await attempt(999_999_999));
    // A's own library knows nothing of B's numbers.
    t.like(await attempt(f.libraryA), { status: 404, body: { code: 'membership_not_found' } });
  },

  async 'GET /api/v1/services/:id/memberships'(t, f) {
    sameAsUnknown(t, f,
      await f.cityA.get(`/api/v1/services/${f.b.libraryId}/memberships?memberNumber=AOBA-0001`),
      await f.cityA.get('/api/v1/services/999999999/memberships?memberNumber=AOBA-0001'));
    sameAsUnknown(t, f,
      await f.cityA.get(`/api/v1/services/${f.libraryA}/memberships?memberNumber=AOBA-0001`),
      await f.cityA.get(`/api/v1/services/${f.libraryA}/memberships?memberNumber=NEVER-0001`));
  },

  async 'GET /api/v1/services/:id/uses'(t, f) {
    const period = `from=${today()}&to=${today()}`;
    sameAsUnknown(t, f, await f.cityA.get(`/api/v1/services/${f.b.libraryId}/uses?${period}`), await f.cityA.get(`/api/v1/services/999999999/uses?${period}`));
    nothingOfB(t, f, must(await f.cityA.get(`/api/v1/services/${f.libraryA}/uses?${period}&by=hour`), 200));
    t.is((await f.shopA.get(`/api/v1/services/${f.libraryA}/uses?${period}`)).status, 403, 'a shop has no town services');
  },

  async 'GET /api/v1/services/:id/uses.csv'(t, f) {
    const period = `from=${today()}&to=${today()}`;
    sameAsUnknown(t, f,
      await rawStaff(f.base, f.cityA, 'GET', `/api/v1/services/${f.b.libraryId}/uses.csv?${period}`),
      await rawStaff(f.base, f.cityA, 'GET', `/api/v1/services/999999999/uses.csv?${period}`));
    nothingOfB(t, f, must(await rawStaff(f.base, f.cityA, 'GET', `/api/v1/services/${f.libraryA}/uses.csv?${period}`), 200));
  },

  async 'GET /api/v1/service-uses'(t, f) {
    const town = must(await f.cityA.get(`/api/v1/service-uses?from=${today()}&to=${today()}&by=hour`), 200);
    nothingOfB(t, f, town);
    t.false(town.body.services.some((s: { service: { id: number } }) => s.service.id === f.b.libraryId), "B's library is not among A's services");
    t.is((await f.shopA.get(`/api/v1/service-uses?from=${today()}&to=${today()}`)).status, 403, 'a shop has no town services');
  },

  async 'GET /api/v1/service-uses.csv'(t, f) {
    const file = await rawStaff(f.base, f.cityA, 'GET', `/api/v1/service-uses.csv?from=${today()}&to=${today()}`);
    must(file, 200);
    nothingOfB(t, f, file);
    t.false(file.text.split('\r\n').some((line) => line.startsWith(`${f.b.libraryId},`)), "B's library has no row in A's file");
  },

  async 'POST /api/v1/services/:id/memberships/:membershipId/unlink'(t, f) {
    const attempt = (serviceId: number, membershipId: number) => f.cityA.post(`/api/v1/services/${serviceId}/memberships/${membershipId}/unlink`, { reason: '退会' });
    sameAsUnknown(t, f, await attempt(f.b.libraryId, f.b.membershipId), await attempt(999_999_999, 999_999_999));
    sameAsUnknown(t, f, await attempt(f.libraryA, f.b.membershipId), await attempt(f.libraryA, 999_999_999));
    t.is((await f.b.cityB.get(`/api/v1/services/${f.b.libraryId}/memberships?memberNumber=AOBA-0001`)).status, 200, "B's membership stands");
  },

  async 'PUT /api/v1/services/:id/webhook'(t, f) {
    const attempt = (id: number) => f.cityA.put(`/api/v1/services/${id}/webhook`, { url: 'https://mirai.example/hook' });
    sameAsUnknown(t, f, await attempt(f.b.libraryId), await attempt(999_999_999));
    t.is((await f.b.cityB.get(`/api/v1/services/${f.b.libraryId}`)).body.webhookUrl, null, "B's library has no webhook of A's");
  },

  async 'POST /api/v1/services/:id/api-secret'(t, f) {
    const attempt = (id: number) => f.cityA.post(`/api/v1/services/${id}/api-secret`, {});
    sameAsUnknown(t, f, await attempt(f.b.libraryId), await attempt(999_999_999));
    t.is((await f.b.cityB.get(`/api/v1/services/${f.b.libraryId}`)).body.apiSecretIssuedAt, null, 'B\'s library was given no secret');
  },

  async 'GET /api/v1/service-api/devices/:deviceId/last-tap'(t, f) {
    // B's member has just tapped at B's library; A's library asks about B's counter with its own key.
    must(await f.b.counterB.post('/api/v1/auth/card-taps', { purpose: 'service_lookup', certificate: f.b.member.card.certificateDer.toString('base64') }), 201);
    const issued = must(await f.cityA.post(`/api/v1/services/${f.libraryA}/api-secret`, {}), 201).body;
    const libraryA = { id: f.libraryA, slug: issued.keyId, apiSecret: issued.apiSecret };
    const ask = (deviceId: number, as = libraryA) => signedFetch(f.base, as, 'GET', `/api/v1/service-api/devices/${deviceId}/last-tap`);
    sameAsUnknown(t, f, await ask(f.b.counterB.id), await ask(999_999_999));
    // A's key cannot speak for B's library: as refused as a service that never was.
    const asB = await ask(f.b.counterB.id, { ...libraryA, slug: `service-${f.b.libraryId}` });
    t.is(asB.status, 401);
    t.deepEqual(comparable(asB), comparable(await ask(f.b.counterB.id, { ...libraryA, slug: 'service-999999999' })));
    nothingOfB(t, f, asB);
  },

  async 'GET /api/v1/shelters'(t, f) {
    const list = must(await f.cityA.get('/api/v1/shelters'), 200);
    nothingOfB(t, f, list);
    t.false(list.body.shelters.some((s: { id: number }) => s.id === f.b.shelterId), "B's shelter is not among A's");
    t.is((await f.shopA.get('/api/v1/shelters')).status, 403, 'a shop has no shelters');
  },

  async 'POST /api/v1/family/requests'(t, f) {
    // B's resident offers at B's counter: its code and its request are nobody's at A's counter.
    const offerB = must(await f.b.counterB.post('/api/v1/family/requests', { action: 'offer', label: 'あおば町の母' }), 201).body;
    const signed = must(await f.b.counterB.post('/api/v1/auth/challenges', { purpose: 'family_offer', familyRequestId: offerB.requestId }), 201).body;
    must(await f.b.counterB.post('/api/v1/auth/card-sessions', cardProof(signed, f.b.member.card)), 201);
    const unknownCode = offerB.code === 'ABCDEFGH' ? 'HGFEDCBA' : 'ABCDEFGH';
    const accepted = await f.counterA.post('/api/v1/family/requests', { action: 'accept', code: offerB.code, label: 'みらい市の子' });
    sameAsUnknown(t, f, accepted, await f.counterA.post('/api/v1/family/requests', { action: 'accept', code: unknownCode, label: 'みらい市の子' }));
    t.false(JSON.stringify(accepted.body).includes('あおば町の母'), "B's resident's label is not shown at A's counter");
    const openB = must(await f.b.counterB.post('/api/v1/family/requests', { action: 'offer', label: 'あおば町の父' }), 201).body;
    sameAsUnknown(t, f,
      await f.counterA.post('/api/v1/auth/challenges', { purpose: 'family_offer', familyRequestId: openB.requestId }),
      await f.counterA.post('/api/v1/auth/challenges', { purpose: 'family_offer', familyRequestId: `fr_${randomBytes(16).toString('base64url')}` }));
    t.like(await f.registerA.post('/api/v1/family/requests', { action: 'offer', label: '店' }), { status: 403, body: { code: 'purpose_not_for_device' } }, 'a shop register opens no family request');
    nothingOfB(t, f, must(await f.counterA.post('/api/v1/family/requests', { action: 'offer', label: 'みらい市の母' }), 201));
    t.is((await f.cityA.post('/api/v1/family/requests', { action: 'offer', label: '職員' })).status, 401, 'staff open no family request: it is a device\'s');
  },

  async 'POST /api/v1/shelters'(t, f) {
    nothingOfB(t, f, must(await f.cityA.post('/api/v1/shelters', { nameJa: '西公民館', nameEn: 'West Hall', place: 'みらい市西1', capacity: 20, drill: false }), 201));
    t.is((await f.shopA.post('/api/v1/shelters', { nameJa: '店', nameEn: 'Shop', place: '店', capacity: 1, drill: true })).status, 403, 'a shop opens no shelter');
  },

  async 'GET /api/v1/shelters/summary'(t, f) {
    const summary = must(await f.cityA.get('/api/v1/shelters/summary'), 200);
    nothingOfB(t, f, summary);
    t.false(summary.body.shelters.some((s: { shelter: { id: number } }) => s.shelter.id === f.b.shelterId), "B's shelter is not in A's summary");
    t.true(summary.body.shelters.some((s: { shelter: { id: number } }) => s.shelter.id === f.shelterA), "A's own is");
  },

  async 'GET /api/v1/shelters/:id'(t, f) {
    sameAsUnknown(t, f, await f.cityA.get(`/api/v1/shelters/${f.b.shelterId}`), await f.cityA.get('/api/v1/shelters/999999999'));
  },

  async 'PATCH /api/v1/shelters/:id'(t, f) {
    const attempt = (id: number) => f.cityA.patch(`/api/v1/shelters/${id}`, { capacity: 1 });
    sameAsUnknown(t, f, await attempt(f.b.shelterId), await attempt(999_999_999));
    t.is((await f.b.cityB.get(`/api/v1/shelters/${f.b.shelterId}`)).body.capacity, 40);
  },

  async 'PUT /api/v1/shelters/:id/devices'(t, f) {
    sameAsUnknown(t, f,
      await f.cityA.put(`/api/v1/shelters/${f.b.shelterId}/devices`, { deviceIds: [f.shelterDeskA.id] }),
      await f.cityA.put('/api/v1/shelters/999999999/devices', { deviceIds: [f.shelterDeskA.id] }));
    // B's desk named for A's own shelter: as unknown as a device that never was.
    sameAsUnknown(t, f,
      await f.cityA.put(`/api/v1/shelters/${f.shelterA}/devices`, { deviceIds: [f.shelterDeskA.id, f.b.shelterDesk.id] }),
      await f.cityA.put(`/api/v1/shelters/${f.shelterA}/devices`, { deviceIds: [f.shelterDeskA.id, 999_999_999] }));
    t.deepEqual((await f.b.cityB.get(`/api/v1/shelters/${f.b.shelterId}`)).body.deviceIds, [f.b.shelterDesk.id]);
  },

  async 'POST /api/v1/shelters/:id/close'(t, f) {
    const attempt = (id: number) => f.cityA.post(`/api/v1/shelters/${id}/close`, {});
    sameAsUnknown(t, f, await attempt(f.b.shelterId), await attempt(999_999_999));
    t.is((await f.b.cityB.get(`/api/v1/shelters/${f.b.shelterId}`)).body.closedAt, null, "B's shelter is still open");
  },

  async 'GET /api/v1/shelters/:id/roster'(t, f) {
    sameAsUnknown(t, f, await f.cityA.get(`/api/v1/shelters/${f.b.shelterId}/roster`), await f.cityA.get('/api/v1/shelters/999999999/roster'));
    nothingOfB(t, f, must(await f.cityA.get(`/api/v1/shelters/${f.shelterA}/roster`), 200));
  },

  async 'GET /api/v1/shelters/:id/roster.csv'(t, f) {
    sameAsUnknown(t, f,
      await rawStaff(f.base, f.cityA, 'GET', `/api/v1/shelters/${f.b.shelterId}/roster.csv`),
      await rawStaff(f.base, f.cityA, 'GET', '/api/v1/shelters/999999999/roster.csv'));
    nothingOfB(t, f, must(await rawStaff(f.base, f.cityA, 'GET', `/api/v1/shelters/${f.shelterA}/roster.csv`), 200));
  },

  async 'GET /api/v1/campaigns'(t, f) {
    const listed = must(await f.cityA.get('/api/v1/campaigns'), 200);
    nothingOfB(t, f, listed);
    t.false(listed.body.campaigns.some((c: { id: number }) => c.id === f.b.plannedCampaignId || c.id === f.b.campaignId));
    t.false(listed.body.choices.merchants.some((m: { id: number }) => m.id === f.b.shopId), "B's shop is no choice of A's");
    t.false(listed.body.choices.partners.some((p: { id: number }) => p.id === f.b.partnerB.id), "B's partner, without an agreement with A, is none either");
    t.is((await f.shopA.get('/api/v1/campaigns')).status, 403, 'a shop runs no campaign');
  },

  async 'POST /api/v1/campaigns'(t, f) {
    const create = (more: Record<string, unknown>) => f.cityA.post('/api/v1/campaigns', campaignTerms(more));
    // B's shop and B's partner are as unknown to A as ones that never were.
    sameAsUnknown(t, f, await create({ merchantIds: [f.b.shopId] }), await create({ merchantIds: [999_999_999] }));
    sameAsUnknown(t, f, await create({ kind: 'conversion_premium', premiumPercent: 5, partnerIds: [f.b.partnerB.id] }), await create({ kind: 'conversion_premium', premiumPercent: 5, partnerIds: [999_999_999] }));
    nothingOfB(t, f, must(await create({}), 201));
  },

  async 'GET /api/v1/campaigns/:id'(t, f) {
    sameAsUnknown(t, f, await f.cityA.get(`/api/v1/campaigns/${f.b.plannedCampaignId}`), await f.cityA.get('/api/v1/campaigns/999999999'));
    sameAsUnknown(t, f, await f.cityA.get(`/api/v1/campaigns/${f.b.campaignId}`), await f.cityA.get('/api/v1/campaigns/999999998'));
  },

  async 'PUT /api/v1/campaigns/:id'(t, f) {
    const edit = (id: number) => f.cityA.put(`/api/v1/campaigns/${id}`, { version: 1, terms: campaignTerms() });
    sameAsUnknown(t, f, await edit(f.b.plannedCampaignId), await edit(999_999_999));
    await bCampaignUntouched(t, f);
    // A's own planned campaign cannot take B's shop.
    const own = must(await f.cityA.post('/api/v1/campaigns', campaignTerms()), 201).body;
    const retarget = (merchantId: number) => f.cityA.put(`/api/v1/campaigns/${own.id}`, { version: 1, terms: campaignTerms({ merchantIds: [merchantId] }) });
    sameAsUnknown(t, f, await retarget(f.b.shopId), await retarget(999_999_999));
  },

  async 'POST /api/v1/campaigns/:id/status'(t, f) {
    for (const action of ['start', 'end']) {
      const attempt = (id: number) => f.cityA.post(`/api/v1/campaigns/${id}/status`, { action });
      sameAsUnknown(t, f, await attempt(f.b.plannedCampaignId), await attempt(999_999_999));
    }
    await bCampaignUntouched(t, f);
    t.is(must(await f.b.cityB.get(`/api/v1/campaigns/${f.b.campaignId}`), 200).body.status, 'running', "B's running campaign still runs");
  },

  async 'POST /api/v1/campaigns/:id/funding'(t, f) {
    const attempt = (id: number) => f.cityA.post(`/api/v1/campaigns/${id}/funding`, { points: 100 });
    sameAsUnknown(t, f, await attempt(f.b.plannedCampaignId), await attempt(999_999_999));
    await bCampaignUntouched(t, f);
  },

  async 'POST /api/v1/campaigns/:id/top-ups'(t, f) {
    const attempt = (id: number) => f.cityA.post(`/api/v1/campaigns/${id}/top-ups`, { points: 100 });
    sameAsUnknown(t, f, await attempt(f.b.plannedCampaignId), await attempt(999_999_999));
    sameAsUnknown(t, f, await attempt(f.b.campaignId), await attempt(999_999_998));
    await bCampaignUntouched(t, f);
  },

  async 'GET /api/v1/staff/accounts'(t, f) {
    nothingOfB(t, f, must(await f.cityA.get('/api/v1/staff/accounts'), 200), must(await f.shopA.get('/api/v1/staff/accounts'), 200));
  },

  async 'POST /api/v1/staff/invitations'(t, f) {
    // B's shop is as unknown to A's administrator as a shop that never was.
    const shopB = Number((await f.db('merchants').where({ slug: SHOP_B.slug }).first('id')).id);
    const ownerOf = (merchantId: number) => f.cityA.post('/api/v1/staff/invitations', { displayName: 'A の店主', roles: ['owner'], merchantId });
    sameAsUnknown(t, f, await ownerOf(shopB), await ownerOf(999_999_999));
    t.is(Number((await f.db('staff_invitations').where({ merchant_id: shopB, display_name: 'A の店主' }).count({ n: '*' }))[0]!.n), 0, 'no invitation of A\'s to B\'s shop');
    nothingOfB(t, f, must(await f.cityA.post('/api/v1/staff/invitations', { displayName: 'A の職員', roles: ['auditor'] }), 201),
      must(await f.shopA.post('/api/v1/staff/invitations', { displayName: 'A の店員', roles: ['clerk'] }), 201));
  },

  async 'GET /api/v1/staff/invitations'(t, f) {
    nothingOfB(t, f, must(await f.cityA.get('/api/v1/staff/invitations'), 200), must(await f.shopA.get('/api/v1/staff/invitations'), 200));
  },

  async 'POST /api/v1/staff/invitations/:id/cancellation'(t, f) {
    for (const staff of [f.cityA, f.shopA]) {
      for (const id of f.b.invitationIds) {
        sameAsUnknown(t, f, await staff.post(`/api/v1/staff/invitations/${id}/cancellation`, {}), await staff.post('/api/v1/staff/invitations/999999999/cancellation', {}));
      }
    }
    t.is(Number((await f.db('staff_invitations').whereIn('id', f.b.invitationIds).whereNotNull('closed_at').count({ n: '*' }))[0]!.n), 0, "B's invitations stand");
  },

  async 'PUT /api/v1/staff/accounts/:id/roles'(t, f) {
    await bStaffUnreachable(t, f, (staff, id) => staff.put(`/api/v1/staff/accounts/${id}/roles`, { roles: staff === f.shopA ? ['clerk'] : ['auditor'] }));
  },

  async 'PUT /api/v1/staff/accounts/:id/status'(t, f) {
    await bStaffUnreachable(t, f, (staff, id) => staff.put(`/api/v1/staff/accounts/${id}/status`, { disabled: true }));
  },

  async 'POST /api/v1/staff/accounts/:id/second-factor-reset'(t, f) {
    await bStaffUnreachable(t, f, (staff, id) => staff.post(`/api/v1/staff/accounts/${id}/second-factor-reset`, {}));
  },

  async 'GET /api/v1/staff/partner-agreements'(t, f) {
    const listed = must(await f.cityA.get('/api/v1/staff/partner-agreements'), 200);
    nothingOfB(t, f, listed);
    t.true(listed.body.agreements.some((a: { partner: string }) => a.partner === f.partnerA.slug), "A's own partner is listed");
  },

  async 'POST /api/v1/staff/partner-agreements'(t, f) {
    const partner = await addPartner(f.db);
    nothingOfB(t, f, must(await f.cityA.post('/api/v1/staff/partner-agreements', { partner: partner.slug }), 201));
    const ofB = await f.db('partner_agreements').where({ partner_id: partner.id, municipality_code: f.b.code }).first('id');
    t.is(ofB, undefined, 'the agreement is with A alone');
  },

  async 'POST /api/v1/staff/partner-agreements/:id/end'(t, f) {
    const agreementB = await f.db('partner_agreements').where({ partner_id: f.b.partnerB.id, municipality_code: f.b.code }).first('id');
    const attempt = (id: number) => f.cityA.post(`/api/v1/staff/partner-agreements/${id}/end`, {});
    sameAsUnknown(t, f, await attempt(Number(agreementB.id)), await attempt(999_999_999));
    t.is((await f.db('partner_agreements').where({ id: agreementB.id }).first('status')).status, 'active', "B's agreement stands");
  },

  async 'GET /api/v1/staff/grants/campaigns'(t, f) {
    nothingOfB(t, f, must(await f.cityA.get('/api/v1/staff/grants/campaigns'), 200));
  },

  async 'POST /api/v1/staff/grants'(t, f) {
    const grant = (campaign: unknown) => f.cityA.post('/api/v1/staff/grants', { mykeyId: f.b.resident.mykeyId, campaign, points: 10, reason: 'テスト' });
    sameAsUnknown(t, f, await grant(f.b.campaignId), await grant(999_999_999));
    sameAsUnknown(t, f, await grant(GRANTS_B.slug), await grant('no-such-campaign'));
    // A may grant B's resident points of its own campaign, in its own accounts.
    nothingOfB(t, f, must(await grant(DEMO_GRANT_CAMPAIGN.slug), 201));
    // B's category is no category of A's.
    const withCategory = (category: number) => f.cityA.post('/api/v1/staff/grants', { mykeyId: f.b.resident.mykeyId, campaign: DEMO_GRANT_CAMPAIGN.slug, points: 10, reason: 'テスト', category });
    sameAsUnknown(t, f, await withCategory(f.b.categoryId), await withCategory(999_999_999));
  },

  async 'GET /api/v1/staff/grant-history'(t, f) {
    // B's grants to its resident (by B's staff and at B's event) are not in A's history of them.
    const history = must(await f.cityA.get(`/api/v1/staff/grant-history?mykeyId=${f.b.member.mykeyId}`), 200);
    nothingOfB(t, f, history);
    t.false(history.body.grants.some((g: { eventId: number | null }) => g.eventId === f.b.eventId));
    t.is((await f.shopA.get(`/api/v1/staff/grant-history?mykeyId=${f.b.member.mykeyId}`)).status, 403, 'a shop sees no grants');
  },

  async 'GET /api/v1/event-categories'(t, f) {
    const listed = must(await f.cityA.get('/api/v1/event-categories'), 200);
    nothingOfB(t, f, listed);
    t.false(listed.body.categories.some((c: { id: number }) => c.id === f.b.categoryId));
    t.is((await f.shopA.get('/api/v1/event-categories')).status, 403, 'a shop has no events');
  },

  async 'POST /api/v1/event-categories'(t, f) {
    const created = must(await f.cityA.post('/api/v1/event-categories', { nameJa: `みらい市の分類${randomBytes(3).toString('hex')}`, nameEn: 'Mirai category' }), 201);
    nothingOfB(t, f, created);
    t.is((await f.shopA.post('/api/v1/event-categories', { nameJa: '店の分類', nameEn: 'Shop category' })).status, 403);
  },

  async 'PATCH /api/v1/event-categories/:id'(t, f) {
    const attempt = (id: number) => f.cityA.patch(`/api/v1/event-categories/${id}`, { nameEn: 'Renamed by Mirai' });
    sameAsUnknown(t, f, await attempt(f.b.categoryId), await attempt(999_999_999));
    t.true((await f.b.cityB.get('/api/v1/event-categories')).body.categories.some((c: { nameEn: string }) => c.nameEn === 'Aoba category'));
  },

  async 'GET /api/v1/events'(t, f) {
    const listed = must(await f.cityA.get('/api/v1/events'), 200);
    nothingOfB(t, f, listed);
    t.false(listed.body.events.some((e: { id: number }) => e.id === f.b.eventId));
    t.is((await f.shopA.get('/api/v1/events')).status, 403, 'a shop has no events');
  },

  async 'POST /api/v1/events'(t, f) {
    const create = (fields: Record<string, unknown>) => f.cityA.post('/api/v1/events', { nameJa: 'みらい市の行事', nameEn: 'Mirai event', categoryId: f.volunteeringA, startsOn: today(), points: 10, campaignId: f.campaignIdA, ...fields });
    // B's campaign and B's category are as unknown to A as ones that never were.
    sameAsUnknown(t, f, await create({ campaignId: f.b.campaignId }), await create({ campaignId: 999_999_999 }));
    sameAsUnknown(t, f, await create({ categoryId: f.b.categoryId }), await create({ categoryId: 999_999_999 }));
    nothingOfB(t, f, must(await create({}), 201));
  },

  async 'GET /api/v1/events/:id'(t, f) {
    sameAsUnknown(t, f, await f.cityA.get(`/api/v1/events/${f.b.eventId}`), await f.cityA.get('/api/v1/events/999999999'));
  },

  async 'PATCH /api/v1/events/:id'(t, f) {
    const attempt = (id: number) => f.cityA.patch(`/api/v1/events/${id}`, { points: 9_999 });
    sameAsUnknown(t, f, await attempt(f.b.eventId), await attempt(999_999_999));
    t.is((await f.b.cityB.get(`/api/v1/events/${f.b.eventId}`)).body.points, 20);
    // A's own event cannot be moved onto B's campaign or category.
    const own = (fields: Record<string, unknown>) => f.cityA.patch(`/api/v1/events/${f.eventA}`, fields);
    sameAsUnknown(t, f, await own({ campaignId: f.b.campaignId }), await own({ campaignId: 999_999_999 }));
    sameAsUnknown(t, f, await own({ categoryId: f.b.categoryId }), await own({ categoryId: 999_999_999 }));
  },

  async 'PUT /api/v1/events/:id/devices'(t, f) {
    sameAsUnknown(t, f,
      await f.cityA.put(`/api/v1/events/${f.b.eventId}/devices`, { deviceIds: [f.receptionA.id] }),
      await f.cityA.put('/api/v1/events/999999999/devices', { deviceIds: [f.receptionA.id] }));
    // B's reception is no device of A's, and stays at B's event.
    sameAsUnknown(t, f,
      await f.cityA.put(`/api/v1/events/${f.eventA}/devices`, { deviceIds: [f.receptionA.id, f.b.receptionB.id] }),
      await f.cityA.put(`/api/v1/events/${f.eventA}/devices`, { deviceIds: [f.receptionA.id, 999_999_999] }));
    t.deepEqual((await f.b.cityB.get(`/api/v1/events/${f.b.eventId}`)).body.deviceIds, [f.b.receptionB.id]);
  },

  async 'GET /api/v1/event-figures'(t, f) {
    const figures = must(await f.cityA.get(`/api/v1/event-figures?from=${today()}&to=${today()}`), 200);
    nothingOfB(t, f, figures);
    t.false(figures.body.events.some((e: { event: { id: number } }) => e.event.id === f.b.eventId));
    t.is((await f.shopA.get(`/api/v1/event-figures?from=${today()}&to=${today()}`)).status, 403, 'a shop has no events');
  },

  async 'GET /api/v1/event-figures.csv'(t, f) {
    const file = await rawStaff(f.base, f.cityA, 'GET', `/api/v1/event-figures.csv?from=${today()}&to=${today()}`);
    must(file, 200);
    nothingOfB(t, f, file);
    t.false(file.text.split('\r\n').some((line) => line.split(',')[5] === String(f.b.eventId)), "B's event has no row in A's file");
  },

  async 'GET /api/v1/campaign-figures/campaigns/:id'(t, f) {
    sameAsUnknown(t, f, await f.cityA.get(`/api/v1/campaign-figures/campaigns/${f.b.campaignId}`), await f.cityA.get('/api/v1/campaign-figures/campaigns/999999999'));
    nothingOfB(t, f, must(await f.cityA.get(`/api/v1/campaign-figures/campaigns/${f.campaignIdA}`), 200));
  },

  async 'GET /api/v1/campaign-figures/campaigns/:id/days.csv'(t, f) {
    sameAsUnknown(t, f, await f.cityA.get(`/api/v1/campaign-figures/campaigns/${f.b.campaignId}/days.csv`), await f.cityA.get('/api/v1/campaign-figures/campaigns/999999999/days.csv'));
  },

  async 'GET /api/v1/campaign-figures/campaigns/:id/shops.csv'(t, f) {
    sameAsUnknown(t, f, await f.cityA.get(`/api/v1/campaign-figures/campaigns/${f.b.campaignId}/shops.csv`), await f.cityA.get('/api/v1/campaign-figures/campaigns/999999999/shops.csv'));
    nothingOfB(t, f, must(await rawStaff(f.base, f.cityA, 'GET', `/api/v1/campaign-figures/campaigns/${f.campaignIdA}/shops.csv`), 200));
  },

  async 'GET /api/v1/campaign-figures/programme'(t, f) {
    const programme = must(await f.cityA.get(`/api/v1/campaign-figures/programme?from=${today()}&to=${today()}`), 200);
    nothingOfB(t, f, programme);
    t.false(programme.body.campaigns.some((c: { id: number }) => c.id === f.b.campaignId));
    t.false(JSON.stringify(programme.body.topShops).includes(SHOP_B.name_ja), "B's shop, paid by B's resident, is no top shop of A's");
  },

  async 'GET /api/v1/campaign-figures/programme/days.csv'(t, f) {
    nothingOfB(t, f, must(await rawStaff(f.base, f.cityA, 'GET', `/api/v1/campaign-figures/programme/days.csv?from=${today()}&to=${today()}`), 200));
  },

  async 'GET /api/v1/campaign-figures/programme/shops.csv'(t, f) {
    nothingOfB(t, f, must(await rawStaff(f.base, f.cityA, 'GET', `/api/v1/campaign-figures/programme/shops.csv?from=${today()}&to=${today()}`), 200));
  },

  async 'GET /api/v1/campaign-figures/expiring'(t, f) {
    const expiring = must(await f.cityA.get(`/api/v1/campaign-figures/expiring?until=${aYearOn()}`), 200);
    nothingOfB(t, f, expiring);
    t.false(JSON.stringify(expiring.body).includes(f.b.resident.mykeyId), "B's resident, holding B's points, is not on A's list");
  },

  async 'GET /api/v1/campaign-figures/expiring.csv'(t, f) {
    const file = await rawStaff(f.base, f.cityA, 'GET', `/api/v1/campaign-figures/expiring.csv?until=${aYearOn()}`);
    must(file, 200);
    nothingOfB(t, f, file);
    t.false(file.text.includes(f.b.resident.mykeyId), "B's resident is not in A's file");
  },

  async 'GET /api/v1/staff/grants'(t, f) {
    sameAsUnknown(t, f, await f.cityA.get(`/api/v1/staff/grants?campaign=${f.b.campaignId}`), await f.cityA.get('/api/v1/staff/grants?campaign=999999999'));
    nothingOfB(t, f, must(await f.cityA.get(`/api/v1/staff/grants?campaign=${DEMO_GRANT_CAMPAIGN.slug}`), 200));
  },

  async 'POST /api/v1/staff/grant-uploads'(t, f) {
    const upload = (campaign: string) => rawStaff(f.base, f.cityA, 'POST', `/api/v1/staff/grant-uploads?campaign=${campaign}`, `mykey_id,points,reason\n${f.b.resident.mykeyId},5,テスト\n`, 'text/csv');
    sameAsUnknown(t, f, await upload(GRANTS_B.slug), await upload('no-such-campaign'));
  },

  async 'GET /api/v1/staff/grant-uploads/:uploadId'(t, f) {
    sameAsUnknown(t, f, await f.cityA.get(`/api/v1/staff/grant-uploads/${f.b.uploadId}`), await f.cityA.get('/api/v1/staff/grant-uploads/999999999'));
  },

  async 'GET /api/v1/staff/grant-uploads/:uploadId/result.csv'(t, f) {
    sameAsUnknown(t, f,
      await rawStaff(f.base, f.cityA, 'GET', `/api/v1/staff/grant-uploads/${f.b.uploadId}/result.csv`),
      await rawStaff(f.base, f.cityA, 'GET', '/api/v1/staff/grant-uploads/999999999/result.csv'));
  },

  async 'GET /api/v1/staff/settlements'(t, f) {
    const period = `from=${today()}&to=${today()}`;
    nothingOfB(t, f, must(await f.cityA.get(`/api/v1/staff/settlements?${period}`), 200));
    for (const kind of ['merchants', 'partners', 'campaigns']) {
      nothingOfB(t, f, must(await rawStaff(f.base, f.cityA, 'GET', `/api/v1/staff/settlements?${period}&format=csv&kind=${kind}`), 200));
    }
  },

  async 'GET /api/v1/merchant/settlement'(t, f) {
    const period = `from=${today()}&to=${today()}`;
    nothingOfB(t, f, must(await f.shopA.get(`/api/v1/merchant/settlement?${period}`), 200), must(await rawStaff(f.base, f.shopA, 'GET', `/api/v1/merchant/settlement?${period}&format=csv`), 200));
  },

  async 'GET /api/v1/staff/settlement-periods'(t, f) {
    nothingOfB(t, f, must(await f.cityA.get('/api/v1/staff/settlement-periods'), 200));
  },

  async 'POST /api/v1/staff/settlement-periods'(t, f) {
    // A closes its own period: only A's entries are recorded, B's period and entries stand.
    const before = await f.db('settlement_period_entries').where({ period_id: f.b.periodId }).count({ n: '*' });
    const closed = must(await f.cityA.post('/api/v1/staff/settlement-periods', { from: daysAgo(7), to: daysAgo(1), payOn: daysAgo(-7) }), 201);
    nothingOfB(t, f, closed);
    const codes = await f.db('settlement_period_entries as s').join('ledger_entries as e', 'e.id', 's.entry_id').where('s.period_id', closed.body.period.id).distinct('e.municipality_code');
    t.false(codes.some((row: { municipality_code: string }) => row.municipality_code === f.b.code), "none of B's entries is in A's period");
    t.deepEqual(await f.db('settlement_period_entries').where({ period_id: f.b.periodId }).count({ n: '*' }), before);
  },

  async 'GET /api/v1/staff/settlement-periods/:id'(t, f) {
    sameAsUnknown(t, f, await f.cityA.get(`/api/v1/staff/settlement-periods/${f.b.periodId}`), await f.cityA.get('/api/v1/staff/settlement-periods/999999999'));
    sameAsUnknown(t, f,
      await rawStaff(f.base, f.cityA, 'GET', `/api/v1/staff/settlement-periods/${f.b.periodId}?format=csv&kind=merchants`),
      await rawStaff(f.base, f.cityA, 'GET', '/api/v1/staff/settlement-periods/999999999?format=csv&kind=merchants'));
  },

  async 'GET /api/v1/staff/settlement-periods/:id/merchants/:merchantId'(t, f) {
    const shopB = Number((await f.db('merchants').where({ slug: SHOP_B.slug }).first('id')).id);
    sameAsUnknown(t, f,
      await f.cityA.get(`/api/v1/staff/settlement-periods/${f.b.periodId}/merchants/${shopB}`),
      await f.cityA.get(`/api/v1/staff/settlement-periods/999999999/merchants/${shopB}`));
    const ownPeriod = (await f.cityA.get('/api/v1/staff/settlement-periods')).body.periods[0]?.id ?? 999999999;
    sameAsUnknown(t, f,
      await f.cityA.get(`/api/v1/staff/settlement-periods/${ownPeriod}/merchants/${shopB}`),
      await f.cityA.get(`/api/v1/staff/settlement-periods/${ownPeriod}/merchants/999999999`));
  },

  async 'GET /api/v1/staff/settlement-periods/:id/transfer-file'(t, f) {
    sameAsUnknown(t, f,
      await rawStaff(f.base, f.cityA, 'GET', `/api/v1/staff/settlement-periods/${f.b.periodId}/transfer-file`),
      await rawStaff(f.base, f.cityA, 'GET', '/api/v1/staff/settlement-periods/999999999/transfer-file'));
  },

  async 'GET /api/v1/staff/settlement-periods/:id/partner-invoices'(t, f) {
    sameAsUnknown(t, f,
      await f.cityA.get(`/api/v1/staff/settlement-periods/${f.b.periodId}/partner-invoices`),
      await f.cityA.get('/api/v1/staff/settlement-periods/999999999/partner-invoices'));
  },

  async 'GET /api/v1/staff/settlement-payer'(t, f) {
    nothingOfB(t, f, must(await f.cityA.get('/api/v1/staff/settlement-payer'), 200));
  },

  async 'PUT /api/v1/staff/settlement-payer'(t, f) {
    nothingOfB(t, f, must(await f.cityA.put('/api/v1/staff/settlement-payer', { ...PAYER_B, requesterCode: '1111111111', requesterName: 'ミライシ', bankCode: '0001', bankName: 'ミライギンコウ', accountNumber: '1111111' }), 200));
    t.like((await f.b.cityB.get('/api/v1/staff/settlement-payer')).body.payer, { requesterCode: PAYER_B.requesterCode, requesterNameKana: 'ｱｵﾊﾞﾁﾖｳ' }, "B's payer stands");
  },

  async 'GET /api/v1/merchant/settlement-periods'(t, f) {
    nothingOfB(t, f, must(await f.shopA.get('/api/v1/merchant/settlement-periods'), 200));
  },

  async 'GET /api/v1/merchant/settlement-periods/:id'(t, f) {
    sameAsUnknown(t, f, await f.shopA.get(`/api/v1/merchant/settlement-periods/${f.b.periodId}`), await f.shopA.get('/api/v1/merchant/settlement-periods/999999999'));
  },

  async 'POST /api/v1/merchant/payment-intents'(t, f) {
    nothingOfB(t, f, must(await f.shopA.post('/api/v1/merchant/payment-intents', { amount: 100 }), 201));
  },

  async 'GET /api/v1/merchant/payment-intents/:id'(t, f) {
    for (const intent of [f.b.openIntent, f.b.paidIntent]) {
      sameAsUnknown(t, f, await f.shopA.get(`/api/v1/merchant/payment-intents/${intent}`), await f.shopA.get(`/api/v1/merchant/payment-intents/${unknownIntent()}`));
    }
  },

  async 'POST /api/v1/merchant/payment-intents/:id/cancellation'(t, f) {
    sameAsUnknown(t, f,
      await f.shopA.post(`/api/v1/merchant/payment-intents/${f.b.openIntent}/cancellation`, {}),
      await f.shopA.post(`/api/v1/merchant/payment-intents/${unknownIntent()}/cancellation`, {}));
    t.is((await f.b.shopB.get(`/api/v1/merchant/payment-intents/${f.b.openIntent}`)).body.status, 'open');
  },

  async 'POST /api/v1/merchant/payments/:id/refunds'(t, f) {
    sameAsUnknown(t, f,
      await f.shopA.post(`/api/v1/merchant/payments/${f.b.paidIntent}/refunds`, { points: 1 }),
      await f.shopA.post(`/api/v1/merchant/payments/${unknownIntent()}/refunds`, { points: 1 }));
  },

  async 'POST /api/v1/merchant/payments/:id/void'(t, f) {
    sameAsUnknown(t, f,
      await f.shopA.post(`/api/v1/merchant/payments/${f.b.paidIntent}/void`, {}),
      await f.shopA.post(`/api/v1/merchant/payments/${unknownIntent()}/void`, {}));
    t.is((await f.b.shopB.get(`/api/v1/merchant/payment-intents/${f.b.paidIntent}`)).body.status, 'paid');
  },

  async 'GET /api/v1/merchant/payments'(t, f) {
    nothingOfB(t, f, must(await f.shopA.get(`/api/v1/merchant/payments?date=${today()}`), 200));
  },

  async 'POST /api/v1/shop-applications'(t, f) {
    const reply = must(await applyAsShop(f.base, { municipalityCode: '139998', nameJa: 'みらい市の申請店', nameEn: 'Mirai applicant', address: 'みらい市申請1-1' }), 201);
    nothingOfB(t, f, reply);
    t.false((await f.b.cityB.get('/api/v1/staff/shops')).body.shops.some((shop: { id: number }) => shop.id === reply.body.applicationId), "A's applicant is not among B's");
  },

  async 'GET /api/v1/staff/shops'(t, f) {
    const list = must(await f.cityA.get('/api/v1/staff/shops'), 200);
    nothingOfB(t, f, list);
    t.false(list.body.shops.some((shop: { id: number }) => [f.b.shopId, f.b.applicationId].includes(shop.id)));
    t.is((await f.shopA.get('/api/v1/staff/shops')).status, 403, 'a shop sees no other shops');
  },

  async 'GET /api/v1/staff/shops/:id'(t, f) {
    for (const id of [f.b.shopId, f.b.applicationId]) sameAsUnknown(t, f, await f.cityA.get(`/api/v1/staff/shops/${id}`), await f.cityA.get('/api/v1/staff/shops/999999999'));
  },

  async 'POST /api/v1/staff/shops/:id/approval'(t, f) {
    sameAsUnknown(t, f, await f.cityA.post(`/api/v1/staff/shops/${f.b.applicationId}/approval`, {}), await f.cityA.post('/api/v1/staff/shops/999999999/approval', {}));
    await shopsOfBUntouched(t, f);
  },

  async 'POST /api/v1/staff/shops/:id/rejection'(t, f) {
    const reason = { reason: 'A の却下理由' };
    sameAsUnknown(t, f, await f.cityA.post(`/api/v1/staff/shops/${f.b.applicationId}/rejection`, reason), await f.cityA.post('/api/v1/staff/shops/999999999/rejection', reason));
    await shopsOfBUntouched(t, f);
  },

  async 'POST /api/v1/staff/shops/:id/suspension'(t, f) {
    const reason = { reason: 'A の停止理由' };
    sameAsUnknown(t, f, await f.cityA.post(`/api/v1/staff/shops/${f.b.shopId}/suspension`, reason), await f.cityA.post('/api/v1/staff/shops/999999999/suspension', reason));
    await shopsOfBUntouched(t, f);
  },

  async 'POST /api/v1/staff/shops/:id/reinstatement'(t, f) {
    sameAsUnknown(t, f, await f.cityA.post(`/api/v1/staff/shops/${f.b.shopId}/reinstatement`, {}), await f.cityA.post('/api/v1/staff/shops/999999999/reinstatement', {}));
    await shopsOfBUntouched(t, f);
  },

  async 'PUT /api/v1/staff/shops/:id/bank-account'(t, f) {
    const account = { ...SHOP_APPLICATION.bankAccount, accountNumber: '9999999' };
    for (const id of [f.b.shopId, f.b.applicationId]) {
      sameAsUnknown(t, f, await f.cityA.put(`/api/v1/staff/shops/${id}/bank-account`, account), await f.cityA.put('/api/v1/staff/shops/999999999/bank-account', account));
    }
    await shopsOfBUntouched(t, f);
  },

  async 'POST /api/v1/partner/conversions'(t, f) {
    // B's partner's transaction id is A's partner's to use too: no "duplicate" tells A it exists.
    const body = JSON.stringify({ partnerTxId: f.b.partnerTxId, mykeyId: f.b.resident.mykeyId, municipality: '139998', partnerPoints: 100 });
    const reply = await partnerCall(f, f.partnerA, 'POST', '/api/v1/partner/conversions', body, 'application/json');
    t.is(reply.status, 202, reply.text);
    nothingOfB(t, f, { ...reply, text: reply.text.replaceAll(f.b.partnerTxId, '') });
  },

  async 'GET /api/v1/partner/conversions/:partnerTxId'(t, f) {
    sameAsUnknown(t, f,
      await partnerCall(f, f.partnerA, 'GET', `/api/v1/partner/conversions/${f.b.partnerTxId}-b`),
      await partnerCall(f, f.partnerA, 'GET', '/api/v1/partner/conversions/no-such-tx'));
  },

  async 'PUT /api/v1/partner/conversion-batches/:batchId'(t, f) {
    // A batch id B's partner used is A's partner's to use too; it starts A's own batch.
    const line = JSON.stringify({ partnerTxId: `a-${randomBytes(4).toString('hex')}`, mykeyId: f.b.resident.mykeyId, municipality: '139998', partnerPoints: 100 });
    const reply = await partnerCall(f, f.partnerA, 'PUT', `/api/v1/partner/conversion-batches/${f.b.batchId}`, `${line}\n`, 'application/x-ndjson');
    t.is(reply.status, 200, reply.text);
    nothingOfB(t, f, { ...reply, text: reply.text.replaceAll(f.b.batchId, '') });
  },

  async 'GET /api/v1/partner/conversion-batches/:batchId'(t, f) {
    const other = `never-${randomBytes(4).toString('hex')}`;
    sameAsUnknown(t, f,
      await partnerCall(f, f.partnerA, 'GET', `/api/v1/partner/conversion-batches/${f.b.batchId}`),
      await partnerCall(f, f.partnerA, 'GET', `/api/v1/partner/conversion-batches/${other}`));
  },

  async 'GET /api/v1/partner/conversion-batches/:batchId/results'(t, f) {
    const other = `never-${randomBytes(4).toString('hex')}`;
    sameAsUnknown(t, f,
      await partnerCall(f, f.partnerA, 'GET', `/api/v1/partner/conversion-batches/${f.b.batchId}/results`),
      await partnerCall(f, f.partnerA, 'GET', `/api/v1/partner/conversion-batches/${other}/results`));
  },
};

test.serial('every route of the app has an isolation case or says why it reaches no town', async (t) => {
  const routes = routeList((await fixture()).app);
  const covered = new Set([...Object.keys(CASES), ...Object.keys(UNSCOPED)]);
  t.deepEqual(routes.filter((route) => !covered.has(route)), [], 'routes with no case in isolation.test.ts');
  t.deepEqual([...covered].filter((route) => !routes.includes(route)), [], 'cases for routes the app does not have');
});

for (const [route, run] of Object.entries(CASES)) {
  test(`town A cannot reach town B through ${route}`, async (t) => run(t, await fixture()));
}

test("a device of B's shelter takes no tap for A's, and B's resident checking in at A's shelter tells A nothing of B's", async (t) => {
  const f = await fixture();
  const tapAt = (desk: { post: Fixture['shelterDeskA']['post'] }, purpose: string) => desk.post('/api/v1/auth/card-taps', { purpose, certificate: f.b.member.card.certificateDer.toString('base64') });
  const moved = must(await tapAt(f.shelterDeskA, 'shelter_check_in'), 201);
  t.like(moved.body, { result: 'checked_in', moved: false, shelter: { id: f.shelterA } }, 'a move from another town is not told');
  nothingOfB(t, f, moved);
  const left = await f.db('shelter_stays').where({ shelter_id: f.b.shelterId }).first('out_by', 'out_device_id');
  t.like(left, { out_by: 'move', out_device_id: null }, "B's record names no device of A's");
  nothingOfB(t, f, must(await tapAt(f.shelterDeskA, 'shelter_check_out'), 201));
  t.like(await tapAt(f.shelterDeskA, 'shelter_check_out'), { status: 409, body: { code: 'shelter_not_inside' } });
});

test('partner A cannot credit town B, with which it has no agreement: a clear problem, nothing stored', async (t) => {
  const f = await fixture();
  const body = JSON.stringify({ partnerTxId: `a-${randomBytes(4).toString('hex')}`, mykeyId: f.b.resident.mykeyId, municipality: f.b.code, partnerPoints: 100 });
  const reply = await partnerCall(f, f.partnerA, 'POST', '/api/v1/partner/conversions', body, 'application/json');
  t.is(reply.body?.code, 'partner_agreement_missing', reply.text);
  t.is(Number((await f.db('conversion_requests').where({ partner_id: f.partnerA.id, municipality_code: f.b.code }).count({ n: '*' }))[0]!.n), 0, 'nothing stored');
});
