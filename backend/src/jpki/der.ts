// The DER handling shared by certificates and CRLs: both arrive from outside and are hostile.
import * as asn1js from 'asn1js';

/**
 * Exactly one DER structure spanning all of `der`, or undefined. asn1js mostly reports bad
 * input in `offset`, but some malformed values (times) throw instead.
 */
export function parseDer(der: Uint8Array): asn1js.AsnType | undefined {
  try {
    // asn1js stops by default at 10,000 nodes and 16 MiB, which a CRL of some 1,500
    // revocations already exceeds. Callers bound what they parse (1 MiB for a trust-anchor bundle,
    // MAX_CRL_BYTES for a CRL) and every node takes at least two bytes, so limits set by the
    // input's own length keep the work proportional to it without refusing a real CRL.
    const asn1 = asn1js.fromBER(new Uint8Array(der).buffer, { maxNodes: Math.ceil(der.length / 2), maxContentLength: der.length });
    return asn1.offset === -1 || asn1.offset !== der.length ? undefined : asn1.result;
  } catch {
    return undefined;
  }
}

/** A serial number as the platform writes it, from the INTEGER's content octets: upper-case hex, no leading zero bytes. */
export function serialHex(content: Uint8Array): string {
  return Buffer.from(content).toString('hex').toUpperCase().replace(/^(00)+(?=.)/, '');
}

// ---- a reader of DER headers: what a certificate check needs without decoding every value ----

export const TAG = { boolean: 0x01, integer: 0x02, bitString: 0x03, octetString: 0x04, oid: 0x06, sequence: 0x30, set: 0x31, utcTime: 0x17, generalizedTime: 0x18 } as const;

/** One element of a DER encoding: its tag byte and where it and its contents lie in the input. */
export interface Tlv { tag: number; start: number; contentStart: number; end: number }

const CONSTRUCTED = 0x20;
const UNIVERSAL_SEQUENCE_OR_SET = new Set([TAG.sequence, TAG.set]);

/**
 * The element starting at `at` and ending at or before `limit`, or undefined unless its header
 * is DER: a low tag number (the only kind in a certificate) and a definite length in the fewest
 * octets.
 */
export function readTlv(der: Uint8Array, at: number, limit: number = der.length): Tlv | undefined {
  if (at + 2 > limit) return undefined;
  const tag = der[at]!;
  if ((tag & 0x1f) === 0x1f) return undefined;
  let length = der[at + 1]!;
  let contentStart = at + 2;
  if (length & 0x80) {
    const octets = length & 0x7f;
    // 0x80 is BER's indefinite length; a leading zero octet, or a long form for under 128, is not the fewest octets.
    if (octets === 0 || octets > 4 || contentStart + octets > limit || der[contentStart] === 0) return undefined;
    length = 0;
    for (const end = contentStart + octets; contentStart < end; contentStart++) length = length * 256 + der[contentStart]!;
    if (length < 0x80) return undefined;
  }
  return contentStart + length > limit ? undefined : { tag, start: at, contentStart, end: contentStart + length };
}

/** The elements that exactly fill `parent`'s contents, in order; undefined if they do not. */
export function childrenOf(der: Uint8Array, parent: Tlv): Tlv[] | undefined {
  const children: Tlv[] = [];
  for (let at = parent.contentStart; at < parent.end;) {
    const child = readTlv(der, at, parent.end);
    if (!child) return undefined;
    children.push(child);
    at = child.end;
  }
  return children;
}

/**
 * The one element that is all of `der`, if every header in it, down to the last constructed
 * element, is DER and each constructed element is exactly filled by its children. DER has no
 * constructed strings: only SEQUENCE, SET and context- or application-tagged elements may be
 * constructed. What this does not see — the contents of primitive values — the parser that
 * reads them judges.
 */
export function readDer(der: Uint8Array): Tlv | undefined {
  const root = readTlv(der, 0);
  if (!root || root.end !== der.length) return undefined;
  const pending = [root];
  for (let element = pending.pop(); element; element = pending.pop()) {
    if (!(element.tag & CONSTRUCTED)) continue;
    if ((element.tag & 0xc0) === 0 && !UNIVERSAL_SEQUENCE_OR_SET.has(element.tag as 0x30)) return undefined;
    const children = childrenOf(der, element);
    if (!children) return undefined;
    pending.push(...children);
  }
  return root;
}

/**
 * An OBJECT IDENTIFIER's contents as a dotted string; undefined unless each arc is in the
 * fewest octets and fits a JavaScript number exactly (2^53), as every OID we compare does.
 */
export function oidText(content: Uint8Array): string | undefined {
  const arcs: number[] = [];
  let value = 0;
  for (let i = 0; i < content.length; i++) {
    const byte = content[i]!;
    if (value === 0 && byte === 0x80) return undefined;
    value = value * 128 + (byte & 0x7f);
    if (value > Number.MAX_SAFE_INTEGER) return undefined;
    if (byte & 0x80) continue;
    arcs.push(value);
    value = 0;
  }
  if (arcs.length === 0 || content[content.length - 1]! & 0x80) return undefined;
  const first = Math.min(Math.floor(arcs[0]! / 40), 2);
  return [first, arcs[0]! - 40 * first, ...arcs.slice(1)].join('.');
}

