// A card's identity — the issuer Name's DER and the serial — is what its MyKey ID and its
// revocation are keyed by. Certificates are now read with node:crypto and a DER header walk;
// before, pkijs parsed them whole. These tests compute the values as the pkijs parse gave them
// and require the new path to give the same bytes, or every resident's MyKey ID would change.
import test from 'ava';
import * as asn1js from 'asn1js';
import * as pkijs from 'pkijs';
import { createCa, issueCertificate, issueCrl, toPem, type CertificateAuthority } from '@mykey/dev-tools/dev-ca/index.ts';
import { mintCustom } from './helpers/jpki.ts';
import { examineCertificate, judgeCertificate } from '../src/jpki/certificates.ts';
import { caKey, RevocationList } from '../src/jpki/revocation.ts';
import { certificateKey, mykeyIdCandidate } from '../src/mykey/id.ts';

const SECRET = Buffer.alloc(32, 7);

/** Issuer DER and serial as the pkijs parse gave them (the issuer re-encoded, as card-proof.ts did). */
function pkijsIdentity(der: Uint8Array): { issuerDer: Buffer; serialHex: string } {
  const certificate = pkijs.Certificate.fromBER(new Uint8Array(der));
  return {
    issuerDer: Buffer.from(certificate.issuer.toSchema().toBER()),
    serialHex: Buffer.from(certificate.serialNumber.valueBlock.valueHexView).toString('hex').toUpperCase().replace(/^(00)+(?=.)/, ''),
  };
}

/**
 * The CA with its own Name re-encoded — UTF8String and BMPString values where the development CA
 * writes PrintableString — and its certificate signed anew: the same name as text, other bytes.
 */
async function reencodedCa(ca: CertificateAuthority): Promise<CertificateAuthority> {
  const rdns = ca.certificate.subject.typesAndValues.map(({ type, value }, i) => {
    const text = String(value.valueBlock.value);
    const encoded = i % 2 === 0 ? new asn1js.Utf8String({ value: text }) : new asn1js.BmpString({ value: text });
    return new asn1js.Set({ value: [new asn1js.Sequence({ value: [new asn1js.ObjectIdentifier({ value: type }), encoded] })] });
  });
  const name = pkijs.RelativeDistinguishedNames.fromBER(new asn1js.Sequence({ value: rdns }).toBER());
  const certificate = pkijs.Certificate.fromBER(new Uint8Array(ca.certificateDer));
  certificate.subject = name;
  certificate.issuer = name;
  await certificate.sign(ca.privateKey, 'SHA-256');
  const der = Buffer.from(certificate.toSchema(true).toBER());
  return { ...ca, certificate: pkijs.Certificate.fromBER(new Uint8Array(der)), certificateDer: der, certificatePem: toPem('CERTIFICATE', der) };
}

test('issuer DER, serial, MyKey ID and revocation keys are those the pkijs parse gave, for every kind of serial and issuer encoding', async (t) => {
  const ca = await createCa({ kind: 'auth' });
  const utf8 = await reencodedCa(ca);
  t.notDeepEqual(Buffer.from(utf8.certificate.subject.toSchema().toBER()), Buffer.from(ca.certificate.subject.toSchema().toBER()), 'the re-encoded Name has other bytes');
  const cards: Array<[string, CertificateAuthority, Uint8Array]> = [
    ['random serial', ca, (await issueCertificate(ca)).certificateDer],
    ['random serial', ca, (await issueCertificate(ca)).certificateDer],
    ['serial 01', ca, (await issueCertificate(ca, { serialNumberHex: '01' })).certificateDer],
    ['serial with its high bit set (a leading 00 octet)', ca, (await issueCertificate(ca, { serialNumberHex: 'C0FFEE' })).certificateDer],
    ['serial of 20 octets', ca, (await issueCertificate(ca, { serialNumberHex: '7F' + 'AB'.repeat(19) })).certificateDer],
    ['serial 0', ca, await mintCustom(ca, { serial: new Uint8Array([0]) })],
    ['negative serial', ca, await mintCustom(ca, { serial: new Uint8Array([0x85, 0x01]) })],
    ['UTF8String and BMPString issuer', utf8, (await issueCertificate(utf8)).certificateDer],
    ['UTF8String and BMPString issuer, serial 00 80', utf8, (await issueCertificate(utf8, { serialNumberHex: '80' })).certificateDer],
  ];
  const now = new Date();
  for (const [name, anchor, der] of cards) {
    const expected = pkijsIdentity(der);
    const examined = await examineCertificate(der, [anchor.certificate]);
    if (!examined.ok) {
      t.fail(`${name}: ${examined.code} ${examined.detail}`);
      continue;
    }
    t.deepEqual(examined.issuerDer, expected.issuerDer, name);
    t.deepEqual(examined.issuerDer, Buffer.from(pkijs.Certificate.fromBER(new Uint8Array(der)).issuer.valueBeforeDecode), `${name}: the bytes the certificate carries`);
    t.is(examined.serialHex, expected.serialHex, name);
    t.is(mykeyIdCandidate(SECRET, examined.issuerDer, examined.serialHex, 0), mykeyIdCandidate(SECRET, expected.issuerDer, expected.serialHex, 0), name);
    t.deepEqual(certificateKey(SECRET, examined.issuerDer, examined.serialHex), certificateKey(SECRET, expected.issuerDer, expected.serialHex), name);
    // Revocation is looked up by the signing anchor's key and the serial: a CRL of that anchor
    // listing the serial as pkijs read it must revoke this certificate.
    t.deepEqual(examined.signers.map((signer) => caKey(signer)), [caKey(anchor.certificate)], name);
    const list = new RevocationList([anchor.certificate]);
    await list.add((await issueCrl(anchor, { revoked: [{ serialNumberHex: expected.serialHex }] })).der);
    const verdict = judgeCertificate(examined, { revocation: (issuer, serial, at) => list.status(issuer, serial, at), failClosed: true, now });
    t.like(verdict, { ok: false, code: 'certificate_revoked' }, name);
  }
});
