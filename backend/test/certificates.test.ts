// One test per reason a certificate is refused, with certificates minted by the development CA.
import test from 'ava';
import * as pkijs from 'pkijs';
import { createCa, issueCertificate, issueCrl, type CertificateAuthority } from '../../reader-agent/src/dev-ca/index.ts';
import { verifyUserCertificate, type VerifyOptions } from '../src/jpki/certificates.ts';
import { CrlError, RevocationList } from '../src/jpki/revocation.ts';

const DAY = 86_400_000;
const NOW = new Date();

const fixture = (() => {
  let value: Promise<{ authCa: CertificateAuthority; signCa: CertificateAuthority; otherAuthCa: CertificateAuthority }> | undefined;
  return () => (value ??= (async () => ({ authCa: await createCa({ kind: 'auth' }), signCa: await createCa({ kind: 'sign' }), otherAuthCa: await createCa({ kind: 'auth' }) }))());
})();

async function options(overrides: Partial<VerifyOptions> = {}, crls: Uint8Array[] = []): Promise<VerifyOptions> {
  const { authCa } = await fixture();
  const revocations = new RevocationList([authCa.certificate]);
  for (const crl of crls) await revocations.add(crl);
  return { anchors: [authCa.certificate], revocation: (i, s, n) => revocations.status(i, s, n), failClosed: false, now: NOW, ...overrides };
}

test('a fresh user-authentication certificate from the anchor is accepted', async (t) => {
  const { authCa } = await fixture();
  const card = await issueCertificate(authCa);
  const verdict = await verifyUserCertificate(card.certificateDer, await options());
  t.true(verdict.ok);
  if (verdict.ok) {
    t.is(verdict.serialHex, card.serialNumberHex);
    t.false(verdict.revocationChecked, 'no CRL was loaded');
  }
});

test('certificate_wrong_type: a JPKI signing certificate is refused', async (t) => {
  const { signCa, authCa } = await fixture();
  const signing = await issueCertificate(signCa);
  const verdict = await verifyUserCertificate(signing.certificateDer, await options({ anchors: [authCa.certificate, signCa.certificate] }));
  t.like(verdict, { ok: false, code: 'certificate_wrong_type' });
});

test('certificate_wrong_type: a CA certificate is not a card certificate', async (t) => {
  const { authCa } = await fixture();
  t.like(await verifyUserCertificate(authCa.certificateDer, await options()), { ok: false, code: 'certificate_wrong_type' });
});

test('certificate_untrusted: same issuer name, another key', async (t) => {
  const { otherAuthCa } = await fixture();
  const forged = await issueCertificate(otherAuthCa);
  t.like(await verifyUserCertificate(forged.certificateDer, await options()), { ok: false, code: 'certificate_untrusted' });
});

test('certificate_expired and certificate_not_yet_valid', async (t) => {
  const { authCa } = await fixture();
  const expired = await issueCertificate(authCa, { notBefore: new Date(NOW.getTime() - 400 * DAY), notAfter: new Date(NOW.getTime() - DAY) });
  const future = await issueCertificate(authCa, { notBefore: new Date(NOW.getTime() + DAY), notAfter: new Date(NOW.getTime() + 400 * DAY) });
  t.like(await verifyUserCertificate(expired.certificateDer, await options()), { ok: false, code: 'certificate_expired' });
  t.like(await verifyUserCertificate(future.certificateDer, await options()), { ok: false, code: 'certificate_not_yet_valid' });
});

test('certificate_revoked: on a fresh CRL from the anchor; others on it stay good', async (t) => {
  const { authCa } = await fixture();
  const [lost, kept] = [await issueCertificate(authCa), await issueCertificate(authCa)];
  const crl = await issueCrl(authCa, { revoked: [{ serialNumberHex: lost.serialNumberHex, reason: 'keyCompromise' }] });
  const opts = await options({ failClosed: true }, [crl.der]);
  t.like(await verifyUserCertificate(lost.certificateDer, opts), { ok: false, code: 'certificate_revoked' });
  t.like(await verifyUserCertificate(kept.certificateDer, opts), { ok: true, revocationChecked: true });
});

test('a stale or missing CRL fails closed when the policy says so, and open otherwise', async (t) => {
  const { authCa } = await fixture();
  const card = await issueCertificate(authCa);
  const stale = await issueCrl(authCa, { revoked: [], thisUpdate: new Date(NOW.getTime() - 10 * DAY), nextUpdate: new Date(NOW.getTime() - DAY) });
  t.like(await verifyUserCertificate(card.certificateDer, await options({ failClosed: true }, [stale.der])), { ok: false, code: 'certificate_revocation_unknown' });
  t.like(await verifyUserCertificate(card.certificateDer, await options({ failClosed: true })), { ok: false, code: 'certificate_revocation_unknown' });
  t.like(await verifyUserCertificate(card.certificateDer, await options({ failClosed: false }, [stale.der])), { ok: true, revocationChecked: false });
});

