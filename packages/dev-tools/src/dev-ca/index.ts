// A development stand-in for J-LIS, the national JPKI certification authority.
// It mints certificates and CRLs with the real profile so the simulator, the reader agent
// and the backend can be tested end to end. Never trust these certificates in production.
//
// Built on pkijs over Node's WebCrypto (globalThis.crypto) because the backend verifies
// with pkijs too: what is minted here parses the same way there.
import * as asn1js from 'asn1js';
import * as pkijs from 'pkijs';
import { DEVELOPMENT_CA_MARK_OID, DEVELOPMENT_CA_MARK_TEXT } from '@mykey/contracts/development-ca.ts';

pkijs.setEngine('node-webcrypto', new pkijs.CryptoEngine({ name: 'node-webcrypto', crypto: globalThis.crypto }));

/** The two JPKI hierarchies: user authentication (利用者証明用) and digital signature (署名用). */
export type CaKind = 'auth' | 'sign';

export const JLIS_OU = 'Japan Agency for Local Authority Information Systems';
export const AUTH_CA_OU = 'JPKI for user authentication';
export const SIGN_CA_OU = 'JPKI for digital signature';

const OID = {
  country: '2.5.4.6',
  organization: '2.5.4.10',
  organizationalUnit: '2.5.4.11',
  commonName: '2.5.4.3',
  locality: '2.5.4.7',
  keyUsage: '2.5.29.15',
  basicConstraints: '2.5.29.19',
  subjectKeyIdentifier: '2.5.29.14',
  authorityKeyIdentifier: '2.5.29.35',
  crlDistributionPoints: '2.5.29.31',
  crlNumber: '2.5.29.20',
  crlReason: '2.5.29.21',
} as const;

const RSA_ALGORITHM: RsaHashedKeyGenParams = {
  name: 'RSASSA-PKCS1-v1_5',
  modulusLength: 2048,
  publicExponent: new Uint8Array([0x01, 0x00, 0x01]),
  hash: 'SHA-256',
};

/** A certificate together with its private key: what a CA and a card both hold. */
interface CertificateWithKey {
  kind: CaKind;
  certificate: pkijs.Certificate;
  certificateDer: Buffer;
  certificatePem: string;
  privateKey: CryptoKey;
  /** PKCS#8 PEM ("PRIVATE KEY"). */
  privateKeyPem: string;
}

export interface CertificateAuthority extends CertificateWithKey {
  keyIdentifier: Uint8Array;
}

export interface IssuedCertificate extends CertificateWithKey {
  /** Upper-case hex, without leading zero bytes. */
  serialNumberHex: string;
  commonName: string;
  notBefore: Date;
  notAfter: Date;
}

export interface CaOptions {
  kind?: CaKind;
  notBefore?: Date;
  notAfter?: Date;
  serialNumberHex?: string;
}

export interface CertificateOptions {
  /** Subject CN; a fresh opaque 23-character string when absent, like the real cards. */
  commonName?: string;
  serialNumberHex?: string;
  notBefore?: Date;
  notAfter?: Date;
  /** URL of a CRL distribution point; the extension is left out when absent. */
  crlDistributionPoint?: string;
  /** The card's key pair; a fresh one when absent. Given, many certificates can share a few keys (benchmarks: RSA key generation is slow). */
  keys?: CryptoKeyPair;
}

/** RFC 5280 CRLReason values the platform cares about. */
export type RevocationReason = 'unspecified' | 'keyCompromise' | 'affiliationChanged' | 'superseded' | 'cessationOfOperation';

const REASON_CODES: Record<RevocationReason, number> = {
  unspecified: 0,
  keyCompromise: 1,
  affiliationChanged: 3,
  superseded: 4,
  cessationOfOperation: 5,
};

export interface RevokedEntry {
  serialNumberHex: string;
  revocationDate?: Date;
  reason?: RevocationReason;
}

