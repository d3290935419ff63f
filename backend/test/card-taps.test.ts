// A new reason to tap a card is a purpose registered in a few lines: here two test-only ones,
// one the card confirms with its PIN and one a device reports with a tap, on this file's own
// app. The card-tap service checks the card and who asks, and hands the card to the handler.
import test from 'ava';
import { createCa, issueCertificate, issueCrl } from '@mykey/dev-tools/dev-ca/index.ts';
import type { IssuedCertificate } from '@mykey/dev-tools/dev-ca/index.ts';
import { fileFixture, testDatabase } from './helpers/env.ts';
import { startApp, testIdentity } from './helpers/server.ts';
import { cardProof, cardSession, enrollDevice, signInStaff, type Device } from './helpers/identity.ts';
import { PurposeRegistry, type Purpose, type Tap } from '../src/card-taps/purposes.ts';

const DAY = 86_400_000;

/** What each test purpose's handler was handed, in order. */
const handed: Tap[] = [];

/** A test-only purpose: a municipality's device asks, the handler keeps what it was handed and answers with the card's serial. */
const testPurpose = (name: string, proofs: Purpose['proofs']): Purpose => ({
  name, proofs, deviceKinds: ['municipality'], valueMoving: false,
  handle: async (_trx, tap) => {
    handed.push(tap);
    return { handledSerial: tap.card.serialHex, proof: tap.card.proof };
  },
});

const fixture = fileFixture(test, async (cleanup) => {
  const { db } = await testDatabase(cleanup);
  await db.seed.run();
  const pki = { ca: await createCa({ kind: 'auth' }) };
  const identity = testIdentity(db, [pki.ca.certificate]);
  await identity.addCrl((await issueCrl(pki.ca, { revoked: [], thisUpdate: new Date(Date.now() - 3_600_000), nextUpdate: new Date(Date.now() + DAY) })).der);
  const base = await startApp(cleanup, db, { identity, purposes: [testPurpose('test_pin', ['pin']), testPurpose('test_tap', ['tap'])] });
  const counter = await enrollDevice(base, await signInStaff(base, 'demo-city'));
  const register = await enrollDevice(base, await signInStaff(base, 'demo-shop'), 'レジ1');
  return { db, pki, identity, base, counter, register, card: () => issueCertificate(pki.ca) };
});

const tap = (device: Device, purpose: string, card: IssuedCertificate) =>
  device.post('/api/v1/auth/card-taps', { purpose, certificate: card.certificateDer.toString('base64') });

/** What the handler was handed for the card with this serial. */
const handedFor = (card: IssuedCertificate) => handed.filter((h) => h.card.serialHex === card.serialNumberHex);

test('a PIN purpose: the card signs its challenge, the handler gets the verified card and the device, its answer joins the common fields', async (t) => {
  const { counter, card } = await fixture();
  const resident = await card();
  const reply = await cardSession(counter, resident, 'test_pin');
  t.is(reply.status, 201, JSON.stringify(reply.body));
  t.deepEqual(Object.keys(reply.body), ['challengeId', 'purpose', 'revocationChecked', 'handledSerial', 'proof']);
  t.like(reply.body, { purpose: 'test_pin', revocationChecked: true, handledSerial: resident.serialNumberHex, proof: 'pin' });
  const [got] = handedFor(resident);
  t.is(got?.device.id, counter.id);
  t.is(got?.challenge?.id, reply.body.challengeId);
  t.is(got?.card.certKey.length, 32, "the card's keyed hash");
  t.is(got?.terms, undefined);
});

test('a tap purpose: the certificate the device read, verified under the anchors and revocation-checked, goes to the handler', async (t) => {
  const { counter, card } = await fixture();
  const resident = await card();
  const reply = await tap(counter, 'test_tap', resident);
  t.is(reply.status, 201, JSON.stringify(reply.body));
  t.deepEqual(reply.body, { purpose: 'test_tap', revocationChecked: true, handledSerial: resident.serialNumberHex, proof: 'tap' });
  t.is(handedFor(resident).length, 1);
  t.is(handedFor(resident)[0]?.challenge, undefined);
});

test('a tap for a purpose that wants the PIN is refused, and a PIN challenge for a tap-only purpose too; no handler runs', async (t) => {
  const { counter, card } = await fixture();
  const resident = await card();
  for (const purpose of ['test_pin', 'login']) {
    const reply = await tap(counter, purpose, resident);
    t.like(reply, { status: 403, body: { code: 'card_tap_not_allowed' } }, purpose);
  }
  t.like(await counter.post('/api/v1/auth/challenges', { purpose: 'test_tap' }), { status: 403, body: { code: 'card_pin_not_allowed' } });
  t.like(await tap(counter, 'never_registered', resident), { status: 400, body: { code: 'request_invalid' } });
  t.deepEqual(handedFor(resident), []);
});

