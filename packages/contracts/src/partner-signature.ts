// How a partner request (and our webhook to a partner) is signed: docs/partner-api.md.
//   X-MyKey-Partner:   the partner's id (its slug)
//   X-MyKey-Timestamp: Unix seconds; refused more than 300 s away from our clock
//   X-MyKey-Signature: v1=<hex HMAC-SHA256(secret, timestamp "\n" METHOD "\n" path "\n" hex SHA-256(body))>
// A batch upload declares its body instead, so that the signature is checked before a byte of
// the body is read: X-MyKey-Content-SHA256 carries the body's hex SHA-256, and the declared
// Content-Length is signed as a fifth line ("\n" length). The server then checks the body it
// streams against both.
// Free of server imports: the partner simulator and the docs' example use it too.
import { createHash, createHmac, timingSafeEqual } from 'node:crypto';

export const PARTNER_HEADER = 'x-mykey-partner';
export const TIMESTAMP_HEADER = 'x-mykey-timestamp';
export const SIGNATURE_HEADER = 'x-mykey-signature';
export const CONTENT_SHA256_HEADER = 'x-mykey-content-sha256';
const TIMESTAMP_TOLERANCE_S = 300;

export interface SignedParts {
  timestamp: number;
  method: string;
  /** The request path with its query string, exactly as sent (e.g. /api/v1/partner/conversions/tx-1). */
  path: string;
  /** The hex SHA-256 of the body bytes (of nothing, for a GET). */
  bodySha256: string;
  /** A batch upload's declared Content-Length, signed as a fifth line; absent for every other request. */
  contentLength?: number;
}

/** The HMAC key: the API secret exactly as issued (64 hex characters), taken as its ASCII bytes. */
export function partnerKey(apiSecret: string): Buffer {
  return Buffer.from(apiSecret, 'utf8');
}

export function bodySha256(body: Uint8Array | string): string {
  return createHash('sha256').update(body).digest('hex');
}

// Exported for the tests too: they show partners the exact string signed.
/** The string the HMAC is taken over. */
export function signatureBase({ timestamp, method, path, bodySha256: hash, contentLength }: SignedParts): string {
  const base = `${timestamp}\n${method.toUpperCase()}\n${path}\n${hash}`;
  return contentLength === undefined ? base : `${base}\n${contentLength}`;
}

/** The X-MyKey-Signature value for these parts. */
export function signature(secret: Uint8Array, parts: SignedParts): string {
  return `v1=${createHmac('sha256', secret).update(signatureBase(parts)).digest('hex')}`;
}

/** The three headers for a request of `body` to `path`, signed now (or at `timestamp`). */
export function signedHeaders(partner: string, secret: Uint8Array, method: string, path: string, body: Uint8Array | string, timestamp = Math.floor(Date.now() / 1000)): Record<string, string> {
  return {
    'X-MyKey-Partner': partner,
    'X-MyKey-Timestamp': String(timestamp),
    'X-MyKey-Signature': signature(secret, { timestamp, method, path, bodySha256: bodySha256(body) }),
  };
}

/**
 * The headers of a batch upload of `body` to `path`, signed now (or at `timestamp`) over its
 * declared length and hash: Content-Length and X-MyKey-Content-SHA256 included.
 */
export function signedUploadHeaders(partner: string, secret: Uint8Array, method: string, path: string, body: { sha256: string; length: number }, timestamp = Math.floor(Date.now() / 1000)): Record<string, string> {
  return {
    'X-MyKey-Partner': partner,
    'X-MyKey-Timestamp': String(timestamp),
    'X-MyKey-Content-SHA256': body.sha256,
    'Content-Length': String(body.length),
    'X-MyKey-Signature': signature(secret, { timestamp, method, path, bodySha256: body.sha256, contentLength: body.length }),
  };
}

/** Whether `given` is the signature of these parts, compared in constant time. */
export function signatureMatches(secret: Uint8Array, parts: SignedParts, given: string): boolean {
  const expected = Buffer.from(signature(secret, parts), 'latin1');
  const actual = Buffer.from(given, 'latin1');
  return actual.length === expected.length && timingSafeEqual(actual, expected);
}

/** A timestamp header as Unix seconds, or undefined when it is not a plain whole number. */
export function parseTimestamp(value: string | undefined): number | undefined {
  return value !== undefined && /^[0-9]{1,12}$/.test(value) ? Number(value) : undefined;
}

/** Whether a timestamp is within the tolerance of `now`. */
export function timestampFresh(timestamp: number, now: Date): boolean {
  return Math.abs(now.getTime() / 1000 - timestamp) <= TIMESTAMP_TOLERANCE_S;
}