export interface CrlOptions {
  revoked: RevokedEntry[];
  thisUpdate?: Date;
  nextUpdate?: Date;
  crlNumber?: number;
}

export interface IssuedCrl {
  der: Buffer;
  pem: string;
  thisUpdate: Date;
  nextUpdate: Date;
}

/** The issuer names of the real JPKI CAs. */
export function caSubject(kind: CaKind): Array<[string, string]> {
  return [
    ['C', 'JP'],
    ['O', 'JPKI'],
    ['OU', kind === 'auth' ? AUTH_CA_OU : SIGN_CA_OU],
    ['OU', JLIS_OU],
  ];
}

/** A self-signed CA: the dev stand-in for one of the two J-LIS CAs. */
export async function createCa(options: CaOptions = {}): Promise<CertificateAuthority> {
  const kind = options.kind ?? 'auth';
  const keys = await generateKeyPair();
  const notBefore = options.notBefore ?? minutesAgo(1);
  const cert = await baseCertificate({
    serialNumberHex: options.serialNumberHex ?? randomSerialHex(),
    issuer: caSubject(kind),
    subject: caSubject(kind),
    notBefore,
    notAfter: options.notAfter ?? addYears(notBefore, 10),
    publicKey: keys.publicKey,
  });
  const keyIdentifier = await subjectKeyIdentifier(cert);
  cert.extensions = [
    extension(OID.basicConstraints, true, new pkijs.BasicConstraints({ cA: true }).toSchema()),
    extension(OID.keyUsage, true, keyUsageBits(['keyCertSign', 'cRLSign'])),
    extension(OID.subjectKeyIdentifier, false, new asn1js.OctetString({ valueHex: keyIdentifier })),
    // Names like J-LIS's, so this mark alone tells production it is a development CA.
    extension(DEVELOPMENT_CA_MARK_OID, false, new asn1js.IA5String({ value: DEVELOPMENT_CA_MARK_TEXT })),
  ];
  await cert.sign(keys.privateKey, 'SHA-256');
  const der = Buffer.from(cert.toSchema().toBER(false));
  return {
    kind,
    certificate: cert,
    certificateDer: der,
    certificatePem: toPem('CERTIFICATE', der),
    privateKey: keys.privateKey,
    privateKeyPem: await privateKeyPem(keys.privateKey),
    keyIdentifier,
  };
}

/** Loads a CA minted earlier (PEM certificate and PKCS#8 key); its kind comes from its OU. */
export async function loadCa(certificatePem: string, privateKeyPem: string): Promise<CertificateAuthority> {
  const der = fromPem(certificatePem);
  const cert = pkijs.Certificate.fromBER(new Uint8Array(der));
  const privateKey = await globalThis.crypto.subtle.importKey('pkcs8', new Uint8Array(fromPem(privateKeyPem)), RSA_ALGORITHM, true, ['sign']);
  const ous = nameValues(cert.subject, OID.organizationalUnit);
  return {
    kind: ous.includes(SIGN_CA_OU) ? 'sign' : 'auth',
    certificate: cert,
    certificateDer: der,
    certificatePem: toPem('CERTIFICATE', der),
    privateKey,
    privateKeyPem: toPem('PRIVATE KEY', fromPem(privateKeyPem)),
    keyIdentifier: await subjectKeyIdentifier(cert),
  };
}

/**
 * A card holder's certificate with the profile of the CA's kind: a user-authentication
 * certificate from an auth CA (subject C=JP, CN=opaque; keyUsage digitalSignature), a
 * signing certificate from a sign CA (keyUsage digitalSignature + nonRepudiation).
 */
