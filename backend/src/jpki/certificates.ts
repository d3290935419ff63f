// Deciding whether a certificate read from a card may stand for a resident: it must be a
// JPKI user-authentication certificate (never a signing certificate, which carries name and
// address), chain to a configured anchor, be inside its validity period, carry an RSA key of
// at least 2048 bits that may sign, and not be revoked. Input is hostile: every failure is a
// stable code, and nothing here throws on bad bytes.
import { createPublicKey, verify, type KeyObject } from 'node:crypto';
import type * as asn1js from 'asn1js';
import * as pkijs from 'pkijs';
import { parseDer, serialHex } from './der.ts';
import type { RevocationStatus } from './revocation.ts';

pkijs.setEngine('node-webcrypto', new pkijs.CryptoEngine({ name: 'node-webcrypto', crypto: globalThis.crypto }));

export const MAX_CERTIFICATE_BYTES = 8 * 1024;
const MIN_RSA_BITS = 2048;
const OU = '2.5.4.11';
const KEY_USAGE = '2.5.29.15';
const BASIC_CONSTRAINTS = '2.5.29.19';
/** RFC 5280 allows serial numbers of at most 20 octets. */
const MAX_SERIAL_BYTES = 20;
/**
 * Extensions this check understands: enforced (key usage, basic constraints) or carrying no
 * constraint on the use we make of the certificate. RFC 5280 4.2: a critical extension not
 * on this list means the certificate must be refused.
 */
const KNOWN_EXTENSIONS = new Set([
  KEY_USAGE, BASIC_CONSTRAINTS,
  '2.5.29.14', // subjectKeyIdentifier
  '2.5.29.35', // authorityKeyIdentifier
  '2.5.29.17', // subjectAltName
  '2.5.29.18', // issuerAltName
  '2.5.29.31', // cRLDistributionPoints
  '2.5.29.32', // certificatePolicies (JPKI marks it critical; any policy of the anchor is accepted)
  '1.3.6.1.5.5.7.1.1', // authorityInfoAccess
]);
const RSA_ENCRYPTION = '1.2.840.113549.1.1.1';
const USER_AUTHENTICATION_OU = 'JPKI for user authentication';

export type CertificateErrorCode =
  | 'certificate_malformed' | 'certificate_wrong_type' | 'certificate_key_weak' | 'certificate_untrusted'
  | 'certificate_not_yet_valid' | 'certificate_expired' | 'certificate_revoked' | 'certificate_revocation_unknown';

export interface AcceptedCertificate {
  ok: true;
  certificate: pkijs.Certificate;
  /** Issuer DN bytes (DER) and serial (upper-case hex, no leading zero bytes): the card's identity. */
  issuerDer: Buffer;
  serialHex: string;
  notAfter: Date;
  /** False when no fresh CRL covered this issuer and the policy let the certificate through. */
  revocationChecked: boolean;
}

export interface RefusedCertificate { ok: false; code: CertificateErrorCode; detail: string }

export type Verdict = AcceptedCertificate | RefusedCertificate;

export interface VerifyOptions {
  anchors: pkijs.Certificate[];
  /** Revocation answer for a serial issued by `issuer` (the anchor that signed the certificate) at `now`. */
  revocation: (issuer: pkijs.Certificate, serialHex: string, now: Date) => RevocationStatus;
  /** Whether a certificate whose revocation cannot be checked (no CRL, or a stale one) is refused. */
  failClosed: boolean;
  now: Date;
}

const refuse = (code: CertificateErrorCode, detail: string): RefusedCertificate => ({ ok: false, code, detail });

/** Parses exactly one DER certificate; anything else (BER tricks, trailing bytes, garbage) is malformed. */
export function parseCertificate(der: Uint8Array): pkijs.Certificate | RefusedCertificate {
  if (der.length === 0 || der.length > MAX_CERTIFICATE_BYTES) return refuse('certificate_malformed', `certificate must be 1 to ${MAX_CERTIFICATE_BYTES} bytes`);
  const asn1 = parseDer(der);
  if (!asn1) return refuse('certificate_malformed', 'not a single DER structure');
  try {
    const certificate = new pkijs.Certificate({ schema: asn1 });
    // Re-encoding must give back the same bytes: only canonical DER is accepted. (This also
    // refuses what pkijs cannot represent faithfully, such as OID arcs beyond 2^53.)
    if (!Buffer.from(certificate.toSchema(true).toBER()).equals(Buffer.from(der))) return refuse('certificate_malformed', 'not canonical DER');
    return certificate;
  } catch (error) {
    return refuse('certificate_malformed', `not an X.509 certificate: ${error instanceof Error ? error.message : String(error)}`);
  }
}

