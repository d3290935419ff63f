// CertificateVerifier, as the API uses it: the revocation policy for value-moving operations
// and logins, CRLs picked up from MySQL once the job has written them, and no database round
// trip per verification.
import test from 'ava';
import { createCa, issueCertificate, issueCrl, type CertificateAuthority } from '@mykey/dev-tools/dev-ca/index.ts';
import { createDb, type Db } from '../src/db.ts';
import { refreshCrls } from '../src/jpki/crl-job.ts';
import { crlRepository } from '../src/jpki/crl-repository.ts';
import { caKey } from '../src/jpki/revocation.ts';
import { CertificateVerifier, type RevocationPolicy } from '../src/jpki/verifier.ts';
import { fileFixture, silentLog, testDatabase } from './helpers/env.ts';
import { writeFiles } from './helpers/jpki.ts';

const DAY = 86_400_000;
const NOW = Math.floor(Date.now() / 1000) * 1000;

const database = fileFixture(test, async (cleanup) => (await testDatabase(cleanup)).db);

/**
 * A CA of its own for each test, so each starts with no CRL: CRLs are kept per CA key, and the
 * tests share the file's database. A test that counts queries gets a database of its own.
 */
async function fresh(t: { teardown: (fn: () => unknown) => void }, policy: RevocationPolicy = 'fail-closed', options: { recheckMs?: number; ownDatabase?: boolean } = {}) {
  const ca = await createCa({ kind: 'auth' });
  const db = options.ownDatabase ? (await testDatabase((fn) => t.teardown(fn))).db : await database();
  const verifier = new CertificateVerifier({ anchors: [ca.certificate], db, policy, log: silentLog, recheckMs: options.recheckMs });
  return { ca, db, verifier };
}

async function storeCrl(db: Db, crl: { der: Buffer; thisUpdate: Date; nextUpdate: Date }, anchor: CertificateAuthority) {
  await crlRepository.storeIfNewer(db, { issuerKey: caKey(anchor.certificate), issuerName: 'JPKI', thisUpdate: crl.thisUpdate, nextUpdate: crl.nextUpdate, der: crl.der, source: 'test', fetchedAt: new Date() });
}

test('the verifier picks up a CRL written by the job: a card becomes revoked for every use', async (t) => {
  const { ca, db, verifier } = await fresh(t);
  const card = await issueCertificate(ca);
  t.like(await verifier.verify(card.certificateDer, { valueMoving: false }), { ok: true, revocationChecked: false });
  const crl = await issueCrl(ca, { revoked: [{ serialNumberHex: card.serialNumberHex, reason: 'keyCompromise' }] });
  const files = writeFiles((fn) => t.teardown(fn), { 'auth.crl': crl.pem });
  await refreshCrls({ db, anchors: [ca.certificate], sources: [{ kind: 'file', location: files['auth.crl'] }], log: silentLog });
  await verifier.refresh();
  t.like(await verifier.verify(card.certificateDer, { valueMoving: false }), { ok: false, code: 'certificate_revoked' });
  t.like(await verifier.verify(card.certificateDer, { valueMoving: true }), { ok: false, code: 'certificate_revoked' });
});

test('a CRL already in MySQL is used from the very first verification', async (t) => {
  const { ca, db, verifier } = await fresh(t);
  const [lost, kept] = [await issueCertificate(ca), await issueCertificate(ca)];
  await storeCrl(db, await issueCrl(ca, { revoked: [{ serialNumberHex: lost.serialNumberHex }] }), ca);
  t.like(await verifier.verify(lost.certificateDer, { valueMoving: false }), { ok: false, code: 'certificate_revoked' });
  t.like(await verifier.verify(kept.certificateDer, { valueMoving: true }), { ok: true, revocationChecked: true });
});

for (const policy of ['fail-closed', 'fail-open'] as const) {
  test(`certificate_revocation_unknown under ${policy}: missing and stale CRLs for a value-moving check; a login proceeds`, async (t) => {
    const { ca, db, verifier } = await fresh(t, policy);
    const card = await issueCertificate(ca);
    const refusedWhenClosed = policy === 'fail-closed' ? { ok: false, code: 'certificate_revocation_unknown' } : { ok: true, revocationChecked: false };
    // Missing: no CRL for the issuer at all.
    t.like(await verifier.verify(card.certificateDer, { valueMoving: true }), refusedWhenClosed, 'missing, value-moving');
    t.like(await verifier.verify(card.certificateDer, { valueMoving: false }), { ok: true, revocationChecked: false }, 'missing, login');
    // Stale: the only CRL is past its next update.
    await storeCrl(db, await issueCrl(ca, { revoked: [], thisUpdate: new Date(NOW - 10 * DAY), nextUpdate: new Date(NOW - DAY) }), ca);
    await verifier.refresh();
    t.like(await verifier.verify(card.certificateDer, { valueMoving: true }), refusedWhenClosed, 'stale, value-moving');
    t.like(await verifier.verify(card.certificateDer, { valueMoving: false }), { ok: true, revocationChecked: false }, 'stale, login');
  });
}

