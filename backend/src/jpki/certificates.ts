// Deciding whether a certificate read from a card may stand for a resident: it must be a
// JPKI user-authentication certificate (never a signing certificate, which carries name and
// address), chain to a configured anchor, be inside its validity period, carry an RSA key of
// at least 2048 bits that may sign, and not be revoked. Input is hostile: every failure is a
// stable code, and nothing here throws on bad bytes. A card's certificate is read with
// node:crypto's X509Certificate and a walk over its DER headers, not parsed whole with pkijs
// (docs/identity.md, "Reading a card's certificate"); the trust anchors are pkijs certificates.
import { createPublicKey, verify, X509Certificate, type KeyObject } from 'node:crypto';
import * as pkijs from 'pkijs';
import { childrenOf, extensionsOf, isTag, oidText, readDer, readTlv, serialHex, signedParts, slice, TAG, timeOf, type Extension, type Tlv } from './der.ts';

pkijs.setEngine('node-webcrypto', new pkijs.CryptoEngine({ name: 'node-webcrypto', crypto: globalThis.crypto }));

/** A certificate's standing on its issuer's CRL (revocation.ts): `missing`, no CRL from this issuer; `stale`, its newest CRL is past its next-update time. */
export type RevocationStatus = 'good' | 'revoked' | 'missing' | 'stale';

export const MAX_CERTIFICATE_BYTES = 8 * 1024;
const MIN_RSA_BITS = 2048;
const OU = '2.5.4.11';
const KEY_USAGE = '2.5.29.15';
/** RFC 5280 allows serial numbers of at most 20 octets. */
const MAX_SERIAL_BYTES = 20;
/**
 * Extensions this check understands: enforced (key usage, basic constraints) or carrying no
 * constraint on the use we make of the certificate. RFC 5280 4.2: a critical extension not
 * on this list means the certificate must be refused.
 */
const KNOWN_EXTENSIONS = new Set([
  KEY_USAGE,
  '2.5.29.19', // basicConstraints
  '2.5.29.14', // subjectKeyIdentifier
  '2.5.29.35', // authorityKeyIdentifier
  '2.5.29.17', // subjectAltName
  '2.5.29.18', // issuerAltName
  '2.5.29.31', // cRLDistributionPoints
  '2.5.29.32', // certificatePolicies (JPKI marks it critical; any policy of the anchor is accepted)
  '1.3.6.1.5.5.7.1.1', // authorityInfoAccess
]);
const USER_AUTHENTICATION_OU = 'JPKI for user authentication';

export type CertificateErrorCode =
  | 'certificate_malformed' | 'certificate_wrong_type' | 'certificate_key_weak' | 'certificate_untrusted'
  | 'certificate_not_yet_valid' | 'certificate_expired' | 'certificate_revoked' | 'certificate_revocation_unknown';

