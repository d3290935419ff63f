// The development CA: certificates with the real JPKI profile, checked the way the backend
// will check them (pkijs) and by an independent implementation (node:crypto, openssl).
import test from 'ava';
import { execFile } from 'node:child_process';
import { createPrivateKey, X509Certificate } from 'node:crypto';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as pkijs from 'pkijs';
import { ensureDebianPackages } from '../src/debian.mjs';
import { rootDir } from '../src/paths.ts';
import {
  createCa,
  fromPem,
  generateKeyPair,
  issueCertificate,
  issueCrl,
  loadCa,
  type CertificateAuthority,
} from '../src/dev-ca/index.ts';

const AUTH_ISSUER = 'C=JP\nO=JPKI\nOU=JPKI for user authentication\nOU=Japan Agency for Local Authority Information Systems';
const SHA256_WITH_RSA = '1.2.840.113549.1.1.11';

let authCa: CertificateAuthority;
let signCa: CertificateAuthority;

test.before(async () => {
  ensureDebianPackages([{ pkg: 'openssl', provides: 'openssl' }]);
  [authCa, signCa] = await Promise.all([createCa({ kind: 'auth' }), createCa({ kind: 'sign' })]);
});

function run(command: string, args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((done) => {
    execFile(command, args, { cwd: rootDir, encoding: 'utf8' }, (error, stdout, stderr) => {
      done({ code: error ? (typeof error.code === 'number' ? error.code : 1) : 0, stdout, stderr });
    });
  });
}

function extension(cert: pkijs.Certificate, oid: string): pkijs.Extension | undefined {
  return cert.extensions?.find((e) => e.extnID === oid);
}

async function chainIsValid(leaf: pkijs.Certificate, ca: CertificateAuthority, crls: pkijs.CertificateRevocationList[] = []): Promise<boolean> {
  const engine = new pkijs.CertificateChainValidationEngine({ trustedCerts: [ca.certificate], certs: [leaf], crls });
  return (await engine.verify()).result;
}

function tempDir(): string {
  return mkdtempSync(join(tmpdir(), 'dev-ca-'));
}

test('the CA is self-signed with the real J-LIS subject, a CA key usage and a key identifier', async (t) => {
  const x509 = new X509Certificate(authCa.certificatePem);
  t.is(x509.subject, AUTH_ISSUER);
  t.is(x509.issuer, AUTH_ISSUER);
  t.true(x509.ca);
  t.true(x509.verify(x509.publicKey));
  t.true(await authCa.certificate.verify());
  t.true(extension(authCa.certificate, '2.5.29.15')?.critical);
  t.regex(new X509Certificate(signCa.certificatePem).subject, /OU=JPKI for digital signature/);
});

test('a user-authentication certificate has the real profile', async (t) => {
  const issued = await issueCertificate(authCa);
  const x509 = new X509Certificate(issued.certificatePem);
  t.is(x509.issuer, AUTH_ISSUER);
  t.regex(x509.subject, /^C=JP\nCN=[0-9A-Z]{23}$/);
  t.is(x509.subject, `C=JP\nCN=${issued.commonName}`);
  t.is(x509.publicKey.asymmetricKeyDetails?.modulusLength, 2048);
  t.is(x509.publicKey.asymmetricKeyDetails?.publicExponent, 65537n);
  t.false(x509.ca);
  t.true(x509.verify(new X509Certificate(authCa.certificatePem).publicKey));
  const cert = issued.certificate;
  t.is(cert.signatureAlgorithm.algorithmId, SHA256_WITH_RSA);
  const years = (issued.notAfter.getTime() - issued.notBefore.getTime()) / (365.25 * 24 * 3600 * 1000);
  t.true(years > 4.99 && years < 5.01, `validity ${years} years`);
  const keyUsage = extension(cert, '2.5.29.15');
  t.true(keyUsage?.critical);
  t.deepEqual(keyUsage?.extnValue.valueBlock.valueHexView, new Uint8Array([0x03, 0x02, 0x07, 0x80]), 'digitalSignature only');
  const aki = extension(cert, '2.5.29.35')?.parsedValue as pkijs.AuthorityKeyIdentifier;
  t.deepEqual(aki.keyIdentifier?.valueBlock.valueHexView, authCa.keyIdentifier);
  t.truthy(extension(cert, '2.5.29.14'));
  t.is(extension(cert, '2.5.29.31'), undefined, 'no CRL distribution point unless asked');
  t.true(await chainIsValid(cert, authCa));
  t.is(x509.serialNumber.replace(/^0+/, ''), issued.serialNumberHex.replace(/^0+/, ''));
});

