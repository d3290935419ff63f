// Taps sent late from a counter's journal (docs/tap-journal.md): the device registers its
// Ed25519 key once; an entry it signed is recorded at the time the card was tapped, once however
// often it is sent; a forged, unregistered, stale or future entry, or one for a purpose that
// takes none, is refused and nothing is handed to the purpose.
import test from 'ava';
import { generateKeyPairSync, randomUUID, type KeyObject } from 'node:crypto';
import { createCa, issueCertificate, issueCrl, type IssuedCertificate } from '@mykey/dev-tools/dev-ca/index.ts';
import { fileFixture, testDatabase } from './helpers/env.ts';
import { startApp, testIdentity } from './helpers/server.ts';
import { enrollDevice, signInStaff, type Device } from './helpers/identity.ts';
import { journalEntry, journalKey, putJournalKey as putKey, sendJournaled as send } from './helpers/journal.ts';
import { PurposeRegistry, type Purpose, type Tap } from '../src/card-taps/purposes.ts';

const DAY = 86_400_000;

/** What each test purpose's handler was handed, in order. */
const handed: Tap[] = [];

const testPurpose = (name: string, journaled: boolean): Purpose => ({
  name, proofs: ['tap'], deviceKinds: ['municipality'], valueMoving: false, journaled,
  handle: async (_trx, tap) => {
    handed.push(tap);
    return { handledSerial: tap.card.serialHex, at: tap.now.toISOString() };
  },
});

const fixture = fileFixture(test, async (cleanup) => {
  const { db } = await testDatabase(cleanup);
  await db.seed.run();
  const ca = await createCa({ kind: 'auth' });
  const identity = testIdentity(db, [ca.certificate]);
  await identity.addCrl((await issueCrl(ca, { revoked: [], thisUpdate: new Date(Date.now() - 3_600_000), nextUpdate: new Date(Date.now() + DAY) })).der);
  const base = await startApp(cleanup, db, { identity, purposes: [testPurpose('test_journaled', true), testPurpose('test_tap_now', false)] });
  const city = await signInStaff(base, 'demo-city');
  return { db, base, city, card: () => issueCertificate(ca) };
});

/** A counter with a journal key of its own, registered (or not). */
async function counter(register = true) {
  const { base, city } = await fixture();
  const device = await enrollDevice(base, city, `避難所受付 ${randomUUID().slice(0, 8)}`);
  return { device, ...(await journalKey(device, register)) };
}

const entry = (device: Device, privateKey: KeyObject, card: IssuedCertificate, tappedAt: Date, purpose = 'test_journaled') => journalEntry(device, privateKey, card, tappedAt, purpose);
const handedFor = (card: IssuedCertificate) => handed.filter((h) => h.card.serialHex === card.serialNumberHex);

test('a device registers its journal key once: the same key again is fine, another one or not an Ed25519 key is refused', async (t) => {
  const { device, spki } = await counter();
  t.like(await putKey(device, spki), { status: 200, body: { deviceId: device.id } });
  const other = generateKeyPairSync('ed25519').publicKey.export({ type: 'spki', format: 'der' });
  t.like(await putKey(device, other), { status: 409, body: { code: 'journal_key_taken' } });
  const rsa = generateKeyPairSync('rsa', { modulusLength: 1024 }).publicKey.export({ type: 'spki', format: 'der' });
  const fresh = await counter(false);
  t.like(await putKey(fresh.device, Buffer.from('not a key')), { status: 400, body: { code: 'request_invalid' } });
  t.like(await putKey(fresh.device, rsa.subarray(0, 120)), { status: 400, body: { code: 'request_invalid' } });
});

test('an entry is recorded at the time the card was tapped, and once however often it is sent', async (t) => {
  const { card } = await fixture();
  const { device, privateKey } = await counter();
  const resident = await card();
  const tappedAt = new Date(Date.now() - 3 * 3_600_000);
  const body = entry(device, privateKey, resident, tappedAt);
  const first = await send(device, body);
  t.like(first, { status: 201, body: { purpose: 'test_journaled', handledSerial: resident.serialNumberHex, at: tappedAt.toISOString() } });
  t.deepEqual(await send(device, body), first, 'sent again (the answer lost): the first answer');
  t.is(handedFor(resident).length, 1);
  t.is(handedFor(resident)[0]!.now.toISOString(), tappedAt.toISOString());
});

test('refused, with nothing handed over: a forged or changed entry, a device without a key, a stale or future time, a purpose that takes no journal', async (t) => {
  const { card } = await fixture();
  const { device, privateKey } = await counter();
  const resident = await card();
  const now = Date.now();
  const forged = entry(device, generateKeyPairSync('ed25519').privateKey, resident, new Date(now));
  t.like(await send(device, forged), { status: 401, body: { code: 'journal_signature_invalid' } });
  const changed = entry(device, privateKey, resident, new Date(now - 60_000));
  changed.journal.tappedAt = new Date(now - 120_000).toISOString();
  t.like(await send(device, changed), { status: 401, body: { code: 'journal_signature_invalid' } }, 'the time is signed');
  const otherCard = entry(device, privateKey, resident, new Date(now));
  otherCard.certificate = (await card()).certificateDer.toString('base64');
  t.like(await send(device, otherCard), { status: 401, body: { code: 'journal_signature_invalid' } }, 'the card is signed');
  const keyless = await counter(false);
  t.like(await send(keyless.device, entry(keyless.device, keyless.privateKey, resident, new Date(now))), { status: 409, body: { code: 'journal_key_missing' } });
  t.like(await send(device, entry(device, privateKey, resident, new Date(now - 15 * DAY))), { status: 422, body: { code: 'journal_entry_out_of_time' } });
  t.like(await send(device, entry(device, privateKey, resident, new Date(now + 10 * 60_000))), { status: 422, body: { code: 'journal_entry_out_of_time' } });
  t.like(await send(device, entry(device, privateKey, resident, new Date(now), 'test_tap_now')), { status: 403, body: { code: 'journal_not_allowed' } });
  t.is(handedFor(resident).length, 0);
});

test('a journaled purpose must take a tap and have no terms', (t) => {
  const withPin: Purpose = { ...testPurpose('test_journaled_pin', true), proofs: ['pin'] };
  t.throws(() => new PurposeRegistry([withPin]), { message: /journaled/ });
});
