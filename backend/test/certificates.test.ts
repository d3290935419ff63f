// One test per reason a certificate is refused, with certificates minted by the development CA.
import test from 'ava';
import * as asn1js from 'asn1js';
import * as pkijs from 'pkijs';
import { mintCustom } from './helpers/jpki.ts';
import { pemBlocks, PemError, singlePem } from '../src/jpki/pem.ts';
import { createCa, issueCertificate, issueCrl, type CertificateAuthority } from '@mykey/dev-tools/dev-ca/index.ts';
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

test('certificate_untrusted: the CA\'s signature no longer matches — one bit of the signature, or one letter of the subject, changed', async (t) => {
  const { authCa } = await fixture();
  const name = 'ABCDEFGHIJKLMNOPQRSTUVW';
  const card = await issueCertificate(authCa, { commonName: name });
  const signature = Buffer.from(card.certificateDer);
  signature[signature.length - 1]! ^= 0x01;
  const subject = Buffer.from(card.certificateDer);
  subject[subject.indexOf(name)] = 'Z'.charCodeAt(0);
  t.like(await verifyUserCertificate(card.certificateDer, await options()), { ok: true });
  t.like(await verifyUserCertificate(signature, await options()), { ok: false, code: 'certificate_untrusted' });
  t.like(await verifyUserCertificate(subject, await options()), { ok: false, code: 'certificate_untrusted' });
});

test('issuerDer, from which MyKey IDs are derived, is the issuer Name\'s DER as the certificate carries it', async (t) => {
  const { authCa } = await fixture();
  const card = await issueCertificate(authCa);
  const verdict = await verifyUserCertificate(card.certificateDer, await options());
  if (!verdict.ok) return t.fail(verdict.code);
  t.deepEqual(verdict.issuerDer, Buffer.from(card.certificate.issuer.toSchema().toBER()));
  t.deepEqual(verdict.issuerDer, Buffer.from(authCa.certificate.subject.toSchema().toBER()));
  t.true(card.certificateDer.includes(verdict.issuerDer));
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
  t.is((await t.throwsAsync(list.add(forged.der), { instanceOf: CrlError }))?.code, 'crl_untrusted');
  const newer = await issueCrl(authCa, { revoked: [{ serialNumberHex: card.serialNumberHex }], thisUpdate: new Date(NOW.getTime() - DAY) });
  const older = await issueCrl(authCa, { revoked: [], thisUpdate: new Date(NOW.getTime() - 2 * DAY) });
  await list.add(newer.der);
  await list.add(older.der);
  t.is(list.status(authCa.certificate, card.serialNumberHex, NOW), 'revoked');
});

test('certificate_key_weak: an RSA-1024 key is refused even from the anchor', async (t) => {
  const { authCa } = await fixture();
  const weak = await mintCustom(authCa, { bits: 1024 });
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
    const error = await t.throwsAsync(list.add(bytes), { instanceOf: CrlError });
    t.true(error?.code === 'crl_malformed' || error?.code === 'crl_untrusted');
  }
});

test('certificate_wrong_type: key usage without digitalSignature (keyEncipherment alone)', async (t) => {
  const { authCa } = await fixture();
  const encipherOnly = await mintCustom(authCa, { keyUsage: 0x20 });
  t.like(await verifyUserCertificate(encipherOnly, await options()), { ok: false, code: 'certificate_wrong_type', detail: 'key usage does not allow digital signatures' });
});

test('rollover: with the old and the new CA both anchors, certificates of both are accepted', async (t) => {
  const { authCa, otherAuthCa } = await fixture();
  const [fromOld, fromNew] = [await issueCertificate(authCa), await issueCertificate(otherAuthCa)];
  const both = await options({ anchors: [authCa.certificate, otherAuthCa.certificate] });
  t.like(await verifyUserCertificate(fromOld.certificateDer, both), { ok: true, serialHex: fromOld.serialNumberHex });
  t.like(await verifyUserCertificate(fromNew.certificateDer, both), { ok: true, serialHex: fromNew.serialNumberHex });
});

test('rollover: old and new CA share their name, but the new CA\'s CRL never stands in for the old one\'s', async (t) => {
  const { authCa: oldCa, otherAuthCa: newCa } = await fixture();
  const [lost, renewed] = [await issueCertificate(oldCa), await issueCertificate(newCa)];
  const oldCrl = await issueCrl(oldCa, { revoked: [{ serialNumberHex: lost.serialNumberHex }], thisUpdate: new Date(NOW.getTime() - 2 * DAY) });
  const newCrl = await issueCrl(newCa, { revoked: [], thisUpdate: new Date(NOW.getTime() - DAY), nextUpdate: new Date(NOW.getTime() + DAY) });
  const both = await options({ anchors: [oldCa.certificate, newCa.certificate], failClosed: true });
  const list = new RevocationList(both.anchors);
  await list.add(oldCrl.der);
  await list.add(newCrl.der);
  const opts = { ...both, revocation: list.status.bind(list) };
  t.like(await verifyUserCertificate(lost.certificateDer, opts), { ok: false, code: 'certificate_revoked' });
  t.like(await verifyUserCertificate(renewed.certificateDer, opts), { ok: true, revocationChecked: true });
});

