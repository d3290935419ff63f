// What the platform knows of revocations: the CRLs of the trust anchors, each accepted only
// after its signature is checked against the anchor that issued it. CRLs are kept per CA
// key, not per CA name: across a key rollover the old and the new CA have the same name, and
// the new CA's CRL must not stand in for the old one's.
import { createHash } from 'node:crypto';
import * as pkijs from 'pkijs';
import { nameValues, signingAnchors, type RevocationStatus, type SignedByCa } from './certificates.ts';
import { TAG, childrenOf, extensionList, extensionsOf, isTag, readTlv, serialHex, signedParts, slice, timeOf, type Tlv } from './der.ts';

export const MAX_CRL_BYTES = 64 * 1024 * 1024;

interface IssuerCrl { thisUpdate: Date; nextUpdate: Date | undefined; revoked: Set<string> }

/**
 * `crl_malformed`: not one DER (or PEM "X509 CRL") CRL of an allowed size; `crl_untrusted`: not
 * signed by an anchor; `crl_unsupported`: a critical extension this list does not implement
 * (a partitioned, delta or indirect CRL). The others are how fetching it failed (crl-sources.ts).
 */
export type CrlErrorCode =
  | 'crl_malformed' | 'crl_untrusted' | 'crl_unsupported'
  | 'crl_unreadable' | 'crl_timeout' | 'crl_http_status' | 'crl_too_large' | 'crl_too_many_redirects' | 'crl_fetch_failed';

export class CrlError extends Error {
  constructor(readonly code: CrlErrorCode, message: string) {
    super(message);
  }
}

/** A CA's identity for revocation: the SHA-256 of its subjectPublicKeyInfo. */
export function caKey(certificate: pkijs.Certificate): Buffer {
  return createHash('sha256').update(Buffer.from(certificate.subjectPublicKeyInfo.toSchema().toBER())).digest();
}

export interface AddedCrl {
  /** caKey() of the anchor that signed it. */
  issuerKey: Buffer;
  /** The issuer Name as text, for people. */
  issuer: string;
  thisUpdate: Date;
  nextUpdate: Date | undefined;
  entries: number;
}

/** What the list keeps of a CRL, read from its DER by headers alone. */
interface ParsedCrl extends SignedByCa {
  issuer: string;
  thisUpdate: Date;
  nextUpdate: Date | undefined;
  revoked: Set<string>;
  /** The first critical extension of the CRL or of one of its entries, if any: none is implemented. */
  criticalExtension: string | undefined;
}

const CRL_EXTENSIONS = 0xa0;
const isTime = (tlv: Tlv | undefined): tlv is Tlv => tlv?.tag === TAG.utcTime || tlv?.tag === TAG.generalizedTime;

/**
 * Reads a CRL (RFC 5280 5.1) by its DER headers, as certificates are read: a CRL of a million
 * revocations is one Set of serials, not the million objects of a full ASN.1 parse (pkijs took
 * ~3.6 KB of heap per revocation while it parsed: 360 MB for 100,000). What the layout does not
 * allow is said as text.
 */
function parseCrl(der: Uint8Array): ParsedCrl | string {
  const root = readTlv(der, 0);
  if (!root || root.end !== der.length) return 'not one DER structure';
  const signed = signedParts(der, root);
  if (!signed) return 'not SEQUENCE { tbsCertList, signatureAlgorithm, signatureValue }';
  const fields = childrenOf(der, signed.tbs) ?? [];
  // version is absent in a v1 CRL; nextUpdate, the revocations and the extensions are optional.
  const [, issuer, thisUpdate, ...rest] = fields.slice(isTag(fields[0], TAG.integer) ? 1 : 0);
  const nextUpdate = isTime(rest[0]) ? rest.shift() : undefined;
  const entries = isTag(rest[0], TAG.sequence) ? rest.shift() : undefined;
  const extensionsField = isTag(rest[0], CRL_EXTENSIONS) ? rest.shift() : undefined;
  const issuerValues = isTag(issuer, TAG.sequence) ? nameValues(der, issuer) : undefined;
  if (!issuerValues || !isTime(thisUpdate) || rest.length > 0) return 'TBSCertList is not laid out as RFC 5280 says';
  const times = [timeOf(der, thisUpdate), nextUpdate && timeOf(der, nextUpdate)];
  if (!times[0] || (nextUpdate && !times[1])) return 'thisUpdate or nextUpdate is not an RFC 5280 time';
  const extensions = extensionsOf(der, extensionsField);
  if (typeof extensions === 'string') return extensions;
  const revocations = entries ? revokedSerials(der, entries) : { revoked: new Set<string>(), criticalExtension: undefined };
  if (typeof revocations === 'string') return revocations;
  return {
    tbs: der.subarray(signed.tbs.start, signed.tbs.end), signatureAlgorithm: signed.signatureAlgorithm, signature: signed.signature,
    issuerDer: Buffer.from(der.subarray(issuer!.start, issuer!.end)),
    issuer: issuerValues.map(({ text }) => text ?? '').join(', '),
    thisUpdate: times[0], nextUpdate: times[1] || undefined, revoked: revocations.revoked,
    criticalExtension: extensions.find((extension) => extension.critical)?.id ?? revocations.criticalExtension,
  };
}