export interface AcceptedCertificate {
  ok: true;
  /** The card's key, for its signature of a challenge. */
  publicKey: KeyObject;
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

/** What a CA signed, as a certificate and a CRL both carry it. */
export interface SignedByCa {
  /** The signed bytes, the CA's signature algorithm (dotted OID) and its signature. */
  tbs: Uint8Array;
  signatureAlgorithm: string | undefined;
  signature: Uint8Array;
  /** The issuer Name's DER, exactly as carried. */
  issuerDer: Buffer;
}

/**
 * A certificate as examination reads it: node:crypto's parse (OpenSSL), and the fields node does
 * not expose, located by their DER headers alone (docs/identity.md: one parse of the whole
 * certificate with asn1js cost milliseconds).
 */
interface ParsedCertificate extends SignedByCa {
  x509: X509Certificate;
  /** The INTEGER's content octets, as encoded. */
  serial: Uint8Array;
  issuerUnits: string[];
  notBefore: Date;
  notAfter: Date;
  extensions: Extension[];
}

/** Parses exactly one DER certificate; anything else (BER tricks, trailing bytes, garbage) is malformed. */
export function parseCertificate(der: Uint8Array): ParsedCertificate | RefusedCertificate {
  if (der.length === 0 || der.length > MAX_CERTIFICATE_BYTES) return refuse('certificate_malformed', `certificate must be 1 to ${MAX_CERTIFICATE_BYTES} bytes`);
  const root = readDer(der);
  if (!root) return refuse('certificate_malformed', 'not canonical DER');
  const fields = certificateFields(der, root);
  if (typeof fields === 'string') return refuse('certificate_malformed', `not an X.509 certificate: ${fields}`);
  try {
    return { x509: new X509Certificate(der), ...fields };
  } catch (error) {
    return refuse('certificate_malformed', `not an X.509 certificate: ${error instanceof Error ? error.message : String(error)}`);
  }
}

/** TBSCertificate's optional fields after subjectPublicKeyInfo: issuerUniqueID [1], subjectUniqueID [2], extensions [3]. */
const UNIQUE_IDS_AND_EXTENSIONS = new Set([0x81, 0x82, 0xa3]);

/**
 * The fields of Certificate and TBSCertificate (RFC 5280 4.1) examination needs, found by walking
 * DER headers that readDer has already checked; what the layout does not allow is said as text.
 */
function certificateFields(der: Uint8Array, root: Tlv): Omit<ParsedCertificate, 'x509'> | string {
  const signed = signedParts(der, root);
  if (!signed) return 'not SEQUENCE { tbsCertificate, signatureAlgorithm, signatureValue }';
  const { tbs } = signed;
  const tbsFields = childrenOf(der, tbs) ?? [];
  // version [0] is absent only in a v1 certificate.
  const [serial, , issuer, validity, subject, publicKey, ...optional] = tbsFields.slice(tbsFields[0]?.tag === 0xa0 ? 1 : 0);
  if (!isTag(serial, TAG.integer) || serial.end === serial.contentStart || !isTag(issuer, TAG.sequence) || !isTag(validity, TAG.sequence)
    || !isTag(subject, TAG.sequence) || !isTag(publicKey, TAG.sequence) || optional.some((field) => !UNIQUE_IDS_AND_EXTENSIONS.has(field.tag))) {
    return 'TBSCertificate is not laid out as RFC 5280 says';
  }
  const [notBefore, notAfter] = (childrenOf(der, validity) ?? []).map((time) => timeOf(der, time));
  if (!notBefore || !notAfter) return 'validity is not two RFC 5280 times';
  const extensions = extensionsOf(der, optional.find((field) => field.tag === 0xa3));
  if (typeof extensions === 'string') return extensions;
  const issuerUnits = unitsOf(der, issuer);
  if (!issuerUnits) return 'the issuer is not a Name';
  return {
    tbs: der.subarray(tbs.start, tbs.end),
    signatureAlgorithm: signed.signatureAlgorithm,
    signature: signed.signature,
    serial: slice(der, serial),
    issuerDer: Buffer.from(der.subarray(issuer.start, issuer.end)),
    issuerUnits,
    notBefore,
    notAfter,
    extensions,
  };
}

// X.520 DirectoryString and the other string types a Name may carry, by tag: how to read their octets as text.
const STRING_DECODERS = new Map<number, (octets: Buffer) => string | undefined>([
  [0x0c, (octets) => octets.toString('utf8')], // UTF8String
  [0x12, (octets) => octets.toString('latin1')], // NumericString
  [0x13, (octets) => octets.toString('latin1')], // PrintableString
  [0x14, (octets) => octets.toString('latin1')], // TeletexString
  [0x16, (octets) => octets.toString('latin1')], // IA5String
  [0x1a, (octets) => octets.toString('latin1')], // VisibleString
  [0x1e, (octets) => (octets.length % 2 === 0 ? Buffer.from(octets).swap16().toString('utf16le') : undefined)], // BMPString (UTF-16BE)
  [0x1c, (octets) => universalString(octets)], // UniversalString (UTF-32BE)
]);

function universalString(octets: Buffer): string | undefined {
  if (octets.length % 4 !== 0) return undefined;
  const points = Array.from({ length: octets.length / 4 }, (_, i) => octets.readUInt32BE(i * 4));
  return points.every((point) => point <= 0x10ffff) ? String.fromCodePoint(...points) : undefined;
}

/** A Name's attributes in order, each value as text when its string type is one we read; undefined if it is not a Name of attributes. */
export function nameValues(der: Uint8Array, name: Tlv): Array<{ type: string | undefined; text: string | undefined }> | undefined {
  const values: Array<{ type: string | undefined; text: string | undefined }> = [];
  for (const rdn of childrenOf(der, name) ?? []) {
    if (!isTag(rdn, TAG.set)) return undefined;
    for (const attribute of childrenOf(der, rdn) ?? []) {
      const [type, value, ...rest] = isTag(attribute, TAG.sequence) ? childrenOf(der, attribute) ?? [] : [];
      if (!isTag(type, TAG.oid) || !value || rest.length > 0) return undefined;
      values.push({ type: oidText(slice(der, type)), text: STRING_DECODERS.get(value.tag)?.(Buffer.from(slice(der, value))) });
    }
  }
  return values;
}

/** The values of a Name's organizational units (OU), in order; undefined if it is not a Name of attributes. */
function unitsOf(der: Uint8Array, name: Tlv): string[] | undefined {
  return nameValues(der, name)?.flatMap(({ type, text }) => (type === OU && text !== undefined ? [text] : []));
}

function unknownCriticalExtension(certificate: ParsedCertificate): string | undefined {
  return certificate.extensions.find((e) => e.critical && !KNOWN_EXTENSIONS.has(e.id))?.id;
}

/** keyUsage is a BIT STRING; digitalSignature is its first bit. */
function allowsDigitalSignature(certificate: ParsedCertificate): boolean {
  const extension = certificate.extensions.find((e) => e.id === KEY_USAGE);
  const bits = extension && readTlv(extension.value, 0);
  if (!bits || bits.tag !== TAG.bitString || bits.end !== extension.value.length || bits.end - bits.contentStart < 2) return false;
  return Boolean(extension.value[bits.contentStart + 1]! & 0x80);
}

/** The certificate's key if it is RSA, with its modulus size; OpenSSL leaves a key it cannot decode out of its parse. */
function rsaKey(certificate: ParsedCertificate): { key: KeyObject; bits: number } | undefined {
  let key: KeyObject;
  try {
    key = certificate.x509.publicKey;
  } catch {
    return undefined;
  }
  const bits = key.asymmetricKeyDetails?.modulusLength;
  return key.asymmetricKeyType === 'rsa' && bits !== undefined ? { key, bits } : undefined;
}

/**
 * The hash of each signature algorithm a CA may sign a card certificate or a CRL with:
 * RSASSA-PKCS1-v1_5 over SHA-2 (J-LIS signs with sha256WithRSAEncryption). Any other is
 * certificate_untrusted (crl_untrusted).
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

/** Whether `key` made the signature over the TBS bytes. */
function signedWith(signed: SignedByCa, key: KeyObject): boolean {
  const hash = signed.signatureAlgorithm && RSA_SIGNATURE_HASHES.get(signed.signatureAlgorithm);
  if (!hash) return false;
  try {
    return verify(hash, signed.tbs, key, signed.signature);
  } catch {
    // A signature that cannot even be checked (wrong size) is no signature.
    return false;
  }
}

/** The anchors (by name and key) whose key signed the certificate or CRL; usually one. */
export function signingAnchors(signed: SignedByCa, anchors: pkijs.Certificate[]): pkijs.Certificate[] {
  return anchors.filter((anchor) => {
    const { subjectDer, key } = anchorKey(anchor);
    return signed.issuerDer.equals(subjectDer) && key !== undefined && signedWith(signed, key);
  });
}

/**
 * Everything that can be known of a certificate without a clock or a CRL. It depends only on
 * the bytes and the anchors, so a caller may keep it (CertificateVerifier does): parsing and
 * checking the CA's signature are the expensive part of a verification.
 */
export interface ExaminedCertificate {
  ok: true;
  /** The card's key, for its signature of a challenge. */
  publicKey: KeyObject;
  /** The anchors whose key signed it (one, unless the same key was certified twice). */
  signers: pkijs.Certificate[];
  issuerDer: Buffer;
  serialHex: string;
  notBefore: Date;
  notAfter: Date;
}

/** The checks that need no clock, in the order that gives the most useful answer for each kind of bad input. */
export async function examineCertificate(der: Uint8Array, anchors: pkijs.Certificate[]): Promise<ExaminedCertificate | RefusedCertificate> {
  const certificate = parseCertificate(der);
  if ('code' in certificate) return certificate;
  if (certificate.serial.length > MAX_SERIAL_BYTES) return refuse('certificate_malformed', `serial number longer than ${MAX_SERIAL_BYTES} octets`);
  if (!certificate.issuerUnits.includes(USER_AUTHENTICATION_OU)) {
    return refuse('certificate_wrong_type', `issuer is not "${USER_AUTHENTICATION_OU}": ${certificate.issuerUnits.join(', ') || 'no OU'}`);
  }
  const unknown = unknownCriticalExtension(certificate);
  if (unknown) return refuse('certificate_wrong_type', `unrecognised critical extension ${unknown}`);
  if (certificate.x509.ca) return refuse('certificate_wrong_type', 'a CA certificate, not a card holder\'s');
  if (!allowsDigitalSignature(certificate)) return refuse('certificate_wrong_type', 'key usage does not allow digital signatures');
  const rsa = rsaKey(certificate);
  if (!rsa || rsa.bits < MIN_RSA_BITS) return refuse('certificate_key_weak', `key must be RSA of at least ${MIN_RSA_BITS} bits, got ${rsa?.bits ?? 'non-RSA'}`);
  const signers = signingAnchors(certificate, anchors);
  if (signers.length === 0) return refuse('certificate_untrusted', 'not issued by a configured trust anchor');
  const { issuerDer, notBefore, notAfter } = certificate;
  return { ok: true, publicKey: rsa.key, signers, issuerDer, serialHex: serialHex(certificate.serial), notBefore, notAfter };
}

/** The checks at the moment of use: the anchor's and the certificate's validity, and revocation. */
export function judgeCertificate(examined: ExaminedCertificate, options: Omit<VerifyOptions, 'anchors'>): Verdict {
  const { serialHex: serial, notBefore, notAfter } = examined;
  const { now } = options;
  const anchor = examined.signers.find((a) => now >= a.notBefore.value && now <= a.notAfter.value);
  if (!anchor) return refuse('certificate_untrusted', 'its trust anchor is not valid at this time');
  if (now < notBefore) return refuse('certificate_not_yet_valid', `valid from ${notBefore.toISOString()}`);
  if (now > notAfter) return refuse('certificate_expired', `expired ${notAfter.toISOString()}`);
  const revocation = options.revocation(anchor, serial, now);
  if (revocation === 'revoked') return refuse('certificate_revoked', `serial ${serial} is on the issuer's CRL`);
  if (revocation !== 'good' && options.failClosed) return refuse('certificate_revocation_unknown', `revocation cannot be checked: CRL ${revocation}`);
  return { ok: true, publicKey: examined.publicKey, issuerDer: examined.issuerDer, serialHex: serial, notAfter, revocationChecked: revocation === 'good' };
}

/** The whole decision. */
export async function verifyUserCertificate(der: Uint8Array, options: VerifyOptions): Promise<Verdict> {
  const examined = await examineCertificate(der, options.anchors);
  return examined.ok ? judgeCertificate(examined, options) : examined;
}