// Serial: minting and parsing 20,000 entries holds this process's CPU for seconds (over a minute
// on a loaded 2-core machine), and a MySQL handshake of a concurrent test timed out meanwhile.
test.serial('a CRL of 20,000 revocations (past asn1js\'s default parse limits) is taken: a card on it is refused, another passes', async (t) => {
  const { ca, db, verifier } = await fresh(t);
  const [revoked, good] = await Promise.all([issueCertificate(ca), issueCertificate(ca)]);
  const others = Array.from({ length: 19_999 }, (_, i) => ({ serialNumberHex: `7F${i.toString(16).padStart(8, '0')}` }));
  const crl = await issueCrl(ca, { revoked: [...others, { serialNumberHex: revoked.serialNumberHex }] });
  const files = writeFiles((fn) => t.teardown(fn), { 'auth.crl': crl.pem });
  await refreshCrls({ db, anchors: [ca.certificate], sources: [{ kind: 'file', location: files['auth.crl'] }], log: silentLog });
  await verifier.refresh();
  t.like(await verifier.verify(revoked.certificateDer, { valueMoving: false }), { ok: false, code: 'certificate_revoked' });
  t.like(await verifier.verify(good.certificateDer, { valueMoving: true }), { ok: true, revocationChecked: true });
});

test('a revoked card is refused under fail-open too, even on a stale CRL', async (t) => {
  const { ca, db, verifier } = await fresh(t, 'fail-open');
  const card = await issueCertificate(ca);
  await storeCrl(db, await issueCrl(ca, { revoked: [{ serialNumberHex: card.serialNumberHex }], thisUpdate: new Date(NOW - 10 * DAY), nextUpdate: new Date(NOW - DAY) }), ca);
  t.like(await verifier.verify(card.certificateDer, { valueMoving: false }), { ok: false, code: 'certificate_revoked' });
});

test('verifications do not each go to MySQL: one look per recheck interval', async (t) => {
  const { ca, db, verifier } = await fresh(t, 'fail-closed', { recheckMs: 3_600_000, ownDatabase: true });
  const card = await issueCertificate(ca);
  let queries = 0;
  db.on('query', () => { queries++; });
  const verdicts = await Promise.all(Array.from({ length: 200 }, () => verifier.verify(card.certificateDer, { valueMoving: false })));
  t.true(verdicts.every((v) => v.ok));
  t.true(queries <= 2, `${queries} queries for 200 verifications`);
  // And a newer CRL arrives only with the next look.
  await storeCrl(db, await issueCrl(ca, { revoked: [{ serialNumberHex: card.serialNumberHex }] }), ca);
  t.like(await verifier.verify(card.certificateDer, { valueMoving: false }), { ok: true });
  await verifier.refresh();
  t.like(await verifier.verify(card.certificateDer, { valueMoving: false }), { ok: false, code: 'certificate_revoked' });
});

test('MySQL unreachable: verification still answers, as if no CRL were held', async (t) => {
  const ca = await createCa({ kind: 'auth' });
  const gone = new URL(process.env.DATABASE_URL!);
  gone.pathname = '/mykey_test_no_such_database';
  const db = createDb(gone.toString(), silentLog);
  t.teardown(() => db.destroy());
  const verifier = new CertificateVerifier({ anchors: [ca.certificate], db, policy: 'fail-closed', log: silentLog });
  const card = await issueCertificate(ca);
  t.like(await verifier.verify(card.certificateDer, { valueMoving: false }), { ok: true, revocationChecked: false });
  t.like(await verifier.verify(card.certificateDer, { valueMoving: true }), { ok: false, code: 'certificate_revocation_unknown' });
  await t.throwsAsync(verifier.refresh(), undefined, 'refresh() itself reports the failure');
});

test('a certificate seen before is judged afresh at each use: validity by the clock of the call', async (t) => {
  const { ca, verifier } = await fresh(t);
  const card = await issueCertificate(ca, { notBefore: new Date(NOW + DAY), notAfter: new Date(NOW + 3 * DAY) });
  t.like(await verifier.verify(card.certificateDer, { valueMoving: false }), { ok: false, code: 'certificate_not_yet_valid' });
  t.like(await verifier.verify(card.certificateDer, { valueMoving: false, now: new Date(NOW + 2 * DAY) }), { ok: true });
  t.like(await verifier.verify(card.certificateDer, { valueMoving: false, now: new Date(NOW + 4 * DAY) }), { ok: false, code: 'certificate_expired' });
  // The anchor's own validity too: after the CA expired, its cards are no longer trusted.
  t.like(await verifier.verify(card.certificateDer, { valueMoving: false, now: new Date(NOW + 20 * 365 * DAY) }), { ok: false, code: 'certificate_untrusted' });
});
