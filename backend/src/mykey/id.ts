// The MyKey ID: a resident's account number, 8 characters from an alphabet without
// look-alikes (no 0/1/I/O): 7 payload characters derived from the card's certificate with a
// keyed HMAC, then 1 check character (@mykey/contracts/mykey-id.ts). Pure functions; docs/mykey-id.md has the arithmetic.
import { createHmac } from 'node:crypto';
import { subkey } from '../subkeys.ts';
import { checkValue, encode, PAYLOAD_LENGTH } from '@mykey/contracts/mykey-id.ts';

export { MYKEY_ALPHABET, parseMykeyId, type MykeyIdProblem } from '@mykey/contracts/mykey-id.ts';

const LABEL_ID = 'mykey/id/v1';
const LABEL_CERTIFICATE = 'mykey/certificate-key/v1';

const SERIAL_HEX = /^(?:00|(?!00)(?:[0-9A-F]{2})+)$/;

/**
 * The card's identity as HMAC input: each field preceded by its length (4 bytes, big-endian),
 * so no two (issuer, serial) pairs give the same bytes.
 */
function cardInput(issuerDer: Buffer, serialHex: string): Buffer {
  // Another spelling of the same serial would give another ID: insist on the one format
  // that jpki/der.ts serialHex writes.
  if (!SERIAL_HEX.test(serialHex)) throw new TypeError('serialHex must be upper-case hex bytes without leading zero bytes');
  if (issuerDer.length === 0) throw new TypeError('issuerDer is empty');
  const serial = Buffer.from(serialHex, 'ascii');
  return Buffer.concat([uint32(issuerDer.length), issuerDer, uint32(serial.length), serial]);
}

function uint32(value: number): Buffer {
  const bytes = Buffer.alloc(4);
  bytes.writeUInt32BE(value);
  return bytes;
}

/**
 * The MyKey ID that try number `attempt` (0, 1, 2, ...) gives this card. Attempt 0 is the
 * card's ID unless another card already holds it; then the issuer tries 1, 2, ... in order.
 */
export function mykeyIdCandidate(secret: Buffer, issuerDer: Buffer, serialHex: string, attempt: number): string {
  if (!Number.isInteger(attempt) || attempt < 0 || attempt > 0xffffffff) throw new RangeError('attempt must be a whole number from 0');
  const mac = createHmac('sha256', subkey(secret, LABEL_ID))
    .update(cardInput(issuerDer, serialHex)).update(uint32(attempt)).digest();
  // The first 35 bits of the MAC, 5 bits per character, most significant first.
  const bits = Math.floor(mac.readUIntBE(0, 5) / 32);
  const payload = Array.from({ length: PAYLOAD_LENGTH }, (_, i) => Math.floor(bits / 32 ** (PAYLOAD_LENGTH - 1 - i)) % 32);
  return encode([...payload, checkValue(payload)]);
}

/** The keyed hash of issuer and serial, stored instead of the certificate to find the card again. */
export function certificateKey(secret: Buffer, issuerDer: Buffer, serialHex: string): Buffer {
  return createHmac('sha256', subkey(secret, LABEL_CERTIFICATE)).update(cardInput(issuerDer, serialHex)).digest();
}
