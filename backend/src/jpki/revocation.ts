// What the platform knows of revocations: the CRLs of the trust anchors, each accepted only
// after its signature is checked against the anchor that issued it.
import * as pkijs from 'pkijs';
import { parseDer, serialHex } from './der.ts';

/** `missing`: no CRL from this issuer; `stale`: its newest CRL is past its next-update time. */
export type RevocationStatus = 'good' | 'revoked' | 'missing' | 'stale';

export const MAX_CRL_BYTES = 64 * 1024 * 1024;

interface IssuerCrl { thisUpdate: Date; nextUpdate: Date | undefined; revoked: Set<string> }

/**
 * `crl_malformed`: not one DER (or PEM "X509 CRL") CRL of an allowed size; `crl_untrusted`: not
 * signed by an anchor. The others are how fetching it failed (crl-sources.ts).
 */
export type CrlErrorCode =
  | 'crl_malformed' | 'crl_untrusted'
  | 'crl_unreadable' | 'crl_timeout' | 'crl_http_status' | 'crl_too_large' | 'crl_too_many_redirects' | 'crl_fetch_failed';

export class CrlError extends Error {
  constructor(readonly code: CrlErrorCode, message: string) {
    super(message);
  }
}

export interface AddedCrl {
  /** The issuer Name (DER), and as text for people. */
  issuerDer: Buffer;
  issuer: string;
  thisUpdate: Date;
  nextUpdate: Date | undefined;
  entries: number;
}

export class RevocationList {
  private byIssuer = new Map<string, IssuerCrl>();

  constructor(private readonly anchors: pkijs.Certificate[]) {}

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
    const issuer = Buffer.from(crl.issuer.toSchema().toBER());
    const anchor = this.anchors.find((a) => issuer.equals(Buffer.from(a.subject.toSchema().toBER())));
    if (!anchor || !(await crl.verify({ issuerCertificate: anchor }).catch(() => false))) {
      throw new CrlError('crl_untrusted', 'the CRL is not signed by a configured trust anchor');
    }
    const key = issuer.toString('base64');
    const thisUpdate = crl.thisUpdate.value;
    const current = this.byIssuer.get(key);
    // An older CRL arriving late never replaces a newer one.
    if (!current || current.thisUpdate <= thisUpdate) {
      this.byIssuer.set(key, {
        thisUpdate,
        nextUpdate: crl.nextUpdate?.value,
        revoked: new Set((crl.revokedCertificates ?? []).map((entry) => serialHex(entry.userCertificate))),
      });
    }
    return { issuerDer: issuer, issuer: crl.issuer.typesAndValues.map((tv) => String(tv.value.valueBlock.value)).join(', '), thisUpdate, nextUpdate: crl.nextUpdate?.value, entries: crl.revokedCertificates?.length ?? 0 };
  }

  status(issuerDer: Buffer, serialHex: string, now: Date): RevocationStatus {
    const crl = this.byIssuer.get(issuerDer.toString('base64'));
    if (!crl) return 'missing';
    // A revoked serial stays revoked even when the list is stale: staleness only hides new revocations.
    if (crl.revoked.has(serialHex)) return 'revoked';
    if (!crl.nextUpdate || now > crl.nextUpdate) return 'stale';
    return 'good';
  }
}