test('an unknown CRITICAL extension is refused (RFC 5280 4.2); the same extension non-critical is ignored', async (t) => {
  const { authCa } = await fixture();
  const extension = (critical: boolean) => new pkijs.Extension({ extnID: '1.2.392.99999.1', critical, extnValue: new Uint8Array([0x05, 0x00]).buffer });
  const critical = await mintCustom(authCa, { extensions: [extension(true)] });
  const nonCritical = await mintCustom(authCa, { extensions: [extension(false)] });
  t.like(await verifyUserCertificate(critical, await options()), { ok: false, code: 'certificate_wrong_type', detail: 'unrecognised critical extension 1.2.392.99999.1' });
  t.like(await verifyUserCertificate(nonCritical, await options()), { ok: true });
});

test('an OID with an arc beyond 2^53 (legal: 2.25.<UUID>) cannot be re-encoded faithfully, so it is certificate_malformed', async (t) => {
  const { authCa } = await fixture();
  const odd = await mintCustom(authCa, { extensions: [new pkijs.Extension({ extnID: '2.25.329800735698586629295641978511506172918', critical: false, extnValue: new Uint8Array([0x05, 0x00]).buffer })] });
  t.like(await verifyUserCertificate(odd, await options()), { ok: false, code: 'certificate_malformed' });
});

test('serial numbers: 20 octets is the RFC 5280 limit; a huge serial is certificate_malformed', async (t) => {
  const { authCa } = await fixture();
  const twenty = await issueCertificate(authCa, { serialNumberHex: '7F' + 'AB'.repeat(19) });
  const huge = await issueCertificate(authCa, { serialNumberHex: '7F' + 'AB'.repeat(200) });
  t.like(await verifyUserCertificate(twenty.certificateDer, await options()), { ok: true, serialHex: twenty.serialNumberHex });
  t.like(await verifyUserCertificate(huge.certificateDer, await options()), { ok: false, code: 'certificate_malformed', detail: 'serial number longer than 20 octets' });
});

test('certificate_malformed: truncated at every cut point', async (t) => {
  const { authCa } = await fixture();
  const good = (await issueCertificate(authCa)).certificateDer;
  const opts = await options();
  const codes = new Set<string>();
  for (let cut = 1; cut < good.length; cut++) {
    const verdict = await verifyUserCertificate(good.subarray(0, cut), opts);
    codes.add(verdict.ok ? 'ok' : verdict.code);
  }
  t.deepEqual([...codes], ['certificate_malformed']);
});

test('certificate_malformed: the same certificate in BER with an indefinite length', async (t) => {
  const { authCa } = await fixture();
  const good = (await issueCertificate(authCa)).certificateDer;
  t.is(good[1], 0x82, 'a two-byte length follows the outer SEQUENCE tag');
  const indefinite = Buffer.concat([Buffer.from([0x30, 0x80]), good.subarray(4), Buffer.from([0, 0])]);
  t.like(await verifyUserCertificate(indefinite, await options()), { ok: false, code: 'certificate_malformed', detail: 'not canonical DER' });
});

test('certificate_malformed: a length in more octets than it needs, and a validity time not in RFC 5280 form', async (t) => {
  const { authCa } = await fixture();
  const good = (await issueCertificate(authCa)).certificateDer;
  t.is(good[1], 0x82, 'a two-byte length follows the outer SEQUENCE tag');
  const longLength = Buffer.concat([Buffer.from([0x30, 0x83, 0x00]), good.subarray(2)]);
  t.like(await verifyUserCertificate(longLength, await options()), { ok: false, code: 'certificate_malformed', detail: 'not canonical DER' });
  // notBefore is a UTCTime, YYMMDDHHMMSSZ: its Z becomes a "+", as in a time with an offset.
  const notBefore = good.indexOf(Buffer.from([0x17, 0x0d]));
  const offset = Buffer.from(good);
  offset[notBefore + 2 + 12] = '+'.charCodeAt(0);
  t.like(await verifyUserCertificate(offset, await options()), { ok: false, code: 'certificate_malformed', detail: 'not an X.509 certificate: validity is not two RFC 5280 times' });
});

