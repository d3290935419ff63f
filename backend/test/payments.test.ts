// Counter redemption through the HTTP API: a shop's register opens a payment intent, a device
// of the same shop gets a challenge bound to it, the card signs, and the backend pays in one
// transaction; refunds and same-day voids by the shop's staff. Cards come from a CA made for
// this file; points reach residents as a partner conversion would credit them. The shop knows
// the payer only by its own pseudonym of them (docs/pseudonyms.md), never by the MyKey ID.
import test from 'ava';
import { randomUUID } from 'node:crypto';
import type { IssuedCertificate } from '@mykey/dev-tools/dev-ca/index.ts';
import { DEMO_PASSWORD } from '@mykey/dev-tools/demo-towns.ts';
import { fileFixture, migratedUpTo } from './helpers/env.ts';
import { cardProof, cardSession, cardSign, enrollDevice, firstLogin, municipalCounter, provenCard, signInStaff, type Device, type Staff } from './helpers/identity.ts';
import { canonicalChallenge, PAYMENT_TERMS } from '@mykey/contracts/challenge-text.ts';
import { checkLedger } from '../src/ledger/check.ts';
import { creditConversions, inLedgerTransaction, residentPoints } from '../src/ledger/ledger.ts';
import { tokyoDate } from '../src/ledger/rules.ts';
import { pseudonymOf } from '../src/mykey/pseudonym.ts';
import { demoPasswordHash } from './helpers/staff.ts';

const fixture = fileFixture(test, async (cleanup) => {
  const town = await municipalCounter(cleanup);
  const { db, base } = town;
  const bakery = await db('merchants').where({ slug: 'demo-bakery' }).first('id', 'municipality_code');
  const greengrocer = await db('merchants').where({ slug: 'demo-greengrocer' }).first('id');
  const partner = await db('partners').where({ slug: 'demo-card' }).first('id');
  // A clerk of another shop in the same town.
  await db('staff_accounts').insert({ login_id: 'other-shop', display_name: '店員 次郎', organization_kind: 'merchant', roles: 'owner', merchant_id: greengrocer.id, password_hash: await demoPasswordHash() });
  const shop = await signInStaff(base, 'demo-shop');
  const otherShop = await signInStaff(base, 'other-shop');
  return {
    ...town, shop, otherShop, municipality: bakery.municipality_code as string, merchantId: Number(bakery.id), otherMerchantId: Number(greengrocer.id), partnerId: Number(partner.id),
    register: await enrollDevice(base, shop, 'レジ1'), otherRegister: await enrollDevice(base, otherShop, '青果店レジ'),
  };
});

type Fixture = Awaited<ReturnType<typeof fixture>>;

/** A resident whose card has logged in once and who holds `points`, credited as a conversion. */
async function residentWith(f: Fixture, points: number) {
  const { card, mykeyId } = await firstLogin(f.pki, f.device);
  await inLedgerTransaction(f.db, (trx) => creditConversions(trx, [{ reference: `test:${randomUUID()}`, municipalityCode: f.municipality, mykeyId, partnerId: f.partnerId, points }]));
  return { card, mykeyId, spendable: async () => (await residentPoints(f.db, f.municipality, mykeyId)).spendable };
}

/** The resident as shop `merchantId` knows them. */
const customerAt = (f: Fixture, merchantId: number, mykeyId: string) => pseudonymOf(f.identity.secret, mykeyId, { kind: 'merchant', id: merchantId });

async function openIntent(staff: Staff, amount: number): Promise<string> {
  const reply = await staff.post('/api/v1/merchant/payment-intents', { amount });
  if (reply.status !== 201) throw new Error(JSON.stringify(reply.body));
  return reply.body.intentId;
}

const paymentChallenge = (device: Device, intentId: string) => device.post('/api/v1/auth/challenges', { purpose: 'payment', paymentIntentId: intentId });

/** The card pays the intent at `device`: a challenge bound to it, the card's signature, the card session. */
async function pay(device: Device, card: IssuedCertificate, intentId: string, key?: string) {
  const challenge = await paymentChallenge(device, intentId);
  if (challenge.status !== 201) return challenge;
  return device.post('/api/v1/auth/card-sessions', cardProof(challenge.body, card), key);
}

const paymentEntries = async (f: Fixture, intentId: string) => (await f.db('ledger_entries').where({ reference: `payment:${intentId}` })).length;