export async function issueCertificate(ca: CertificateAuthority, options: CertificateOptions = {}): Promise<IssuedCertificate> {
  const keys = options.keys ?? (await generateKeyPair());
  const commonName = options.commonName ?? opaqueCommonName();
  const notBefore = options.notBefore ?? minutesAgo(1);
  const notAfter = options.notAfter ?? addYears(notBefore, 5);
  const serialNumberHex = normaliseSerialHex(options.serialNumberHex ?? randomSerialHex());
  const cert = await baseCertificate({
    serialNumberHex,
    issuer: caSubject(ca.kind),
    subject: holderSubject(ca.kind, commonName),
    notBefore,
    notAfter,
    publicKey: keys.publicKey,
  });
  cert.issuer = cloneName(ca.certificate.subject);
  cert.extensions = await holderExtensions(ca, cert, options.crlDistributionPoint);
  await cert.sign(ca.privateKey, 'SHA-256');
  const der = Buffer.from(cert.toSchema().toBER(false));
  return {
    kind: ca.kind,
    certificate: cert,
    certificateDer: der,
    certificatePem: toPem('CERTIFICATE', der),
    privateKey: keys.privateKey,
    privateKeyPem: await privateKeyPem(keys.privateKey),
    serialNumberHex,
    commonName,
    notBefore,
    notAfter,
  };
}

/** A CRL signed by the CA, listing the given serial numbers. */
export async function issueCrl(ca: CertificateAuthority, options: CrlOptions): Promise<IssuedCrl> {
  const thisUpdate = options.thisUpdate ?? minutesAgo(1);
  const nextUpdate = options.nextUpdate ?? new Date(thisUpdate.getTime() + 24 * 3600 * 1000);
  const crl = new pkijs.CertificateRevocationList();
  crl.version = 1;
  crl.issuer = cloneName(ca.certificate.subject);
  crl.thisUpdate = asn1Time(thisUpdate);
  crl.nextUpdate = asn1Time(nextUpdate);
  // An empty revokedCertificates SEQUENCE is not allowed; the field is simply absent then.
  if (options.revoked.length > 0) crl.revokedCertificates = options.revoked.map((r) => revokedEntry(r, thisUpdate));
  crl.crlExtensions = new pkijs.Extensions({
    extensions: [
      authorityKeyIdentifierExtension(ca),
      extension(OID.crlNumber, false, new asn1js.Integer({ value: options.crlNumber ?? 1 })),
    ],
  });
  await crl.sign(ca.privateKey, 'SHA-256');
  const der = Buffer.from(crl.toSchema(true).toBER(false));
  return { der, pem: toPem('X509 CRL', der), thisUpdate, nextUpdate };
}

export function toPem(label: string, der: Uint8Array): string {
  const body = Buffer.from(der).toString('base64').replace(/(.{64})/g, '$1\n').replace(/\n$/, '');
  return `-----BEGIN ${label}-----\n${body}\n-----END ${label}-----\n`;
}

/** The DER inside the first PEM block of the text. */
export function fromPem(pem: string): Buffer {
  const match = /-----BEGIN [^-]+-----([\s\S]*?)-----END [^-]+-----/.exec(pem);
  if (!match) throw new Error('no PEM block found');
  return Buffer.from(match[1]!.replace(/\s+/g, ''), 'base64');
}

/** Upper-case hex without leading zero bytes, the way serials are compared everywhere. */
export function normaliseSerialHex(hex: string): string {
  const clean = hex.replace(/[\s:]/g, '').toUpperCase();
  if (!/^[0-9A-F]+$/.test(clean)) throw new Error(`not a hex serial number: ${hex}`);
  const even = clean.length % 2 ? `0${clean}` : clean;
  const stripped = even.replace(/^(00)+/, '');
  return stripped === '' ? '00' : stripped;
}

/** About 23 opaque characters, like the CN of a real user-authentication certificate. */
export function opaqueCommonName(): string {
  const alphabet = '0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ';
  const bytes = globalThis.crypto.getRandomValues(new Uint8Array(23));
  return Array.from(bytes, (b) => alphabet[b % alphabet.length]).join('');
}

