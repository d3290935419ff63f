// What the platform knows of revocations: the CRLs of the trust anchors, each accepted only
// after its signature is checked against the anchor that issued it. CRLs are kept per CA
// key, not per CA name: across a key rollover the old and the new CA have the same name, and
// the new CA's CRL must not stand in for the old one's.
import { createHash } from 'node:crypto';
import * as pkijs from 'pkijs';
import { parseDer, serialHex } from './der.ts';

/** `missing`: no CRL from this issuer; `stale`: its newest CRL is past its next-update time. */
export type RevocationStatus = 'good' | 'revoked' | 'missing' | 'stale';

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

/** The first critical extension of the CRL or of one of its entries, if any: none is implemented. */
function criticalExtension(crl: pkijs.CertificateRevocationList): string | undefined {
  const extensions = [...(crl.crlExtensions?.extensions ?? []), ...(crl.revokedCertificates ?? []).flatMap((entry) => entry.crlEntryExtensions?.extensions ?? [])];
  return extensions.find((extension) => extension.critical)?.extnID;
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
    const asn1 = parseDer(der);
    if (!asn1) throw new CrlError('crl_malformed', 'not a single DER structure');
    let crl: pkijs.CertificateRevocationList;
    try {
      crl = new pkijs.CertificateRevocationList({ schema: asn1 });
    } catch (error) {
      throw new CrlError('crl_malformed', `not a CRL: ${error instanceof Error ? error.message : String(error)}`);
    }
    const signer = await this.signer(crl);
    if (!signer) throw new CrlError('crl_untrusted', 'the CRL is not signed by a configured trust anchor');
    const unsupported = criticalExtension(crl);
    // RFC 5280 5.2: a critical extension not understood means the CRL must not be used. Read as
    // a complete list, a partition (issuingDistributionPoint) or a delta CRL would make the
    // revocations it does not carry look like good certificates.
    if (unsupported) throw new CrlError('crl_unsupported', `critical extension ${unsupported} is not supported (partitioned, delta and indirect CRLs are not)`);
    const key = this.keys.get(signer)!;
    const thisUpdate = crl.thisUpdate.value;
    const current = this.byIssuer.get(key);
    // An older CRL arriving late never replaces a newer one.
    if (!current || current.thisUpdate <= thisUpdate) {
      this.byIssuer.set(key, {
        thisUpdate,
        nextUpdate: crl.nextUpdate?.value,
        revoked: new Set((crl.revokedCertificates ?? []).map((entry) => serialHex(entry.userCertificate.valueBlock.valueHexView))),
      });
    }
    return { issuerKey: Buffer.from(key, 'hex'), issuer: crl.issuer.typesAndValues.map((tv) => String(tv.value.valueBlock.value)).join(', '), thisUpdate, nextUpdate: crl.nextUpdate?.value, entries: crl.revokedCertificates?.length ?? 0 };
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

  /** The anchor with the CRL's issuer name whose key verifies its signature. */
  private async signer(crl: pkijs.CertificateRevocationList): Promise<pkijs.Certificate | undefined> {
    const issuer = Buffer.from(crl.issuer.toSchema().toBER());
    for (const anchor of this.anchors) {
      if (!issuer.equals(Buffer.from(anchor.subject.toSchema().toBER()))) continue;
      if (await crl.verify({ issuerCertificate: anchor }).catch(() => false)) return anchor;
    }
    return undefined;
  }
}