test('the register opens an intent, the card pays it: a receipt with the balance after, the intent paid, the points moved', async (t) => {
  const f = await fixture();
  const resident = await residentWith(f, 5_000);
  const created = await f.shop.post('/api/v1/merchant/payment-intents', { amount: 1_200 });
  t.is(created.status, 201, JSON.stringify(created.body));
  t.like(created.body, { amount: 1_200, status: 'open', merchant: { id: f.merchantId, nameJa: 'みらいベーカリー', nameEn: 'Mirai Bakery' }, receipt: null });
  t.regex(created.body.intentId, /^pi_[A-Za-z0-9_-]{22}$/);

  const challenge = await paymentChallenge(f.register, created.body.intentId);
  t.is(challenge.status, 201, JSON.stringify(challenge.body));
  t.deepEqual(challenge.body.payment, { intentId: created.body.intentId, amount: 1_200, merchantId: f.merchantId });
  const text = Buffer.from(challenge.body.challenge, 'base64').toString('utf8');
  t.true(text.endsWith(`payment-intent: ${created.body.intentId}\namount-points: 1200\nmerchant: ${f.merchantId}\n`), text);

  const paid = await f.register.post('/api/v1/auth/card-sessions', cardProof(challenge.body, resident.card));
  t.is(paid.status, 201, JSON.stringify(paid.body));
  t.like(paid.body, {
    purpose: 'payment', challengeId: challenge.body.challengeId, revocationChecked: true, intentId: created.body.intentId, amount: 1_200,
    merchant: { id: f.merchantId }, customer: customerAt(f, f.merchantId, resident.mykeyId), balanceAfter: 3_800,
  });
  t.true(Number.isInteger(paid.body.receiptNo));
  t.is(await resident.spendable(), 3_800);

  const shown = await f.shop.get(`/api/v1/merchant/payment-intents/${created.body.intentId}`);
  t.like(shown.body, { status: 'paid', receipt: { receiptNo: paid.body.receiptNo, customer: paid.body.customer, balanceAfter: 3_800, paidAt: paid.body.paidAt } });
  const day = await f.shop.get(`/api/v1/merchant/payments?date=${tokyoDate(new Date(paid.body.paidAt))}`);
  t.like(day.body.payments.find((p: { intentId: string }) => p.intentId === created.body.intentId), {
    receiptNo: paid.body.receiptNo, amount: 1_200, customer: paid.body.customer, reversals: [], netPoints: 1_200,
  });
});

test('the shop knows the payer by its own pseudonym: the same at each payment and after a card renewal, another at another shop, never the MyKey ID', async (t) => {
  const f = await fixture();
  const resident = await residentWith(f, 3_000);
  const atBakery = customerAt(f, f.merchantId, resident.mykeyId);
  const first = await pay(f.register, resident.card, await openIntent(f.shop, 100));
  t.like(first, { status: 201, body: { customer: atBakery } });
  t.regex(atBakery, /^[2-9A-HJ-NP-Z]{4}-[2-9A-HJ-NP-Z]{4}-[2-9A-HJ-NP-Z]{4}$/);

  // The resident renews their card (both cards at the town's counter): the same MyKey ID, so the same customer.
  const newCard = await f.pki.card();
  const relinked = await f.device.post('/api/v1/mykeys/relinks', { oldProof: await provenCard(f.device, resident.card, 'relink'), newProof: await provenCard(f.device, newCard, 'relink') });
  t.like(relinked, { status: 201, body: { mykeyId: resident.mykeyId } });
  const second = await pay(f.register, newCard, await openIntent(f.shop, 200));
  t.like(second, { status: 201, body: { customer: atBakery } });
  const elsewhere = await pay(f.otherRegister, newCard, await openIntent(f.otherShop, 300));
  t.like(elsewhere, { status: 201, body: { customer: customerAt(f, f.otherMerchantId, resident.mykeyId) } });
  t.not(elsewhere.body.customer, atBakery);

  // Everything the shops and their registers were answered, and what their retries would replay.
  const date = tokyoDate(new Date(first.body.paidAt));
  const answers = [
    first, second, elsewhere,
    await f.shop.get(`/api/v1/merchant/payment-intents/${first.body.intentId}`),
    await f.shop.post(`/api/v1/merchant/payments/${first.body.intentId}/refunds`, { points: 50 }),
    await f.shop.post(`/api/v1/merchant/payments/${second.body.intentId}/void`, {}),
    await f.shop.get(`/api/v1/merchant/payments?date=${date}`),
    await f.otherShop.get(`/api/v1/merchant/payments?date=${date}`),
  ];
  t.true(answers.every((a) => a.status < 300), JSON.stringify(answers));
  t.deepEqual(answers[6]!.body.payments.filter((p: { customer: string }) => p.customer === atBakery).map((p: { intentId: string }) => p.intentId),
    [first.body.intentId, second.body.intentId]);
  const shopStaff = (await f.db('staff_accounts').where({ organization_kind: 'merchant' }).pluck('id')).map((id) => `staff:${id}`);
  const stored = await f.db('idempotency_keys').whereIn('scope', [`device:${f.register.id}`, `device:${f.otherRegister.id}`, ...shopStaff]).pluck('response');
  const shown = JSON.stringify([answers, stored]);
  for (const spelling of [resident.mykeyId, `${resident.mykeyId.slice(0, 4)}-${resident.mykeyId.slice(4)}`]) t.false(shown.includes(spelling), spelling);
  t.true(shown.includes(atBakery));
});