function issuerUnits(certificate: pkijs.Certificate): string[] {
  return certificate.issuer.typesAndValues.filter((tv) => tv.type === OU).map((tv) => String(tv.value.valueBlock.value));
}

function unknownCriticalExtension(certificate: pkijs.Certificate): string | undefined {
  return certificate.extensions?.find((e) => e.critical && !KNOWN_EXTENSIONS.has(e.extnID))?.extnID;
}

function isCa(certificate: pkijs.Certificate): boolean {
  const constraints = certificate.extensions?.find((e) => e.extnID === BASIC_CONSTRAINTS)?.parsedValue as pkijs.BasicConstraints | undefined;
  return Boolean(constraints?.cA);
}

function allowsDigitalSignature(certificate: pkijs.Certificate): boolean {
  const extension = certificate.extensions?.find((e) => e.extnID === KEY_USAGE);
  if (!extension) return false;
  const bits = (extension.parsedValue as asn1js.BitString | undefined)?.valueBlock.valueHexView;
  return Boolean(bits && bits.length > 0 && (bits[0]! & 0x80));
}

function rsaModulusBits(certificate: pkijs.Certificate): number | undefined {
  if (certificate.subjectPublicKeyInfo.algorithm.algorithmId !== RSA_ENCRYPTION) return undefined;
  const key = certificate.subjectPublicKeyInfo.parsedKey;
  if (!(key instanceof pkijs.RSAPublicKey)) return undefined;
  const modulus = key.modulus.valueBlock.valueHexView;
  const leading = modulus.findIndex((byte) => byte !== 0);
  return leading === -1 ? 0 : (modulus.length - leading) * 8 - Math.clz32(modulus[leading]!) + 24;
}

/**
 * The hash of each signature algorithm a CA may sign a card certificate with: RSASSA-PKCS1-v1_5
 * over SHA-2 (J-LIS signs with sha256WithRSAEncryption). Any other is certificate_untrusted.
 */
const RSA_SIGNATURE_HASHES = new Map([
  ['1.2.840.113549.1.1.11', 'sha256'],
  ['1.2.840.113549.1.1.12', 'sha384'],
  ['1.2.840.113549.1.1.13', 'sha512'],
]);

interface AnchorKey { subjectDer: Buffer; key: KeyObject | undefined }

/**
 * Per anchor, worked out once: its subject as DER and its RSA key for node:crypto (undefined if
 * it has none). Re-encoding the subject and decoding the key took longer than the signature
 * check itself, at every verification (docs/benchmarks.md).
 */
const anchorKeys = new WeakMap<pkijs.Certificate, AnchorKey>();

function anchorKey(anchor: pkijs.Certificate): AnchorKey {
  let known = anchorKeys.get(anchor);
  if (!known) {
    let key: KeyObject | undefined;
    try {
      key = createPublicKey({ key: Buffer.from(anchor.subjectPublicKeyInfo.toSchema().toBER()), format: 'der', type: 'spki' });
    } catch {
      // An anchor whose key node:crypto cannot read signs nothing we accept.
    }
    known = { subjectDer: Buffer.from(anchor.subject.toSchema().toBER()), key: key?.asymmetricKeyType === 'rsa' ? key : undefined };
    anchorKeys.set(anchor, known);
  }
  return known;
}

/** Whether `key` made the certificate's signature over its TBS bytes. */
function signedWith(certificate: pkijs.Certificate, key: KeyObject): boolean {
  const hash = RSA_SIGNATURE_HASHES.get(certificate.signatureAlgorithm.algorithmId);
  if (!hash) return false;
  try {
    return verify(hash, certificate.tbsView, key, certificate.signatureValue.valueBlock.valueHexView);
  } catch {
    // A signature that cannot even be checked (wrong size) is no signature.
    return false;
  }
}

/**
 * The issuer Name's DER. parseCertificate accepted only a certificate that re-encodes to its
 * own bytes, so the bytes the Name was read from are its DER: no need to encode it again.
 */
