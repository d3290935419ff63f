// A device's bearer token, the secret the enrolled agent sends on every request; stored only as
// SHA-256. The enrollment code a clerk types first is a one-time code (../one-time-codes.ts).
import { randomBytes } from 'node:crypto';

const TOKEN_PREFIX = 'mkd_';
const TOKEN_PATTERN = /^mkd_[A-Za-z0-9_-]{43}$/;

/** 32 random bytes; the prefix makes a leaked token recognisable to secret scanners and people. */
export function newDeviceToken(): string {
  return `${TOKEN_PREFIX}${randomBytes(32).toString('base64url')}`;
}

export function isDeviceTokenShaped(value: string): boolean {
  return TOKEN_PATTERN.test(value);
}