test('a shop\'s own device is told its pseudonym, never the MyKey ID: a login, card proofs, a renewal with both cards at the register', async (t) => {
  const f = await fixture();
  const resident = await residentWith(f, 500);
  const atBakery = customerAt(f, f.merchantId, resident.mykeyId);
  const login = await cardSession(f.register, resident.card);
  t.like(login, { status: 201, body: { purpose: 'login', customer: atBakery, issued: false } });
  const newCard = await f.pki.card();
  const proofs = [await cardSession(f.register, resident.card, 'relink'), await cardSession(f.register, newCard, 'relink')];
  t.like(proofs, [{ status: 201, body: { customer: atBakery } }, { status: 201, body: { customer: null } }]);
  const relinked = await f.register.post('/api/v1/mykeys/relinks', { oldProof: proofs[0]!.body.challengeId, newProof: proofs[1]!.body.challengeId });
  t.like(relinked, { status: 201, body: { customer: atBakery, method: 'both_cards' } });
  const paid = await pay(f.register, newCard, await openIntent(f.shop, 500));
  t.like(paid, { status: 201, body: { customer: atBakery, balanceAfter: 0 } });
  const told = JSON.stringify([login, proofs, relinked, paid]);
  t.false(told.includes(resident.mykeyId) || told.includes('mykeyId'), told);
  // The town's own counter still names the MyKey ID.
  t.like(await cardSession(f.device, newCard), { status: 201, body: { mykeyId: resident.mykeyId } });
});

test('the balance after is what the resident can spend, whether the lots fill one page of the ledger\'s lot reads or more', async (t) => {
  const f = await fixture();
  // A first payment that reads every lot in one page, and one by a resident with more lots than a page (50) holds.
  for (const credits of [3, 60]) {
    const resident = await residentWith(f, 100);
    for (let i = 1; i < credits; i++) {
      await inLedgerTransaction(f.db, (trx) => creditConversions(trx, [{ reference: `test:${randomUUID()}`, municipalityCode: f.municipality, mykeyId: resident.mykeyId, partnerId: f.partnerId, points: 100 }]));
    }
    const paid = await pay(f.register, resident.card, await openIntent(f.shop, 150));
    t.is(paid.status, 201, JSON.stringify(paid.body));
    t.is(paid.body.balanceAfter, credits * 100 - 150);
    t.is(await resident.spendable(), credits * 100 - 150);
  }
});

test('insufficient points: availablePoints, nothing moved, the intent stays open and can be paid for less', async (t) => {
  const f = await fixture();
  const resident = await residentWith(f, 300);
  const intentId = await openIntent(f.shop, 1_000);
  const refused = await pay(f.register, resident.card, intentId);
  t.is(refused.status, 409);
  t.like(refused.body, { code: 'insufficient_points', availablePoints: 300, requestedPoints: 1_000 });
  t.is(await resident.spendable(), 300);
  t.is(await paymentEntries(f, intentId), 0);
  t.like((await f.shop.get(`/api/v1/merchant/payment-intents/${intentId}`)).body, { status: 'open', receipt: null });
  // The register lowers the amount: a new intent for what the card holds.
  t.is((await f.shop.post(`/api/v1/merchant/payment-intents/${intentId}/cancellation`, {})).status, 200);
  t.like(await pay(f.register, resident.card, await openIntent(f.shop, 300)), { status: 201, body: { balanceAfter: 0 } });
});