// ---- the parts of X.509 structures that certificates and CRLs share ----

/** A certificate's or CRL's extension as it is encoded: its OID, whether it is critical, its value's DER. */
export interface Extension { id: string; critical: boolean; value: Uint8Array }

export const slice = (der: Uint8Array, tlv: Tlv) => der.subarray(tlv.contentStart, tlv.end);
export const isTag = (tlv: Tlv | undefined, tag: number): tlv is Tlv => tlv?.tag === tag;

/** SEQUENCE { tbs SEQUENCE, signatureAlgorithm, signatureValue BIT STRING }, as certificates and CRLs are signed; undefined if `root` is not. */
export function signedParts(der: Uint8Array, root: Tlv): { tbs: Tlv; signatureAlgorithm: string | undefined; signature: Uint8Array } | undefined {
  const [tbs, algorithm, signature, ...more] = childrenOf(der, root) ?? [];
  if (!isTag(root, TAG.sequence) || !isTag(tbs, TAG.sequence) || !isTag(algorithm, TAG.sequence) || !isTag(signature, TAG.bitString) || more.length > 0) return undefined;
  const [algorithmId] = childrenOf(der, algorithm) ?? [];
  return {
    tbs,
    signatureAlgorithm: isTag(algorithmId, TAG.oid) ? oidText(slice(der, algorithmId)) : undefined,
    // The first content octet of a BIT STRING counts its unused bits; a signature has none.
    signature: slice(der, signature).subarray(1),
  };
}

// RFC 5280 4.1.2.5: UTCTime YYMMDDHHMMSSZ (YY below 50 is 20YY) or GeneralizedTime YYYYMMDDHHMMSSZ, to the second.
const UTC_TIME = /^(\d{2})(\d{2})(\d{2})(\d{2})(\d{2})(\d{2})Z$/;
const GENERALIZED_TIME = /^(\d{4})(\d{2})(\d{2})(\d{2})(\d{2})(\d{2})Z$/;

export function timeOf(der: Uint8Array, tlv: Tlv): Date | undefined {
  const match = (tlv.tag === TAG.utcTime ? UTC_TIME : tlv.tag === TAG.generalizedTime ? GENERALIZED_TIME : undefined)?.exec(Buffer.from(slice(der, tlv)).toString('latin1'));
  if (!match) return undefined;
  const [year, month, day, hour, minute, second] = match.slice(1).map(Number) as [number, number, number, number, number, number];
  const fullYear = tlv.tag === TAG.utcTime ? (year < 50 ? 2000 : 1900) + year : year;
  const date = new Date(Date.UTC(fullYear, month - 1, day, hour, minute, second));
  // Date.UTC carries an out-of-range field into the next (13th month, 61st second): such a time is no time.
  const exact = date.getUTCFullYear() === fullYear && date.getUTCMonth() === month - 1 && date.getUTCDate() === day
    && date.getUTCHours() === hour && date.getUTCMinutes() === minute && date.getUTCSeconds() === second;
  return exact ? date : undefined;
}

/** extensions [3] (a CRL's [0]) EXPLICIT SEQUENCE OF Extension { extnID, critical BOOLEAN DEFAULT FALSE, extnValue OCTET STRING }. */
export function extensionsOf(der: Uint8Array, field: Tlv | undefined): Extension[] | string {
  if (!field) return [];
  const [list, ...more] = childrenOf(der, field) ?? [];
  if (!isTag(list, TAG.sequence) || more.length > 0) return 'extensions are not one SEQUENCE';
  return extensionList(der, list);
}

/** SEQUENCE OF Extension, as a CRL entry carries it (untagged). */
export function extensionList(der: Uint8Array, list: Tlv): Extension[] | string {
  const extensions: Extension[] = [];
  for (const extension of childrenOf(der, list) ?? []) {
    const parts = isTag(extension, TAG.sequence) ? childrenOf(der, extension) ?? [] : [];
    const [id, critical, value, ...rest] = parts.length === 2 ? [parts[0], undefined, parts[1]] : parts;
    const oid = isTag(id, TAG.oid) ? oidText(slice(der, id)) : undefined;
    // DER writes TRUE as FF and leaves a DEFAULT value (critical FALSE) out.
    const criticalOk = critical === undefined || (isTag(critical, TAG.boolean) && critical.end - critical.contentStart === 1 && der[critical.contentStart] === 0xff);
    if (!oid || !criticalOk || !isTag(value, TAG.octetString) || rest.length > 0) return 'an extension is not { extnID, critical, extnValue } in DER';
    extensions.push({ id: oid, critical: critical !== undefined, value: slice(der, value) });
  }
  return extensions;
}
