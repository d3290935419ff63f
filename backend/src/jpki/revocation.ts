// What the platform knows of revocations: the CRLs of the trust anchors, each accepted only
// after its signature is checked against the anchor that issued it.
import * as asn1js from 'asn1js';
import * as pkijs from 'pkijs';

/** `missing`: no CRL from this issuer; `stale`: its newest CRL is past its next-update time. */
export type RevocationStatus = 'good' | 'revoked' | 'missing' | 'stale';

export const MAX_CRL_BYTES = 64 * 1024 * 1024;

interface IssuerCrl { thisUpdate: Date; nextUpdate: Date | undefined; revoked: Set<string> }

export class CrlError extends Error {}

function serialOf(value: asn1js.Integer): string {
  return Buffer.from(value.valueBlock.valueHexView).toString('hex').toUpperCase().replace(/^(00)+(?=.)/, '');
}

export class RevocationList {
  private byIssuer = new Map<string, IssuerCrl>();

  constructor(private readonly anchors: pkijs.Certificate[]) {}

  /** Adds a CRL (DER) after checking it is well formed and signed by one of the anchors. */
  async add(der: Uint8Array): Promise<{ issuer: string; thisUpdate: Date; nextUpdate: Date | undefined; entries: number }> {
    if (der.length === 0 || der.length > MAX_CRL_BYTES) throw new CrlError(`a CRL must be 1 to ${MAX_CRL_BYTES} bytes`);
    let crl: pkijs.CertificateRevocationList;
    try {
      // asn1js mostly reports bad input in `offset`, but some malformed values (times) throw.
      const asn1 = asn1js.fromBER(new Uint8Array(der).buffer);
      if (asn1.offset === -1 || asn1.offset !== der.length) throw new CrlError('not a single DER structure');
      crl = new pkijs.CertificateRevocationList({ schema: asn1.result });
    } catch (error) {
      if (error instanceof CrlError) throw error;
      throw new CrlError(`not a CRL: ${error instanceof Error ? error.message : String(error)}`);
    }
    const issuer = Buffer.from(crl.issuer.toSchema().toBER());
    const anchor = this.anchors.find((a) => issuer.equals(Buffer.from(a.subject.toSchema().toBER())));
    if (!anchor || !(await crl.verify({ issuerCertificate: anchor }).catch(() => false))) {
      throw new CrlError('the CRL is not signed by a configured trust anchor');
    }
    const key = issuer.toString('base64');
    const thisUpdate = crl.thisUpdate.value;
    const current = this.byIssuer.get(key);
    // An older CRL arriving late never replaces a newer one.
    if (!current || current.thisUpdate <= thisUpdate) {
      this.byIssuer.set(key, {
        thisUpdate,
        nextUpdate: crl.nextUpdate?.value,
        revoked: new Set((crl.revokedCertificates ?? []).map((entry) => serialOf(entry.userCertificate))),
      });
    }
    return { issuer: crl.issuer.typesAndValues.map((tv) => String(tv.value.valueBlock.value)).join(', '), thisUpdate, nextUpdate: crl.nextUpdate?.value, entries: crl.revokedCertificates?.length ?? 0 };
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

/** Splits a PEM bundle into DER blocks of the given label. */
export function pemBlocks(text: string, label: string): Buffer[] {
  const pattern = new RegExp(`-----BEGIN ${label}-----([\\s\\S]*?)-----END ${label}-----`, 'g');
  return [...text.matchAll(pattern)].map((match) => Buffer.from(match[1]!.replace(/\s+/g, ''), 'base64'));
}