interface BaseCertificateFields {
  serialNumberHex: string;
  issuer: Array<[string, string]>;
  subject: Array<[string, string]>;
  notBefore: Date;
  notAfter: Date;
  publicKey: CryptoKey;
}

async function baseCertificate(f: BaseCertificateFields): Promise<pkijs.Certificate> {
  const cert = new pkijs.Certificate();
  cert.version = 2;
  cert.serialNumber = serialInteger(f.serialNumberHex);
  cert.issuer = buildName(f.issuer);
  cert.subject = buildName(f.subject);
  cert.notBefore = asn1Time(f.notBefore);
  cert.notAfter = asn1Time(f.notAfter);
  await cert.subjectPublicKeyInfo.importKey(f.publicKey);
  return cert;
}

async function holderExtensions(ca: CertificateAuthority, cert: pkijs.Certificate, crlUrl?: string): Promise<pkijs.Extension[]> {
  const usage = ca.kind === 'auth' ? ['digitalSignature'] : ['digitalSignature', 'nonRepudiation'];
  const list = [
    extension(OID.keyUsage, true, keyUsageBits(usage)),
    authorityKeyIdentifierExtension(ca),
    extension(OID.subjectKeyIdentifier, false, new asn1js.OctetString({ valueHex: await subjectKeyIdentifier(cert) })),
  ];
  if (crlUrl) list.push(crlDistributionPointExtension(crlUrl));
  return list;
}

function holderSubject(kind: CaKind, commonName: string): Array<[string, string]> {
  // The signing certificate also names the holder's municipality; the auth one names nobody.
  if (kind === 'sign') return [['C', 'JP'], ['L', 'Tokyo-to'], ['L', 'Chiyoda-ku'], ['CN', commonName]];
  return [['C', 'JP'], ['CN', commonName]];
}

const NAME_OIDS: Record<string, string> = {
  C: OID.country,
  O: OID.organization,
  OU: OID.organizationalUnit,
  CN: OID.commonName,
  L: OID.locality,
};

/**
 * One attribute per RDN, as real certificates are encoded. pkijs would put all attributes
 * into a single multi-valued RDN ("C=JP + O=JPKI"), so the Name is encoded by hand and
 * parsed back, which makes pkijs keep these exact bytes.
 */
function buildName(parts: Array<[string, string]>): pkijs.RelativeDistinguishedNames {
  const rdns = parts.map(([key, value]) => {
    const atv = new pkijs.AttributeTypeAndValue({ type: NAME_OIDS[key]!, value: directoryString(value) });
    return new asn1js.Set({ value: [atv.toSchema()] });
  });
  return pkijs.RelativeDistinguishedNames.fromBER(new asn1js.Sequence({ value: rdns }).toBER(false));
}