test('a double-submitted payment charges once: the same key replays, the same challenge is reused, a new challenge finds the intent paid', async (t) => {
  const f = await fixture();
  const resident = await residentWith(f, 2_000);
  const intentId = await openIntent(f.shop, 500);
  const first = await paymentChallenge(f.register, intentId);
  const second = await paymentChallenge(f.register, intentId);
  const proof = cardProof(first.body, resident.card);
  const paid = await f.register.post('/api/v1/auth/card-sessions', proof, 'pay-attempt-1');
  t.is(paid.status, 201, JSON.stringify(paid.body));
  t.deepEqual(await f.register.post('/api/v1/auth/card-sessions', proof, 'pay-attempt-1'), paid);
  t.like(await f.register.post('/api/v1/auth/card-sessions', proof, 'pay-attempt-2'), { status: 409, body: { code: 'challenge_reused' } });
  const late = await f.register.post('/api/v1/auth/card-sessions', cardProof(second.body, resident.card));
  t.like(late, { status: 409, body: { code: 'payment_intent_not_open', intentStatus: 'paid', receiptNo: paid.body.receiptNo } });
  t.like(await paymentChallenge(f.register, intentId), { status: 409, body: { code: 'payment_intent_not_open', intentStatus: 'paid', receiptNo: paid.body.receiptNo } });
  t.is(await resident.spendable(), 1_500);
  t.is(await paymentEntries(f, intentId), 1);
});

test('ten challenges for one intent signed at once: one payment, nine refused', async (t) => {
  const f = await fixture();
  const resident = await residentWith(f, 2_000);
  const intentId = await openIntent(f.shop, 100);
  const challenges = await Promise.all(Array.from({ length: 10 }, () => paymentChallenge(f.register, intentId)));
  const replies = await Promise.all(challenges.map((c) => f.register.post('/api/v1/auth/card-sessions', cardProof(c.body, resident.card))));
  t.is(replies.filter((r) => r.status === 201).length, 1, JSON.stringify(replies.map((r) => r.body.code)));
  t.true(replies.filter((r) => r.status !== 201).every((r) => r.body.code === 'payment_intent_not_open' && r.body.intentStatus === 'paid'));
  t.is(await resident.spendable(), 1_900);
});

test('only a device of the intent\'s own shop gets a payment challenge: not another shop\'s, not the municipality\'s', async (t) => {
  const f = await fixture();
  const intentId = await openIntent(f.shop, 100);
  t.like(await paymentChallenge(f.otherRegister, intentId), { status: 404, body: { code: 'payment_intent_not_found' } });
  t.like(await paymentChallenge(f.device, intentId), { status: 404, body: { code: 'payment_intent_not_found' } });
  t.like(await paymentChallenge(f.register, `pi_${'A'.repeat(22)}`), { status: 404, body: { code: 'payment_intent_not_found' } });
  t.like(await f.register.post('/api/v1/auth/challenges', { purpose: 'payment' }), { status: 400, body: { code: 'request_invalid' } });
  t.like(await f.register.post('/api/v1/auth/challenges', { purpose: 'login', paymentIntentId: intentId }), { status: 400, body: { code: 'request_invalid' } });
  t.like(await f.register.post('/api/v1/auth/challenges', { purpose: 'payment', paymentIntentId: 'pi_short' }), { status: 400, body: { code: 'request_invalid' } });
  t.is((await paymentChallenge(f.register, intentId)).status, 201);
});

test('a challenge bound to intent A cannot pay intent B: the card\'s signature over B\'s terms does not match A\'s challenge', async (t) => {
  const f = await fixture();
  const resident = await residentWith(f, 5_000);
  const a = await openIntent(f.shop, 100);
  const b = await openIntent(f.shop, 4_000);
  const challenge = await paymentChallenge(f.register, a);
  const forB = canonicalChallenge(
    { id: challenge.body.challengeId, deviceId: f.register.id, purpose: 'payment', expiresAt: new Date(challenge.body.expiresAt) },
    PAYMENT_TERMS.lines({ intentId: b, amount: 4_000, merchantId: f.merchantId }),
  );
  const proof = { ...cardProof(challenge.body, resident.card), signature: cardSign(resident.card, forB).toString('base64') };
  t.like(await f.register.post('/api/v1/auth/card-sessions', proof), { status: 401, body: { code: 'signature_invalid' } });
  t.is(await paymentEntries(f, a) + await paymentEntries(f, b), 0);
  // Signed as issued, the challenge pays A, and only A.
  t.like(await f.register.post('/api/v1/auth/card-sessions', cardProof(challenge.body, resident.card)), { status: 201, body: { intentId: a, amount: 100 } });
  t.like((await f.shop.get(`/api/v1/merchant/payment-intents/${b}`)).body, { status: 'open' });
  t.is(await resident.spendable(), 4_900);
});

