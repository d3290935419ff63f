// The DER handling shared by certificates and CRLs: both arrive from outside and are hostile.
import * as asn1js from 'asn1js';

/**
 * Exactly one DER structure spanning all of `der`, or undefined. asn1js mostly reports bad
 * input in `offset`, but some malformed values (times) throw instead.
 */
export function parseDer(der: Uint8Array): asn1js.AsnType | undefined {
  try {
    // asn1js stops by default at 10,000 nodes and 16 MiB, which a CRL of some 1,500
    // revocations already exceeds. Callers bound what they parse (8 KiB for a certificate,
    // MAX_CRL_BYTES for a CRL) and every node takes at least two bytes, so limits set by the
    // input's own length keep the work proportional to it without refusing a real CRL.
    const asn1 = asn1js.fromBER(new Uint8Array(der).buffer, { maxNodes: Math.ceil(der.length / 2), maxContentLength: der.length });
    return asn1.offset === -1 || asn1.offset !== der.length ? undefined : asn1.result;
  } catch {
    return undefined;
  }
}

/** A serial number as the platform writes it: upper-case hex, no leading zero bytes. */
export function serialHex(value: asn1js.Integer): string {
  return Buffer.from(value.valueBlock.valueHexView).toString('hex').toUpperCase().replace(/^(00)+(?=.)/, '');
}