test('a device of a kind the purpose does not allow is refused, for a challenge and for a tap', async (t) => {
  const { register, card } = await fixture();
  const resident = await card();
  t.like(await register.post('/api/v1/auth/challenges', { purpose: 'test_pin' }), { status: 403, body: { code: 'purpose_not_for_device' } });
  t.like(await tap(register, 'test_tap', resident), { status: 403, body: { code: 'purpose_not_for_device' } });
  t.deepEqual(handedFor(resident), []);
});

test("a revoked card's tap is refused, and its MyKey ID's card is noted revoked as on a PIN login", async (t) => {
  const { db, pki, identity, counter, card } = await fixture();
  const resident = await card();
  const { mykeyId } = (await cardSession(counter, resident)).body;
  await identity.addCrl((await issueCrl(pki.ca, { revoked: [{ serialNumberHex: resident.serialNumberHex, reason: 'keyCompromise' }] })).der);
  t.like(await tap(counter, 'test_tap', resident), { status: 401, body: { code: 'certificate_revoked' } });
  const linked = await db('mykeys as m').join('mykey_certificates as c', 'c.mykey_pk', 'm.id').where('m.mykey_id', mykeyId).first('c.status');
  t.is(linked?.status, 'revoked');
  t.deepEqual(handedFor(resident), []);
});

test("a tap of a certificate from a CA that is no trust anchor is refused", async (t) => {
  const { counter } = await fixture();
  const stranger = await issueCertificate(await createCa({ kind: 'auth' }));
  t.like(await tap(counter, 'test_tap', stranger), { status: 401, body: { code: 'certificate_untrusted' } });
  t.deepEqual(handedFor(stranger), []);
});

test('a tap whose revocation cannot be checked is refused even where the policy lets a PIN login through, unless its purpose takes such taps', async (t) => {
  const { db, base } = await fixture();
  // Apps of their own (their devices enrolled by the file's staff) whose CA has no CRL at all.
  const ca = await createCa({ kind: 'auth' });
  const unchecked: Purpose = { ...testPurpose('test_tap_unchecked', ['tap']), tapsWithoutRevocation: true };
  for (const policy of ['fail-open', 'fail-closed'] as const) {
    const appBase = await startApp(t.teardown.bind(t), db, { identity: testIdentity(db, [ca.certificate], policy), purposes: [testPurpose('test_tap', ['tap']), unchecked] });
    const counter = await enrollDevice(appBase, await signInStaff(base, 'demo-city'), `カウンター ${policy}`);
    const resident = await issueCertificate(ca);
    if (policy === 'fail-open') t.like(await cardSession(counter, resident), { status: 201, body: { purpose: 'login', revocationChecked: false } });
    t.like(await tap(counter, 'test_tap', resident), { status: 503, body: { code: 'certificate_revocation_unknown' } }, policy);
    t.deepEqual(handedFor(resident), []);
    t.like(await tap(counter, 'test_tap_unchecked', resident), { status: 201, body: { revocationChecked: false, handledSerial: resident.serialNumberHex } }, policy);
  }
  const movesValue: Purpose = { ...unchecked, valueMoving: true };
  t.throws(() => new PurposeRegistry([movesValue]), { message: /revocation/ });
});

test('a tap under the same Idempotency-Key is handled once and answered the same', async (t) => {
  const { counter, card } = await fixture();
  const resident = await card();
  const body = { purpose: 'test_tap', certificate: resident.certificateDer.toString('base64') };
  const first = await counter.post('/api/v1/auth/card-taps', body, 'tap-once');
  const again = await counter.post('/api/v1/auth/card-taps', body, 'tap-once');
  t.is(first.status, 201);
  t.deepEqual(again, first);
  t.is(handedFor(resident).length, 1);
});

test('each challenge answer names a purpose and a text the card can sign; the proof of another purpose gives nothing to this one', async (t) => {
  const { counter, card } = await fixture();
  const resident = await card();
  const challenge = await counter.post('/api/v1/auth/challenges', { purpose: 'test_pin' });
  t.is(challenge.status, 201);
  t.true(Buffer.from(challenge.body.challenge, 'base64').toString('utf8').includes('purpose: test_pin\n'));
  t.like(await counter.post('/api/v1/auth/card-sessions', cardProof(challenge.body, resident)), { status: 201, body: { purpose: 'test_pin' } });
  t.like(await counter.post('/api/v1/mykeys/home-moves', { proof: challenge.body.challengeId }), { status: 400, body: { code: 'card_proof_unknown' } });
});