test('an expired or cancelled intent cannot be paid, even with a challenge fetched while it was open', async (t) => {
  const f = await fixture();
  const resident = await residentWith(f, 1_000);
  const expiring = await openIntent(f.shop, 100);
  const early = await paymentChallenge(f.register, expiring);
  await f.db('payment_intents').where({ id: expiring }).update({ expires_at: new Date(Date.now() - 1_000) });
  t.like((await f.shop.get(`/api/v1/merchant/payment-intents/${expiring}`)).body, { status: 'expired' });
  t.like(await paymentChallenge(f.register, expiring), { status: 409, body: { code: 'payment_intent_not_open', intentStatus: 'expired', receiptNo: null } });
  t.like(await f.register.post('/api/v1/auth/card-sessions', cardProof(early.body, resident.card)), { status: 409, body: { code: 'payment_intent_not_open', intentStatus: 'expired' } });
  t.like(await f.shop.post(`/api/v1/merchant/payment-intents/${expiring}/cancellation`, {}), { status: 409, body: { code: 'payment_intent_not_open' } });

  const cancelled = await openIntent(f.shop, 100);
  const before = await paymentChallenge(f.register, cancelled);
  t.like(await f.shop.post(`/api/v1/merchant/payment-intents/${cancelled}/cancellation`, {}), { status: 200, body: { status: 'cancelled' } });
  t.like(await f.register.post('/api/v1/auth/card-sessions', cardProof(before.body, resident.card)), { status: 409, body: { code: 'payment_intent_not_open', intentStatus: 'cancelled' } });
  t.like(await f.shop.post(`/api/v1/merchant/payment-intents/${cancelled}/cancellation`, {}), { status: 409, body: { intentStatus: 'cancelled' } });
  t.is(await resident.spendable(), 1_000);
});

test('a suspended MyKey ID cannot pay; reinstated, it can', async (t) => {
  const f = await fixture();
  const resident = await residentWith(f, 1_000);
  const intentId = await openIntent(f.shop, 100);
  t.is((await f.staff.post(`/api/v1/staff/mykeys/${resident.mykeyId}/suspension`, { reason: 'カード紛失の届出' })).status, 200);
  t.like(await pay(f.register, resident.card, intentId), { status: 403, body: { code: 'mykey_suspended' } });
  t.like((await f.shop.get(`/api/v1/merchant/payment-intents/${intentId}`)).body, { status: 'open' });
  t.is((await f.staff.post(`/api/v1/staff/mykeys/${resident.mykeyId}/reinstatement`, { reason: 'カード発見' })).status, 200);
  t.like(await pay(f.register, resident.card, intentId), { status: 201, body: { balanceAfter: 900 } });
});

test('a card that never logged in has no MyKey ID and pays nothing', async (t) => {
  const f = await fixture();
  const intentId = await openIntent(f.shop, 100);
  t.like(await pay(f.register, await f.pki.card(), intentId), { status: 409, body: { code: 'card_not_registered' } });
  t.is(await paymentEntries(f, intentId), 0);
  t.like((await f.shop.get(`/api/v1/merchant/payment-intents/${intentId}`)).body, { status: 'open' });
});