test('an unknown signature algorithm OID is certificate_untrusted, not a crash', async (t) => {
  const { authCa } = await fixture();
  const good = (await issueCertificate(authCa)).certificateDer;
  // sha256WithRSAEncryption (1.2.840.113549.1.1.11) in the outer signatureAlgorithm becomes 1.2.840.113549.1.1.127.
  const oid = Buffer.from('06092a864886f70d01010b', 'hex');
  const outer = good.lastIndexOf(oid);
  t.true(outer > good.indexOf(oid), 'the OID appears in the TBS and again outside it');
  const odd = Buffer.from(good);
  odd[outer + oid.length - 1] = 0x7f;
  t.like(await verifyUserCertificate(odd, await options()), { ok: false, code: 'certificate_untrusted' });
});

test('PEM: exactly one block of the expected label, strict base64, nothing else around it', (t) => {
  const body = Buffer.from('a certificate would be here').toString('base64');
  const block = (label: string, text = body) => `-----BEGIN ${label}-----\n${text}\n-----END ${label}-----\n`;
  t.deepEqual(singlePem(block('CERTIFICATE'), 'CERTIFICATE'), Buffer.from('a certificate would be here'));
  const refused: Record<string, string> = {
    garbageInBody: block('CERTIFICATE', `${body.slice(0, 8)}!!not base64!!${body.slice(8)}`),
    twoCertificates: block('CERTIFICATE') + block('CERTIFICATE'),
    wrongLabel: block('PRIVATE KEY'),
    textAround: `Certificate:\n${block('CERTIFICATE')}`,
    endMismatch: `-----BEGIN CERTIFICATE-----\n${body}\n-----END X509 CRL-----\n`,
    unterminated: `-----BEGIN CERTIFICATE-----\n${body}\n`,
    emptyBody: block('CERTIFICATE', ''),
    badPadding: block('CERTIFICATE', `${body}=`),
  };
  for (const [name, text] of Object.entries(refused)) t.throws(() => singlePem(text, 'CERTIFICATE'), { instanceOf: PemError }, name);
  // A bundle may carry explanatory text between blocks, as openssl writes it.
  t.is(pemBlocks(`subject=C=JP\n${block('CERTIFICATE')}issuer=x\n${block('CERTIFICATE')}`, { textOutside: true }).length, 2);
});

/** A CRL from the auth CA, valid now, with the extensions `extend` gives it, signed. */
async function craftedCrl(authCa: CertificateAuthority, extend: (crl: pkijs.CertificateRevocationList) => void): Promise<Uint8Array> {
  const crl = new pkijs.CertificateRevocationList();
  crl.version = 1;
  crl.issuer = authCa.certificate.subject;
  crl.thisUpdate = new pkijs.Time({ type: 0, value: NOW });
  crl.nextUpdate = new pkijs.Time({ type: 0, value: new Date(NOW.getTime() + DAY) });
  extend(crl);
  await crl.sign(authCa.privateKey, 'SHA-256');
  return new Uint8Array(crl.toSchema(true).toBER());
}

test('crl_unsupported: a partitioned CRL (critical issuingDistributionPoint) is never read as the complete list', async (t) => {
  const { authCa } = await fixture();
  // IssuingDistributionPoint { onlyContainsUserCerts TRUE }: one partition of the CA's revocations.
  const idp = new Uint8Array([0x30, 0x03, 0x81, 0x01, 0xff]);
  const crl = await craftedCrl(authCa, (list) => {
    list.crlExtensions = new pkijs.Extensions({ extensions: [new pkijs.Extension({ extnID: '2.5.29.28', critical: true, extnValue: idp.buffer })] });
  });
  const error = await t.throwsAsync(new RevocationList([authCa.certificate]).add(crl), { instanceOf: CrlError });
  t.is(error?.code, 'crl_unsupported');
});

test('crl_unsupported: an indirect CRL (an entry\'s critical certificateIssuer) is refused; a CRL without revocations is taken', async (t) => {
  const { authCa } = await fixture();
  // CertificateIssuer: GeneralNames { dNSName "other.example" }: the entry revokes another CA's certificate.
  const otherIssuer = new Uint8Array([0x30, 0x0f, 0x82, 0x0d, ...Buffer.from('other.example')]);
  const indirect = await craftedCrl(authCa, (list) => {
    list.revokedCertificates = [new pkijs.RevokedCertificate({
      userCertificate: new asn1js.Integer({ value: 7 }), revocationDate: new pkijs.Time({ type: 0, value: NOW }),
      crlEntryExtensions: new pkijs.Extensions({ extensions: [new pkijs.Extension({ extnID: '2.5.29.29', critical: true, extnValue: otherIssuer.buffer })] }),
    })];
  });
  t.is((await t.throwsAsync(new RevocationList([authCa.certificate]).add(indirect), { instanceOf: CrlError }))?.code, 'crl_unsupported');
  const list = new RevocationList([authCa.certificate]);
  const empty = await list.add(await craftedCrl(authCa, () => undefined));
  t.is(empty.entries, 0);
  t.is(list.status(authCa.certificate, '07', NOW), 'good');
});
