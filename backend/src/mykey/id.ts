// The MyKey ID: a resident's account number, 8 characters from an alphabet without
// look-alikes (no 0/1/I/O): 7 payload characters derived from the card's certificate with a
// keyed HMAC, then 1 check character. Pure functions; docs/mykey-id.md has the arithmetic.
import { createHmac, hkdfSync } from 'node:crypto';

/** 32 symbols: the digits 2-9 and the letters A-Z without I and O. Symbol i has value i. */
export const MYKEY_ALPHABET = '23456789ABCDEFGHJKLMNPQRSTUVWXYZ';

const PAYLOAD_LENGTH = 7;
const ID_LENGTH = PAYLOAD_LENGTH + 1;
// Longer input is refused before normalising it, so a hostile string costs nothing.
const MAX_INPUT_LENGTH = 64;
// Separators people type between groups, on Latin and Japanese keyboards (ー is what an IME
// gives for "-"; NFKC turns full-width hyphens and the ideographic space into ASCII first).
const SEPARATORS = /[\s\-‐‑‒–—―−ー]/gu;

/*
 * The check character: Damm's scheme over a totally anti-symmetric quasigroup of order 32.
 *
 * Symbols are elements of GF(32) = GF(2)[x] / (x^5 + x^2 + 1); addition is XOR. Define
 *   u ∘ v = a·u + v   with a = x (the value 2).
 * A string s1..sn is valid when ((0 ∘ s1) ∘ s2) ... ∘ sn = 0.
 *
 * Quasigroup: for fixed u, v ↦ a·u + v is a bijection (a translation); for fixed v,
 * u ↦ a·u + v is a bijection because a ≠ 0 is invertible. So the running value after any
 * position is a bijective function of the symbol there and of the value before it, and
 * every later step maps different values to different values.
 *
 * Single substitution: changing s_i to s_i' ≠ s_i changes the running value after i (v ↦ u∘v
 * is injective); every later step keeps them different (u ↦ u∘v is injective), so the end
 * value is no longer 0. Caught, at every position including the check character.
 *
 * Adjacent transposition of s_i ≠ s_{i+1}, with u the value before them:
 *   (u ∘ p) ∘ q = a²u + a·p + q     and     (u ∘ q) ∘ p = a²u + a·q + p.
 * They are equal only if (a + 1)·p = (a + 1)·q; a + 1 ≠ 0 (a ≠ 1), so only if p = q. This is
 * total anti-symmetry, and it holds for every u, so it covers the last payload character
 * swapped with the check character too. The values after the pair differ, and later steps
 * keep them apart as above. Caught.
 *
 * Not guaranteed (and not claimed): twin errors (aa → bb) and jump transpositions (abc → cba).
 * The check character is the unique c with interim ∘ c = 0, that is c = a·interim.
 */
const FIELD_MODULUS = 0b100101; // x^5 + x^2 + 1, irreducible over GF(2)

/** a·u in GF(32) with a = x: shift left, and reduce when x^5 appears. */
function timesX(u: number): number {
  return (u << 1) ^ (u & 0b10000 ? FIELD_MODULUS : 0);
}

/** The running value after the given symbol values, starting from 0. */
function interim(values: number[]): number {
  return values.reduce((u, v) => timesX(u) ^ v, 0);
}

function checkValue(payload: number[]): number {
  return timesX(interim(payload));
}

function encode(values: number[]): string {
  return values.map((v) => MYKEY_ALPHABET[v]).join('');
}

// Each use of the secret gets its own key, so an ID and a certificate key never share one.
const LABEL_ID = 'mykey/id/v1';
const LABEL_CERTIFICATE = 'mykey/certificate-key/v1';

function subkey(secret: Buffer, label: string): Buffer {
  return Buffer.from(hkdfSync('sha256', secret, Buffer.alloc(0), label, 32));
}

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

export type MykeyIdProblem = 'mykey_id_malformed' | 'mykey_id_check_failed';

/**
 * A MyKey ID as a person typed it, in its one canonical spelling, or why not. Accepts lower
 * case, full-width characters (NFKC), spaces and hyphens; never guesses a correction.
 */
export function parseMykeyId(input: string): { ok: true; id: string } | { ok: false; code: MykeyIdProblem; detail: string } {
  if (input.length > MAX_INPUT_LENGTH) return { ok: false, code: 'mykey_id_malformed', detail: `a MyKey ID has ${ID_LENGTH} characters; the input is far longer` };
  // Upper-casing ASCII only: Unicode upper-casing turns ß into SS and ı into I.
  const id = input.normalize('NFKC').replace(SEPARATORS, '').replace(/[a-z]/g, (c) => c.toUpperCase());
  for (const character of id) {
    if (!MYKEY_ALPHABET.includes(character)) {
      return { ok: false, code: 'mykey_id_malformed', detail: `${JSON.stringify(character)} is not a MyKey ID character (they are 2-9 and A-Z without I and O)` };
    }
  }
  if (id.length !== ID_LENGTH) return { ok: false, code: 'mykey_id_malformed', detail: `a MyKey ID has ${ID_LENGTH} characters, not ${id.length}` };
  if (interim([...id].map((c) => MYKEY_ALPHABET.indexOf(c))) !== 0) {
    return { ok: false, code: 'mykey_id_check_failed', detail: 'the check character does not match: a character is mistyped or two are swapped' };
  }
  return { ok: true, id };
}