test('a CRL not signed by an anchor is refused, and an older CRL never replaces a newer one', async (t) => {
  const { authCa, otherAuthCa } = await fixture();
  const card = await issueCertificate(authCa);
  const list = new RevocationList([authCa.certificate]);
  const forged = await issueCrl(otherAuthCa, { revoked: [] });
  await t.throwsAsync(list.add(forged.der), { instanceOf: CrlError });
  const newer = await issueCrl(authCa, { revoked: [{ serialNumberHex: card.serialNumberHex }], thisUpdate: new Date(NOW.getTime() - DAY) });
  const older = await issueCrl(authCa, { revoked: [], thisUpdate: new Date(NOW.getTime() - 2 * DAY) });
  await list.add(newer.der);
  await list.add(older.der);
  const issuer = Buffer.from(card.certificate.issuer.toSchema().toBER());
  t.is(list.status(issuer, card.serialNumberHex, NOW), 'revoked');
});

test('certificate_key_weak: an RSA-1024 key is refused even from the anchor', async (t) => {
  const { authCa } = await fixture();
  const weak = await mintWithKeySize(authCa, 1024);
  t.like(await verifyUserCertificate(weak, await options()), { ok: false, code: 'certificate_key_weak' });
});

test('certificate_malformed: empty, truncated, trailing bytes, PEM text, a CRL, oversized, garbage', async (t) => {
  const { authCa } = await fixture();
  const good = (await issueCertificate(authCa)).certificateDer;
  const crl = (await issueCrl(authCa, { revoked: [] })).der;
  const inputs: Record<string, Uint8Array> = {
    empty: new Uint8Array(0),
    truncated: good.subarray(0, good.length - 10),
    trailing: Buffer.concat([good, Buffer.from([0])]),
    pemText: Buffer.from(authCa.certificatePem),
    crl,
    oversized: Buffer.alloc(100_000, 0x30),
    garbage: Buffer.from('this is not a certificate at all'),
    nestedLength: Buffer.from('3084ffffffff', 'hex'),
  };
  for (const [name, bytes] of Object.entries(inputs)) {
    t.like(await verifyUserCertificate(bytes, await options()), { ok: false, code: 'certificate_malformed' }, name);
  }
});

test('hostile bytes never crash: 300 random corruptions of a good certificate all get a verdict', async (t) => {
  const { authCa } = await fixture();
  const good = (await issueCertificate(authCa)).certificateDer;
  const opts = await options();
  let seed = 42;
  const random = () => ((seed = (seed * 1103515245 + 12345) % 2 ** 31) / 2 ** 31);
  const codes = new Set<string>();
  for (let i = 0; i < 300; i++) {
    const bytes = Buffer.from(good);
    for (let flips = 1 + Math.floor(random() * 4); flips > 0; flips--) bytes[Math.floor(random() * bytes.length)] = Math.floor(random() * 256);
    const verdict = await verifyUserCertificate(bytes, opts);
    codes.add(verdict.ok ? 'ok' : verdict.code);
  }
  t.true(codes.has('certificate_malformed'));
  t.true(codes.has('certificate_untrusted'), 'a corrupted body breaks the signature');
  t.log([...codes].join(', '));
});

/** A user-authentication certificate like the dev CA's, but with a key of another size. */
async function mintWithKeySize(ca: CertificateAuthority, bits: number): Promise<Uint8Array> {
  const keys = await crypto.subtle.generateKey({ name: 'RSASSA-PKCS1-v1_5', modulusLength: bits, publicExponent: new Uint8Array([1, 0, 1]), hash: 'SHA-256' }, true, ['sign', 'verify']);
  const certificate = new pkijs.Certificate();
  certificate.version = 2;
  certificate.serialNumber = new (await import('asn1js')).Integer({ value: 7 });
  certificate.issuer = ca.certificate.subject;
  certificate.subject = ca.certificate.subject;
  certificate.notBefore.value = new Date(NOW.getTime() - DAY);
  certificate.notAfter.value = new Date(NOW.getTime() + 365 * DAY);
  const bitString = new (await import('asn1js')).BitString({ valueHex: new Uint8Array([0x80]).buffer, unusedBits: 7 });
  certificate.extensions = [new pkijs.Extension({ extnID: '2.5.29.15', critical: true, extnValue: bitString.toBER() })];
  await certificate.subjectPublicKeyInfo.importKey(keys.publicKey);
  await certificate.sign(ca.privateKey, 'SHA-256');
  return new Uint8Array(certificate.toSchema(true).toBER());
}

test('hostile CRL bytes are refused with CrlError, never a crash', async (t) => {
  const { authCa } = await fixture();
  const good = (await issueCrl(authCa, { revoked: [{ serialNumberHex: '01' }, { serialNumberHex: '02' }] })).der;
  const list = new RevocationList([authCa.certificate]);
  let seed = 7;
  const random = () => ((seed = (seed * 1103515245 + 12345) % 2 ** 31) / 2 ** 31);
  for (let i = 0; i < 200; i++) {
    const bytes = Buffer.from(good);
    bytes[Math.floor(random() * bytes.length)] = Math.floor(random() * 256);
    if (bytes.equals(good)) continue;
    await t.throwsAsync(list.add(bytes), { instanceOf: CrlError });
  }
});