function directoryString(value: string): asn1js.PrintableString | asn1js.Utf8String {
  return /^[A-Za-z0-9 '()+,\-./:=?]*$/.test(value) ? new asn1js.PrintableString({ value }) : new asn1js.Utf8String({ value });
}

function cloneName(name: pkijs.RelativeDistinguishedNames): pkijs.RelativeDistinguishedNames {
  return pkijs.RelativeDistinguishedNames.fromBER(name.toSchema().toBER(false));
}

function nameValues(name: pkijs.RelativeDistinguishedNames, oid: string): string[] {
  return name.typesAndValues.filter((tv) => tv.type === oid).map((tv) => String(tv.value.valueBlock.value));
}

function extension(extnID: string, critical: boolean, value: { toBER(sizeOnly?: boolean): ArrayBuffer }): pkijs.Extension {
  return new pkijs.Extension({ extnID, critical, extnValue: value.toBER(false) });
}

const KEY_USAGE_BITS: Record<string, number> = {
  digitalSignature: 0,
  nonRepudiation: 1,
  keyCertSign: 5,
  cRLSign: 6,
};

/** KeyUsage as a DER BIT STRING with the trailing zero bits declared unused. */
function keyUsageBits(names: string[]): asn1js.BitString {
  const bits = names.map((n) => KEY_USAGE_BITS[n]!);
  let byte = 0;
  for (const bit of bits) byte |= 0x80 >> bit;
  const unusedBits = 7 - Math.max(...bits);
  return new asn1js.BitString({ valueHex: new Uint8Array([byte]), unusedBits });
}

function authorityKeyIdentifierExtension(ca: CertificateAuthority): pkijs.Extension {
  const aki = new pkijs.AuthorityKeyIdentifier({ keyIdentifier: new asn1js.OctetString({ valueHex: ca.keyIdentifier }) });
  return extension(OID.authorityKeyIdentifier, false, aki.toSchema());
}

function crlDistributionPointExtension(url: string): pkijs.Extension {
  const point = new pkijs.DistributionPoint({ distributionPoint: [new pkijs.GeneralName({ type: 6, value: url })] });
  return extension(OID.crlDistributionPoints, false, new pkijs.CRLDistributionPoints({ distributionPoints: [point] }).toSchema());
}

function revokedEntry(entry: RevokedEntry, fallbackDate: Date): pkijs.RevokedCertificate {
  const revoked = new pkijs.RevokedCertificate({
    userCertificate: serialInteger(entry.serialNumberHex),
    revocationDate: asn1Time(entry.revocationDate ?? fallbackDate),
  });
  if (entry.reason) {
    const reason = new asn1js.Enumerated({ value: REASON_CODES[entry.reason] });
    revoked.crlEntryExtensions = new pkijs.Extensions({ extensions: [extension(OID.crlReason, false, reason)] });
  }
  return revoked;
}

/** RFC 5280: UTCTime through 2049, GeneralizedTime from 2050. */
function asn1Time(date: Date): pkijs.Time {
  return new pkijs.Time({ type: date.getUTCFullYear() >= 2050 ? 1 : 0, value: date });
}

/** SHA-1 of the subjectPublicKey bits (RFC 5280 method 1), as real CAs compute it. */
async function subjectKeyIdentifier(cert: pkijs.Certificate): Promise<Uint8Array> {
  const spk = cert.subjectPublicKeyInfo.subjectPublicKey.valueBlock.valueHexView;
  return new Uint8Array(await globalThis.crypto.subtle.digest('SHA-1', new Uint8Array(spk)));
}

function serialInteger(hex: string): asn1js.Integer {
  const bytes = Buffer.from(normaliseSerialHex(hex), 'hex');
  // A set top bit would read as negative; DER then needs a leading zero byte.
  const positive = bytes[0]! & 0x80 ? Buffer.concat([Buffer.from([0]), bytes]) : bytes;
  return new asn1js.Integer({ valueHex: new Uint8Array(positive) });
}

function randomSerialHex(): string {
  const bytes = globalThis.crypto.getRandomValues(new Uint8Array(8));
  bytes[0] = (bytes[0]! & 0x7f) | 0x10;
  return Buffer.from(bytes).toString('hex').toUpperCase();
}

/** An RSA-2048 key pair as a card holds one. */
export async function generateKeyPair(): Promise<CryptoKeyPair> {
  return globalThis.crypto.subtle.generateKey(RSA_ALGORITHM, true, ['sign', 'verify']);
}

async function privateKeyPem(key: CryptoKey): Promise<string> {
  return toPem('PRIVATE KEY', new Uint8Array(await globalThis.crypto.subtle.exportKey('pkcs8', key)));
}

function minutesAgo(minutes: number): Date {
  return new Date(Math.floor(Date.now() / 1000) * 1000 - minutes * 60 * 1000);
}

function addYears(date: Date, years: number): Date {
  const later = new Date(date.getTime());
  later.setUTCFullYear(later.getUTCFullYear() + years);
  return later;
}
