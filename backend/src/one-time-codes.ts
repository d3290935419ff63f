// One-time codes a person reads off one screen and types on another: a device's enrollment code
// (devices/) and a staff invitation code (staff/invitations.ts). Stored only as SHA-256 by their
// owners; wrong ones are counted per address (one-time-code-limit.ts).
import { randomBytes } from 'node:crypto';
// No 0/O or 1/I: a clerk reads the code off one screen and types it on another, as with MyKey IDs.
import { MYKEY_ALPHABET as CODE_ALPHABET } from '@mykey/contracts/mykey-id.ts';

const CODE_LENGTH = 10;

/** 10 characters of 32 (50 bits): beyond guessing in its short life, with failures rate-limited. */
export function newOneTimeCode(): string {
  // 32 letters: the low five bits of a random byte pick one without bias.
  return [...randomBytes(CODE_LENGTH)].map((byte) => CODE_ALPHABET[byte & 31]).join('');
}

/** `K7QM3XPA9D` → `K7QM-3XPA-9D`, easier to read aloud and to type. */
export function groupCode(code: string): string {
  return code.match(/.{1,4}/g)!.join('-');
}

/** What the person typed, in the stored form; null when it cannot be a code at all. */
export function normalizeCode(typed: string): string | null {
  const code = typed.replace(/[\s-]/g, '').toUpperCase();
  return code.length === CODE_LENGTH && [...code].every((c) => CODE_ALPHABET.includes(c)) ? code : null;
}
