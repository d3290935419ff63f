// X.509 names as people write them: RFC 4514 strings ("OU=JPKI for user authentication,O=JPKI,C=JP").
// A string does not fix the DER bytes (the same name can be a PrintableString or a UTF8String),
// so a written name is only ever matched against the names of certificates we hold, whose
// exact bytes are then used.
import type * as pkijs from 'pkijs';

/** One attribute of a name: its type as a dotted OID, and its value. */
export interface NameAttribute { type: string; value: string }

// RFC 4514 §3: the short names a string may use; any other type is written as its dotted OID.
const SHORT_NAMES: Record<string, string> = {
  CN: '2.5.4.3', L: '2.5.4.7', ST: '2.5.4.8', O: '2.5.4.10', OU: '2.5.4.11', C: '2.5.4.6', STREET: '2.5.4.9',
  DC: '0.9.2342.19200300.100.1.25', UID: '0.9.2342.19200300.100.1.1',
};
const SHORT_NAME_OF = new Map(Object.entries(SHORT_NAMES).map(([name, oid]) => [oid, name]));
const NUMERIC_OID = /^(?:0|[1-9][0-9]*)(?:\.(?:0|[1-9][0-9]*))+$/;
const KEYSTRING = /^[A-Za-z][A-Za-z0-9-]*$/;
// Characters RFC 4514 allows only escaped inside a value.
const MUST_ESCAPE = new Set(['"', '+', ',', ';', '<', '>', '\\', '\0']);
const ESCAPABLE = new Set([...MUST_ESCAPE, ' ', '#', '=']);
const utf8 = new TextDecoder('utf-8', { fatal: true });

/** The attributes of a certificate's name in DER order, or undefined if a value is not a string. */
export function nameAttributes(name: pkijs.RelativeDistinguishedNames): NameAttribute[] | undefined {
  const attributes: NameAttribute[] = [];
  for (const { type, value } of name.typesAndValues) {
    const text = (value as { valueBlock?: { value?: unknown } }).valueBlock?.value;
    if (typeof text !== 'string') return undefined;
    attributes.push({ type, value: text });
  }
  return attributes;
}

/** The RFC 4514 string of a name: the last RDN first. Multi-valued RDNs are written as single ones. */
export function formatRfc4514(attributes: NameAttribute[]): string {
  return [...attributes].reverse().map(({ type, value }) => `${SHORT_NAME_OF.get(type) ?? type}=${escapeValue(value)}`).join(',');
}

function escapeValue(value: string): string {
  const chars = [...value];
  return chars.map((c, i) => {
    if (c === '\0') return '\\00';
    if (MUST_ESCAPE.has(c) || (i === 0 && (c === ' ' || c === '#')) || (i === chars.length - 1 && c === ' ')) return `\\${c}`;
    return c;
  }).join('');
}

/**
 * Reads an RFC 4514 string into attributes in DER order, or says why it is not one. Lenient
 * only about spaces around separators, which people add; hex-encoded values (#04…) are refused.
 */
export function parseRfc4514(text: string): NameAttribute[] | string {
  const attributes: NameAttribute[] = [];
  let at = 0;
  while (true) {
    while (text[at] === ' ') at++;
    const equals = text.indexOf('=', at);
    if (equals < 0) return `no "=" after position ${at}`;
    const typeText = text.slice(at, equals).trim();
    const type = KEYSTRING.test(typeText) ? SHORT_NAMES[typeText.toUpperCase()] : NUMERIC_OID.test(typeText) ? typeText : undefined;
    if (!type) return `${JSON.stringify(typeText)} is not an attribute type (${Object.keys(SHORT_NAMES).join(', ')} or a dotted OID)`;
    at = equals + 1;
    while (text[at] === ' ') at++;
    if (text[at] === '#') return 'hex-encoded attribute values (#…) are not supported';
    const value = readValue(text, at);
    if (typeof value === 'string') return value;
    attributes.push({ type, value: value.value });
    at = value.end;
    if (at >= text.length) break;
    at++; // the "," or "+" that ended the value
  }
  return attributes.reverse();
}

/** A value up to an unescaped "," or "+" (or the end), unescaped, with unescaped outer spaces dropped. */
function readValue(text: string, start: number): { value: string; end: number } | string {
  const bytes: number[] = [];
  let keep = 0; // bytes up to the last escaped or non-space character
  let at = start;
  for (; at < text.length && text[at] !== ',' && text[at] !== '+'; at++) {
    const c = text[at]!;
    if (c === '\\') {
      const pair = text.slice(at + 1, at + 3);
      if (/^[0-9A-Fa-f]{2}$/.test(pair)) {
        bytes.push(parseInt(pair, 16));
        at += 2;
      } else if (ESCAPABLE.has(text[at + 1] ?? '')) {
        bytes.push(text.charCodeAt(++at));
      } else {
        return `a "\\" at position ${at} escapes nothing`;
      }
      keep = bytes.length;
    } else {
      if (MUST_ESCAPE.has(c)) return `${JSON.stringify(c)} at position ${at} must be escaped`;
      const code = text.codePointAt(at)!;
      if (code > 0xffff) at++;
      bytes.push(...Buffer.from(String.fromCodePoint(code), 'utf8'));
      if (c !== ' ') keep = bytes.length;
    }
  }
  try {
    const value = utf8.decode(Uint8Array.from(bytes.slice(0, keep)));
    if (value === '') return `an empty value before position ${at}`;
    return { value, end: at };
  } catch {
    return 'an escaped value is not UTF-8';
  }
}

/**
 * What two names must share to be the same name: the types in order, and the values ignoring
 * case, width (NFKC) and runs of spaces, as X.500 caseIgnoreMatch compares directory strings.
 */
export function nameKey(attributes: NameAttribute[]): string {
  return JSON.stringify(attributes.map(({ type, value }) => [type, value.normalize('NFKC').toLowerCase().trim().replace(/\s+/g, ' ')]));
}
