// The text a card signs is a contract with every card that ever signed: these are its bytes,
// written out, for a purpose without terms, for a payment and for a membership link.
import test from 'ava';
import { canonicalChallenge, MEMBERSHIP_TERMS, PAYMENT_TERMS, PURPOSE_TEXTS, termsFieldProblem } from '../src/challenge-text.ts';

const challenge = { id: 'Q2hhbGxlbmdlLW5vbmNlLTMyLWJ5dGVzLWJhc2U2NHVybA', deviceId: 12, expiresAt: new Date('2026-11-22T03:01:00.000Z') };

test('a login challenge: the common lines only, each ending in a newline', (t) => {
  t.is(canonicalChallenge({ ...challenge, purpose: 'login' }).toString('utf8'),
    'MyKey challenge v1\nid: Q2hhbGxlbmdlLW5vbmNlLTMyLWJ5dGVzLWJhc2U2NHVybA\npurpose: login\ndevice: 12\nexpires: 2026-11-22T03:01:00.000Z\n');
});

test('a payment challenge: the common lines, then the intent, the amount and the shop', (t) => {
  const terms = PAYMENT_TERMS.parse({ merchantId: 3, amount: 1200, intentId: 'pi_Q2h0bWJ2c2lkZ3Jvd2thMQ' })!;
  t.is(canonicalChallenge({ ...challenge, purpose: 'payment' }, PAYMENT_TERMS.lines(terms)).toString('utf8'),
    'MyKey challenge v1\nid: Q2hhbGxlbmdlLW5vbmNlLTMyLWJ5dGVzLWJhc2U2NHVybA\npurpose: payment\ndevice: 12\nexpires: 2026-11-22T03:01:00.000Z\n'
    + 'payment-intent: pi_Q2h0bWJ2c2lkZ3Jvd2thMQ\namount-points: 1200\nmerchant: 3\n');
  t.is(PAYMENT_TERMS.mismatch(terms, 'pi_Q2h0bWJ2c2lkZ3Jvd2thMQ'), undefined);
  t.is(PAYMENT_TERMS.mismatch(terms, 'pi_AAAAAAAAAAAAAAAAAAAAAA'), 'payment intent pi_Q2h0bWJ2c2lkZ3Jvd2thMQ');
  for (const bad of [undefined, null, 'pi_x', { intentId: 'pi_x', amount: 0, merchantId: 3 }, { intentId: 'pi_x', amount: 1.5, merchantId: 3 }, { amount: 1, merchantId: 3 }]) {
    t.is(PAYMENT_TERMS.parse(bad), undefined, JSON.stringify(bad));
  }
});

test("a purpose's terms field goes with that purpose, and only with it", (t) => {
  const intent = { paymentIntentId: 'pi_Q2h0bWJ2c2lkZ3Jvd2thMQ' };
  t.is(termsFieldProblem(PURPOSE_TEXTS, 'payment', intent), undefined);
  t.is(termsFieldProblem(PURPOSE_TEXTS, 'login', {}), undefined);
  const wanted = { path: 'paymentIntentId', message: 'paymentIntentId is required for the purpose payment, and only for it' };
  t.deepEqual(termsFieldProblem(PURPOSE_TEXTS, 'payment', {}), wanted);
  t.deepEqual(termsFieldProblem(PURPOSE_TEXTS, 'relink', intent), wanted);
});

test('a membership link: the common lines, then the request, the service by id and name, and the member number', (t) => {
  const terms = MEMBERSHIP_TERMS.parse({ requestId: 'mr_Q2h0bWJ2c2lkZ3Jvd2thMQ', serviceId: 4, serviceName: 'みらい市立中央図書館', memberNumber: 'L0012345' })!;
  t.is(canonicalChallenge({ ...challenge, purpose: 'service_link' }, MEMBERSHIP_TERMS.lines(terms)).toString('utf8'),
    'MyKey challenge v1\nid: Q2hhbGxlbmdlLW5vbmNlLTMyLWJ5dGVzLWJhc2U2NHVybA\npurpose: service_link\ndevice: 12\nexpires: 2026-11-22T03:01:00.000Z\n'
    + 'membership-request: mr_Q2h0bWJ2c2lkZ3Jvd2thMQ\nservice: 4 みらい市立中央図書館\nmember-number: L0012345\n');
  t.is(MEMBERSHIP_TERMS.mismatch(terms, 'mr_AAAAAAAAAAAAAAAAAAAAAA'), 'membership request mr_Q2h0bWJ2c2lkZ3Jvd2thMQ');
  const good = { requestId: 'mr_Q2h0bWJ2c2lkZ3Jvd2thMQ', serviceId: 4, serviceName: '図書館', memberNumber: 'L0012345' };
  for (const bad of [{ ...good, serviceName: '図書館\nmember-number: X' }, { ...good, memberNumber: 'l0012345' }, { ...good, memberNumber: 'L 1' },
    { ...good, serviceName: '' }, { ...good, requestId: 'pi_Q2h0bWJ2c2lkZ3Jvd2thMQ' }, { ...good, serviceId: 0 }]) {
    t.is(MEMBERSHIP_TERMS.parse(bad), undefined, JSON.stringify(bad));
  }
});

test('terms two purposes share go with both of them, and only with them', (t) => {
  const request = { membershipRequestId: 'mr_Q2h0bWJ2c2lkZ3Jvd2thMQ' };
  t.is(termsFieldProblem(PURPOSE_TEXTS, 'service_link', request), undefined);
  t.is(termsFieldProblem(PURPOSE_TEXTS, 'service_unlink', request), undefined);
  const wanted = { path: 'membershipRequestId', message: 'membershipRequestId is required for the purposes service_link, service_unlink, and only for them' };
  t.deepEqual(termsFieldProblem(PURPOSE_TEXTS, 'service_unlink', {}), wanted);
  t.deepEqual(termsFieldProblem(PURPOSE_TEXTS, 'service_lookup', request), wanted);
  t.like(termsFieldProblem(PURPOSE_TEXTS, 'service_link', { ...request, paymentIntentId: 'pi_Q2h0bWJ2c2lkZ3Jvd2thMQ' }), { path: 'paymentIntentId' });
});