test('refunds: partial, then the rest, then refund_exceeds_payment; a retry replays; each is its own entry, audited', async (t) => {
  const f = await fixture();
  const resident = await residentWith(f, 2_000);
  const intentId = await openIntent(f.shop, 1_000);
  const paid = await pay(f.register, resident.card, intentId);
  const partial = await f.shop.post(`/api/v1/merchant/payments/${intentId}/refunds`, { points: 300 }, 'refund-one-300');
  t.is(partial.status, 201, JSON.stringify(partial.body));
  t.like(partial.body, { kind: 'refund', intentId, points: 300, customer: paid.body.customer, paymentAmount: 1_000, reversedPoints: 300, refundablePoints: 700 });
  t.not(partial.body.receiptNo, paid.body.receiptNo);
  t.deepEqual(await f.shop.post(`/api/v1/merchant/payments/${intentId}/refunds`, { points: 300 }, 'refund-one-300'), partial);
  t.is(await resident.spendable(), 1_300);
  t.like(await f.shop.post(`/api/v1/merchant/payments/${intentId}/refunds`, { points: 700 }), { status: 201, body: { reversedPoints: 1_000, refundablePoints: 0 } });
  t.like(await f.shop.post(`/api/v1/merchant/payments/${intentId}/refunds`, { points: 1 }), { status: 409, body: { code: 'refund_exceeds_payment', refundablePoints: 0 } });
  t.like(await f.shop.post(`/api/v1/merchant/payments/${intentId}/void`, {}), { status: 409, body: { code: 'payment_already_reversed' } });
  t.is(await resident.spendable(), 2_000);
  t.is((await f.db('ledger_entries').where('reference', 'like', `refund:${intentId}:%`)).length, 2);
  // The audit log is the town's record, never shown to the shop: it names the MyKey ID.
  t.like((await f.db('audit_events').where({ subject: `payment:${intentId}` }).orderBy('seq')).map((e) => ({ action: e.action, details: typeof e.details === 'string' ? JSON.parse(e.details) : e.details })),
    [{ action: 'payment.refunded', details: { mykeyId: resident.mykeyId } }, { action: 'payment.refunded' }]);
  const day = await f.shop.get(`/api/v1/merchant/payments?date=${tokyoDate(new Date(paid.body.paidAt))}`);
  t.like(day.body.payments.find((p: { intentId: string }) => p.intentId === intentId), { reversedPoints: 1_000, netPoints: 0, reversals: [{ kind: 'refund', points: 300 }, { kind: 'refund', points: 700 }] });
});

test('a same-day void gives the whole payment back once', async (t) => {
  const f = await fixture();
  const resident = await residentWith(f, 800);
  const intentId = await openIntent(f.shop, 800);
  t.like(await pay(f.register, resident.card, intentId), { status: 201, body: { balanceAfter: 0 } });
  const voided = await f.shop.post(`/api/v1/merchant/payments/${intentId}/void`, {});
  t.is(voided.status, 201, JSON.stringify(voided.body));
  t.like(voided.body, { kind: 'void', points: 800, reversedPoints: 800, refundablePoints: 0 });
  t.like(await f.shop.post(`/api/v1/merchant/payments/${intentId}/void`, {}), { status: 409, body: { code: 'payment_already_reversed' } });
  t.like(await f.shop.post(`/api/v1/merchant/payments/${intentId}/refunds`, { points: 1 }), { status: 409, body: { code: 'refund_exceeds_payment' } });
  t.is(await resident.spendable(), 800);
  t.deepEqual((await f.db('audit_events').where({ subject: `payment:${intentId}` })).map((e) => e.action), ['payment.voided']);
});