/** revokedCertificates: SEQUENCE OF { userCertificate INTEGER, revocationDate Time, crlEntryExtensions OPTIONAL }, walked one entry at a time. */
function revokedSerials(der: Uint8Array, list: Tlv): { revoked: Set<string>; criticalExtension: string | undefined } | string {
  const revoked = new Set<string>();
  let criticalExtension: string | undefined;
  for (let at = list.contentStart; at < list.end;) {
    const entry = readTlv(der, at, list.end);
    if (!isTag(entry, TAG.sequence)) return 'a revocation is not a SEQUENCE';
    const [serial, date, extensions, ...more] = childrenOf(der, entry) ?? [];
    if (!isTag(serial, TAG.integer) || serial.end === serial.contentStart || !isTime(date) || !timeOf(der, date) || more.length > 0
      || (extensions && !isTag(extensions, TAG.sequence))) return 'a revocation is not { userCertificate, revocationDate, crlEntryExtensions }';
    if (extensions) {
      const list = extensionList(der, extensions);
      if (typeof list === 'string') return list;
      criticalExtension ??= list.find((extension) => extension.critical)?.id;
    }
    revoked.add(serialHex(slice(der, serial)));
    at = entry.end;
  }
  return { revoked, criticalExtension };
}

export class RevocationList {
  /** By caKey (hex) of the anchor that signed the CRL. */
  private byIssuer = new Map<string, IssuerCrl>();
  private readonly keys: Map<pkijs.Certificate, string>;

  constructor(private readonly anchors: pkijs.Certificate[]) {
    this.keys = new Map(anchors.map((anchor) => [anchor, caKey(anchor).toString('hex')]));
  }

  /** Adds a CRL (DER) after checking it is well formed and signed by one of the anchors. */
  async add(der: Uint8Array): Promise<AddedCrl> {
    if (der.length === 0 || der.length > MAX_CRL_BYTES) throw new CrlError('crl_malformed', `a CRL must be 1 to ${MAX_CRL_BYTES} bytes`);
    const crl = parseCrl(der);
    if (typeof crl === 'string') throw new CrlError('crl_malformed', `not a CRL: ${crl}`);
    const [signer] = signingAnchors(crl, this.anchors);
    if (!signer) throw new CrlError('crl_untrusted', 'the CRL is not signed by a configured trust anchor');
    // RFC 5280 5.2: a critical extension not understood means the CRL must not be used. Read as
    // a complete list, a partition (issuingDistributionPoint) or a delta CRL would make the
    // revocations it does not carry look like good certificates.
    if (crl.criticalExtension) throw new CrlError('crl_unsupported', `critical extension ${crl.criticalExtension} is not supported (partitioned, delta and indirect CRLs are not)`);
    const key = this.keys.get(signer)!;
    const current = this.byIssuer.get(key);
    // An older CRL arriving late never replaces a newer one.
    if (!current || current.thisUpdate <= crl.thisUpdate) {
      this.byIssuer.set(key, { thisUpdate: crl.thisUpdate, nextUpdate: crl.nextUpdate, revoked: crl.revoked });
    }
    return { issuerKey: Buffer.from(key, 'hex'), issuer: crl.issuer, thisUpdate: crl.thisUpdate, nextUpdate: crl.nextUpdate, entries: crl.revoked.size };
  }

  /** Whether `serialHex`, issued by the anchor `issuer`, is revoked at `now`. */
  status(issuer: pkijs.Certificate, serialHex: string, now: Date): RevocationStatus {
    const crl = this.byIssuer.get(this.keys.get(issuer) ?? caKey(issuer).toString('hex'));
    if (!crl) return 'missing';
    // A revoked serial stays revoked even when the list is stale: staleness only hides new revocations.
    if (crl.revoked.has(serialHex)) return 'revoked';
    if (!crl.nextUpdate || now > crl.nextUpdate) return 'stale';
    return 'good';
  }
}
