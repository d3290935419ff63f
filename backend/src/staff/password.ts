import { randomBytes, scrypt, timingSafeEqual, type ScryptOptions } from 'node:crypto';
import { dictionary } from '@zxcvbn-ts/language-common';

// scrypt with a per-password salt, at the configured N (STAFF_PASSWORD_SCRYPT_N: OWASP's 2^17 in
// production) and OWASP's r=8, p=1. The parameters travel inside the stored string, so a hash made
// at a lower cost still verifies and is made again at today's cost at the next sign-in (needsRehash).
const R = 8;
const P = 1;
const KEY_LENGTH = 32;
// scrypt needs 128·N·r bytes; Node refuses more than 32 MiB unless told.
const maxmem = (options: ScryptOptions) => 256 * (options.N ?? 0) * (options.r ?? 0);

const MIN_PASSWORD_LENGTH = 12;
export const MAX_PASSWORD_LENGTH = 256;

// The common-password list of zxcvbn-ts (about 49,000 passwords seen most in breaches), kept
// as a set; compared in lower case so a capital letter does not make a common password new.
const commonPasswords = new Set(dictionary['passwords-common'].map((password) => password.toLowerCase()));

function derive(password: string, salt: Buffer, options: ScryptOptions): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    scrypt(password.normalize('NFC'), salt, KEY_LENGTH, { ...options, maxmem: maxmem(options) }, (error, key) => (error ? reject(error) : resolve(key)));
  });
}

const stored = (N: number, salt: Buffer, key: Buffer) => `scrypt$${N}$${R}$${P}$${salt.toString('base64')}$${key.toString('base64')}`;

/** A password's hash at scrypt cost `N` (config.ts staffPasswordCost). */
export async function hashPassword(password: string, N: number): Promise<string> {
  const salt = randomBytes(16);
  return stored(N, salt, await derive(password, salt, { N, r: R, p: P }));
}

interface StoredHash { N: number; r: number; p: number; salt: Buffer; key: Buffer }

function parseHash(stored: string): StoredHash | undefined {
  const [scheme, n, r, p, salt, key] = stored.split('$');
  const [N, R, P] = [Number(n), Number(r), Number(p)];
  if (scheme !== 'scrypt' || !salt || !key || ![N, R, P].every((value) => Number.isInteger(value) && value > 0)) return undefined;
  return { N, r: R, p: P, salt: Buffer.from(salt, 'base64'), key: Buffer.from(key, 'base64') };
}

export async function verifyPassword(password: string, stored: string): Promise<boolean> {
  const hash = parseHash(stored);
  if (!hash) return false;
  const actual = await derive(password, hash.salt, { N: hash.N, r: hash.r, p: hash.p });
  return actual.length === hash.key.length && timingSafeEqual(actual, hash.key);
}

/** Whether a stored hash was made at a lower cost than today's `N`: it is made again once its password is known. */
export function needsRehash(storedHash: string, N: number): boolean {
  const hash = parseHash(storedHash);
  return !hash || hash.N < N || hash.r < R || hash.p < P;
}

/** A hash at cost `N` no password matches, checked when the login ID is unknown so timing does not reveal which IDs exist. */
export function unknownAccountHash(N: number): string {
  return stored(N, Buffer.alloc(16), Buffer.alloc(KEY_LENGTH));
}

/** Why a new password is refused, or undefined when it may be used (ASVS 2.1: length and a common-password list, no composition rules). */
export function passwordWeakness(password: string, loginId: string): 'too_short' | 'too_long' | 'common' | undefined {
  const length = [...password.normalize('NFC')].length;
  if (length < MIN_PASSWORD_LENGTH) return 'too_short';
  if (length > MAX_PASSWORD_LENGTH) return 'too_long';
  const lower = password.toLowerCase();
  if (commonPasswords.has(lower) || lower === loginId.toLowerCase()) return 'common';
  return undefined;
}
