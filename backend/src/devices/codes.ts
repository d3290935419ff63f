// The two secrets of device enrollment: the code a clerk types at the counter PC, and the
// token the enrolled agent then sends on every request. Both are stored only as SHA-256.
import { randomBytes } from 'node:crypto';
// No 0/O or 1/I: a clerk reads the code off one screen and types it on another, as with MyKey IDs.
import { MYKEY_ALPHABET as CODE_ALPHABET } from '@mykey/contracts/mykey-id.ts';

const CODE_LENGTH = 10;
const TOKEN_PREFIX = 'mkd_';
const TOKEN_PATTERN = /^mkd_[A-Za-z0-9_-]{43}$/;

/** 10 characters of 32 (50 bits): beyond guessing in its ten minutes, with failures rate-limited. */
export function newEnrollmentCode(): string {
  // 32 letters: the low five bits of a random byte pick one without bias.
  return [...randomBytes(CODE_LENGTH)].map((byte) => CODE_ALPHABET[byte & 31]).join('');
}

/** `K7QM3XPA9D` → `K7QM-3XPA-9D`, easier to read aloud and to type. */
export function groupCode(code: string): string {
  return code.match(/.{1,4}/g)!.join('-');
}

/** What the clerk typed, in the stored form; null when it cannot be a code at all. */
export function normalizeCode(typed: string): string | null {
  const code = typed.replace(/[\s-]/g, '').toUpperCase();
  return code.length === CODE_LENGTH && [...code].every((c) => CODE_ALPHABET.includes(c)) ? code : null;
}

/** 32 random bytes; the prefix makes a leaked token recognisable to secret scanners and people. */
export function newDeviceToken(): string {
  return `${TOKEN_PREFIX}${randomBytes(32).toString('base64url')}`;
}

export function isDeviceTokenShaped(value: string): boolean {
  return TOKEN_PATTERN.test(value);
}