// Serial (ava runs serial tests first): it suspends the shop for a moment.
test.serial('the merchant endpoints: merchant staff only, their own shop\'s intents, amounts and dates checked', async (t) => {
  const f = await fixture();
  const intentId = await openIntent(f.shop, 100);
  t.like(await f.staff.post('/api/v1/merchant/payment-intents', { amount: 100 }), { status: 403, body: { code: 'staff_role_forbidden' } });
  t.like(await f.otherShop.get(`/api/v1/merchant/payment-intents/${intentId}`), { status: 404, body: { code: 'payment_intent_not_found' } });
  t.like(await f.otherShop.post(`/api/v1/merchant/payment-intents/${intentId}/cancellation`, {}), { status: 404, body: { code: 'payment_intent_not_found' } });
  t.like(await f.otherShop.post(`/api/v1/merchant/payments/${intentId}/refunds`, { points: 1 }), { status: 404, body: { code: 'payment_intent_not_found' } });
  t.like(await f.shop.post(`/api/v1/merchant/payments/${intentId}/refunds`, { points: 1 }), { status: 404, body: { code: 'payment_not_found' } });
  t.like(await f.shop.get('/api/v1/merchant/payment-intents/not-an-intent'), { status: 404, body: { code: 'payment_intent_not_found' } });
  for (const amount of [0, -5, 1.5, 10_000_001, '100', null]) {
    t.like(await f.shop.post('/api/v1/merchant/payment-intents', { amount }), { status: 400, body: { code: 'request_invalid' } }, String(amount));
  }
  t.is((await f.shop.post('/api/v1/merchant/payment-intents', { amount: 10_000_000 })).status, 201);
  for (const date of ['', '2026-02-30', '2026-13-01', '20261122', 'today']) {
    t.like(await f.shop.get(`/api/v1/merchant/payments?date=${date}`), { status: 400, body: { code: 'request_invalid' } }, date);
  }
  t.like(await f.shop.get('/api/v1/merchant/payments?date=2020-01-01'), { status: 200, body: { payments: [], totals: { count: 0, netPoints: 0 } } });
  const unauthenticated = await fetch(`${f.base}/api/v1/merchant/payment-intents/${intentId}`);
  t.is(unauthenticated.status, 401);
  // A shop that is not approved opens no intent and is paid nothing (a suspended one: shops.test.ts).
  await f.db('merchants').where({ id: f.merchantId }).update({ status: 'pending' });
  t.teardown(() => f.db('merchants').where({ id: f.merchantId }).update({ status: 'approved' }));
  t.like(await f.shop.post('/api/v1/merchant/payment-intents', { amount: 100 }), { status: 403, body: { code: 'merchant_not_approved' } });
  t.like(await paymentChallenge(f.register, intentId), { status: 403, body: { code: 'merchant_not_approved' } });
});

test.after.always('the ledger check is clean after every payment, refund and void of this file', async (t) => {
  const report = await checkLedger((await fixture()).db);
  t.true(report.ok, JSON.stringify(report.violations));
});

test('the migration takes the MyKey ID out of the answers stored for a shop\'s clerks and devices (what a retry would replay), and leaves a town\'s', async (t) => {
  const db = await migratedUpTo((fn) => t.teardown(fn), '20261206030000_shop_answers_without_mykey_id.ts');
  await db('municipalities').insert({ code: '999991', name_ja: 'み', name_en: 'M' });
  const [shop] = await db('merchants').insert({ municipality_code: '999991', slug: 'shop', name_ja: '店', name_en: 'Shop', status: 'approved' });
  const [clerk] = await db('staff_accounts').insert({ login_id: 'clerk', display_name: '店員', role: 'merchant', merchant_id: shop, password_hash: 'x' });
  const [official] = await db('staff_accounts').insert({ login_id: 'city', display_name: '職員', role: 'municipality', municipality_code: '999991', password_hash: 'x' });
  const device = async (organization: object, n: number) => (await db('devices').insert({
    ...organization, name: `d${n}`, token_hash: Buffer.alloc(32, n), enrolled_at: new Date(), enrolled_by_staff_id: official,
  }))[0]!;
  const scopes = { register: `device:${await device({ merchant_id: shop }, 1)}`, clerk: `staff:${clerk}`, counter: `device:${await device({ municipality_code: '999991' }, 2)}`, official: `staff:${official}` };
  const before = {
    [scopes.register]: { purpose: 'payment', receiptNo: 7, amount: 100, mykeyId: 'GBWF2TXH' },
    [scopes.clerk]: { kind: 'refund', receiptNo: 8, points: 50, mykeyId: 'GBWF2TXH' },
    [scopes.counter]: { purpose: 'login', issued: false, mykeyId: 'GBWF2TXH' },
    [scopes.official]: { method: 'counter', mykeyId: 'GBWF2TXH' },
  };
  await db('idempotency_keys').insert(Object.entries(before).map(([scope, body]) => ({ scope, idempotency_key: 'key-0001', request_hash: Buffer.alloc(32), status_code: 201, response: JSON.stringify(body) })));
  await db.migrate.up();
  const after = Object.fromEntries((await db('idempotency_keys').select('scope', 'response')).map((r) => [r.scope, typeof r.response === 'string' ? JSON.parse(r.response) : r.response]));
  t.deepEqual(after, {
    [scopes.register]: { purpose: 'payment', receiptNo: 7, amount: 100 },
    [scopes.clerk]: { kind: 'refund', receiptNo: 8, points: 50 },
    [scopes.counter]: before[scopes.counter],
    [scopes.official]: before[scopes.official],
  });
});