function issuerDerOf(certificate: pkijs.Certificate): Buffer {
  return Buffer.from(certificate.issuer.valueBeforeDecode);
}

/** The anchors (by name and key) whose key signed the certificate; usually one. */
function signingAnchors(certificate: pkijs.Certificate, anchors: pkijs.Certificate[]): pkijs.Certificate[] {
  const issuer = issuerDerOf(certificate);
  return anchors.filter((anchor) => {
    const { subjectDer, key } = anchorKey(anchor);
    return issuer.equals(subjectDer) && key !== undefined && signedWith(certificate, key);
  });
}

/**
 * Everything that can be known of a certificate without a clock or a CRL. It depends only on
 * the bytes and the anchors, so a caller may keep it (CertificateVerifier does): parsing and
 * checking the CA's signature are the expensive part of a verification.
 */
export interface ExaminedCertificate {
  ok: true;
  certificate: pkijs.Certificate;
  /** The anchors whose key signed it (one, unless the same key was certified twice). */
  signers: pkijs.Certificate[];
  issuerDer: Buffer;
  serialHex: string;
}

/** The checks that need no clock, in the order that gives the most useful answer for each kind of bad input. */
export async function examineCertificate(der: Uint8Array, anchors: pkijs.Certificate[]): Promise<ExaminedCertificate | RefusedCertificate> {
  const certificate = parseCertificate(der);
  if (!(certificate instanceof pkijs.Certificate)) return certificate;
  if (certificate.serialNumber.valueBlock.valueHexView.length > MAX_SERIAL_BYTES) return refuse('certificate_malformed', `serial number longer than ${MAX_SERIAL_BYTES} octets`);
  if (!issuerUnits(certificate).includes(USER_AUTHENTICATION_OU)) {
    return refuse('certificate_wrong_type', `issuer is not "${USER_AUTHENTICATION_OU}": ${issuerUnits(certificate).join(', ') || 'no OU'}`);
  }
  const unknown = unknownCriticalExtension(certificate);
  if (unknown) return refuse('certificate_wrong_type', `unrecognised critical extension ${unknown}`);
  if (isCa(certificate)) return refuse('certificate_wrong_type', 'a CA certificate, not a card holder\'s');
  if (!allowsDigitalSignature(certificate)) return refuse('certificate_wrong_type', 'key usage does not allow digital signatures');
  const bits = rsaModulusBits(certificate);
  if (bits === undefined || bits < MIN_RSA_BITS) return refuse('certificate_key_weak', `key must be RSA of at least ${MIN_RSA_BITS} bits, got ${bits ?? 'non-RSA'}`);
  const signers = signingAnchors(certificate, anchors);
  if (signers.length === 0) return refuse('certificate_untrusted', 'not issued by a configured trust anchor');
  return { ok: true, certificate, signers, issuerDer: issuerDerOf(certificate), serialHex: serialHex(certificate.serialNumber) };
}

/** The checks at the moment of use: the anchor's and the certificate's validity, and revocation. */
export function judgeCertificate(examined: ExaminedCertificate, options: Omit<VerifyOptions, 'anchors'>): Verdict {
  const { certificate, serialHex: serial } = examined;
  const { now } = options;
  const anchor = examined.signers.find((a) => now >= a.notBefore.value && now <= a.notAfter.value);
  if (!anchor) return refuse('certificate_untrusted', 'its trust anchor is not valid at this time');
  if (now < certificate.notBefore.value) return refuse('certificate_not_yet_valid', `valid from ${certificate.notBefore.value.toISOString()}`);
  if (now > certificate.notAfter.value) return refuse('certificate_expired', `expired ${certificate.notAfter.value.toISOString()}`);
  const revocation = options.revocation(anchor, serial, now);
  if (revocation === 'revoked') return refuse('certificate_revoked', `serial ${serial} is on the issuer's CRL`);
  if (revocation !== 'good' && options.failClosed) return refuse('certificate_revocation_unknown', `revocation cannot be checked: CRL ${revocation}`);
  return { ok: true, certificate, issuerDer: examined.issuerDer, serialHex: serial, notAfter: certificate.notAfter.value, revocationChecked: revocation === 'good' };
}

/** The whole decision. */
export async function verifyUserCertificate(der: Uint8Array, options: VerifyOptions): Promise<Verdict> {
  const examined = await examineCertificate(der, options.anchors);
  return examined.ok ? judgeCertificate(examined, options) : examined;
}