test('options: CN, serial, CRL distribution point, and the PKCS#8 key matches the certificate', async (t) => {
  const issued = await issueCertificate(authCa, { commonName: 'ABCDEFGHIJKLMNOPQRSTUVW', serialNumberHex: '00:ff', crlDistributionPoint: 'http://crl.example.test/auth.crl' });
  t.is(issued.serialNumberHex, 'FF');
  t.deepEqual(issued.certificate.serialNumber.valueBlock.valueHexView, new Uint8Array([0x00, 0xff]), 'positive DER integer');
  const x509 = new X509Certificate(issued.certificatePem);
  t.is(x509.subject, 'C=JP\nCN=ABCDEFGHIJKLMNOPQRSTUVW');
  t.truthy(extension(issued.certificate, '2.5.29.31'));
  t.regex(issued.privateKeyPem, /^-----BEGIN PRIVATE KEY-----/);
  t.true(x509.checkPrivateKey(createPrivateKey(issued.privateKeyPem)));
});

test('a given key pair is used: two certificates, one key, each still its own serial and signed by the CA', async (t) => {
  const keys = await generateKeyPair();
  const [one, two] = await Promise.all([issueCertificate(authCa, { keys }), issueCertificate(authCa, { keys })]);
  const [x1, x2] = [new X509Certificate(one!.certificatePem), new X509Certificate(two!.certificatePem)];
  t.true(x1.publicKey.equals(x2.publicKey));
  t.not(one!.serialNumberHex, two!.serialNumberHex);
  t.true(x1.checkPrivateKey(createPrivateKey(two!.privateKeyPem)));
  t.true(x2.verify(new X509Certificate(authCa.certificatePem).publicKey));
  const fresh = new X509Certificate((await issueCertificate(authCa)).certificatePem);
  t.false(fresh.publicKey.equals(x1.publicKey), 'without keys, a fresh pair');
});

test('expired and not-yet-valid certificates fail validation at the current date', async (t) => {
  const year = 365 * 24 * 3600 * 1000;
  const expired = await issueCertificate(authCa, { notBefore: new Date(Date.now() - 6 * year), notAfter: new Date(Date.now() - year) });
  const early = await issueCertificate(authCa, { notBefore: new Date(Date.now() + year) });
  t.false(await chainIsValid(expired.certificate, authCa));
  t.false(await chainIsValid(early.certificate, authCa));
  t.true(new Date(new X509Certificate(expired.certificatePem).validTo) < new Date());
  t.true(new Date(new X509Certificate(early.certificatePem).validFrom) > new Date());
});

test('a signing certificate comes from the separate signing CA and is not a user-authentication one', async (t) => {
  const signer = await issueCertificate(signCa);
  const x509 = new X509Certificate(signer.certificatePem);
  t.regex(x509.issuer, /OU=JPKI for digital signature/);
  t.deepEqual(extension(signer.certificate, '2.5.29.15')?.extnValue.valueBlock.valueHexView, new Uint8Array([0x03, 0x02, 0x06, 0xc0]), 'digitalSignature + nonRepudiation');
  t.true(await chainIsValid(signer.certificate, signCa));
  t.false(await chainIsValid(signer.certificate, authCa), 'the auth CA must not accept it');
});

test('a CRL lists the given serials, is signed by the CA and has this/next update', async (t) => {
  const revoked = await issueCertificate(authCa);
  const good = await issueCertificate(authCa);
  const thisUpdate = new Date(Math.floor(Date.now() / 1000) * 1000 - 60_000);
  const nextUpdate = new Date(thisUpdate.getTime() + 7 * 24 * 3600 * 1000);
  const crl = await issueCrl(authCa, { revoked: [{ serialNumberHex: revoked.serialNumberHex, reason: 'superseded' }], thisUpdate, nextUpdate, crlNumber: 7 });
  const parsed = pkijs.CertificateRevocationList.fromBER(new Uint8Array(crl.der));
  t.true(await parsed.verify({ issuerCertificate: authCa.certificate }));
  t.false(await parsed.verify({ issuerCertificate: signCa.certificate }));
  t.deepEqual(parsed.thisUpdate.value, thisUpdate);
  t.deepEqual(parsed.nextUpdate?.value, nextUpdate);
  t.true(parsed.isCertificateRevoked(revoked.certificate));
  t.false(parsed.isCertificateRevoked(good.certificate));
  t.false(await chainIsValid(revoked.certificate, authCa, [parsed]));
  t.true(await chainIsValid(good.certificate, authCa, [parsed]));
});

test('openssl agrees: chain and CRL checks of what the dev CA mints', async (t) => {
  const dir = tempDir();
  const revoked = await issueCertificate(authCa);
  const good = await issueCertificate(authCa);
  const crl = await issueCrl(authCa, { revoked: [{ serialNumberHex: revoked.serialNumberHex }] });
  const path = (name: string, text: string): string => (writeFileSync(join(dir, name), text), join(dir, name));
  const ca = path('ca.pem', authCa.certificatePem);
  const crlFile = path('crl.pem', crl.pem);
  const goodCheck = await run('openssl', ['verify', '-crl_check', '-CAfile', ca, '-CRLfile', crlFile, path('good.pem', good.certificatePem)]);
  t.is(goodCheck.code, 0, goodCheck.stderr);
  const revokedCheck = await run('openssl', ['verify', '-crl_check', '-CAfile', ca, '-CRLfile', crlFile, path('revoked.pem', revoked.certificatePem)]);
  t.not(revokedCheck.code, 0);
  t.regex(revokedCheck.stdout + revokedCheck.stderr, /certificate revoked/);
});

test('an empty CRL omits revokedCertificates and still verifies', async (t) => {
  const crl = await issueCrl(authCa, { revoked: [] });
  const parsed = pkijs.CertificateRevocationList.fromBER(new Uint8Array(crl.der));
  t.is(parsed.revokedCertificates, undefined);
  t.true(await parsed.verify({ issuerCertificate: authCa.certificate }));
});

test('loadCa reads a CA back from PEM and keeps issuing under it', async (t) => {
  const loaded = await loadCa(signCa.certificatePem, signCa.privateKeyPem);
  t.is(loaded.kind, 'sign');
  t.deepEqual(loaded.keyIdentifier, signCa.keyIdentifier);
  const issued = await issueCertificate(loaded);
  t.true(await chainIsValid(issued.certificate, signCa));
});

test('the test-ca CLI: dev-set, cert --expired, crl --revoke, and --help', async (t) => {
  const dir = tempDir();
  const cli = ['--import', 'tsx', 'packages/dev-tools/src/dev-ca/cli.ts'];
  const devSet = await run(process.execPath, [...cli, 'dev-set', '--out', dir]);
  t.is(devSet.code, 0, devSet.stderr);
  const summary = JSON.parse(devSet.stdout);
  const caPem = readFileSync(join(dir, 'auth-ca.pem'), 'utf8');
  t.is(new X509Certificate(caPem).subject, AUTH_ISSUER);
  t.true(new Date(new X509Certificate(readFileSync(join(dir, 'user-expired.pem'))).validTo) < new Date());
  t.deepEqual(summary.crl.revoked, [summary.revoked.serialNumber]);
  const ca = ['--ca', join(dir, 'auth-ca.pem'), '--ca-key', join(dir, 'auth-ca.key.pem'), '--out', dir];
  const cert = await run(process.execPath, [...cli, 'cert', ...ca, '--name', 'old', '--serial', '0ABC', '--expired']);
  t.is(cert.code, 0, cert.stderr);
  t.is(JSON.parse(cert.stdout).serialNumber, '0ABC');
  const crl = await run(process.execPath, [...cli, 'crl', ...ca, '--revoke', '0ABC:keyCompromise', '--next-update', '2030-01-01T00:00:00Z']);
  t.is(crl.code, 0, crl.stderr);
  const parsed = pkijs.CertificateRevocationList.fromBER(new Uint8Array(fromPem(readFileSync(join(dir, 'crl.pem'), 'utf8'))));
  t.is(parsed.revokedCertificates?.length, 1);
  t.deepEqual(parsed.nextUpdate?.value, new Date('2030-01-01T00:00:00Z'));
  const help = await run(process.execPath, [...cli, '--help']);
  t.regex(help.stdout, /Usage: npm run test-ca/);
  const bad = await run(process.execPath, [...cli, 'cert', '--out', dir]);
  t.not(bad.code, 0);
  t.regex(bad.stderr, /--ca and --ca-key are required/);
});
