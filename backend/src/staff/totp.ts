// The second factor of staff sign-in: TOTP (RFC 6238: HMAC-SHA1, 6 digits, 30-second steps,
// what every authenticator app reads from an otpauth:// QR code), through the otpauth library,
// and single-use recovery codes for a lost phone. A code is accepted one step either side of
// now (a phone's clock drifts) and, per account, only for a step later than the last one used:
// a code seen over a shoulder or replayed from a log opens nothing.
import { createHash } from 'node:crypto';
import { Secret, TOTP } from 'otpauth';
import type { TotpEnrolment } from '@mykey/contracts/staff.ts';
import QRCode from 'qrcode';
import { seal, unseal } from '../sealing.ts';

const SEALING_LABEL = 'mykey/staff-totp/v1';
const PERIOD_SECONDS = 30;
const RECOVERY_CODES = 10;

const TOTP_CODE = /^\d{6}$/;

function totp(secret: string, loginId: string): TOTP {
  return new TOTP({ issuer: 'MyKey', label: loginId, algorithm: 'SHA1', digits: 6, period: PERIOD_SECONDS, secret: Secret.fromBase32(secret) });
}

/** A new TOTP secret: 160 random bits (RFC 4226's recommendation), as base32 for typing into an app. */
export function newTotpSecret(): string {
  return new Secret({ size: 20 }).base32;
}

/** What the console shows to enrol: the otpauth:// URI, and a QR code of it as SVG markup. */
export async function totpEnrolment(secret: string, loginId: string): Promise<TotpEnrolment> {
  const uri = totp(secret, loginId).toString();
  return { secret, uri, qrSvg: await QRCode.toString(uri, { type: 'svg', errorCorrectionLevel: 'M', margin: 2 }) };
}

/** The time step the code belongs to (now, or one either side), or undefined when it matches none. */
export function matchingStep(secret: string, loginId: string, code: string, now: Date): number | undefined {
  if (!TOTP_CODE.test(code)) return undefined;
  const delta = totp(secret, loginId).validate({ token: code, timestamp: now.getTime(), window: 1 });
  return delta === null ? undefined : Math.floor(now.getTime() / 1000 / PERIOD_SECONDS) + delta;
}

// Sealed with the account bound in: a secret copied onto another account's row does not open.
export function sealTotpSecret(mykeySecret: Buffer, staffId: number, secret: string): Buffer {
  return seal(mykeySecret, SEALING_LABEL, `staff:${staffId}`, secret);
}

export function unsealTotpSecret(mykeySecret: Buffer, staffId: number, sealed: Buffer): string {
  return unseal(mykeySecret, SEALING_LABEL, `staff:${staffId}`, sealed);
}

/** Ten recovery codes of 80 random bits each, written as four groups of four base32 letters. */
export function newRecoveryCodes(): string[] {
  return Array.from({ length: RECOVERY_CODES }, () => new Secret({ size: 10 }).base32.match(/.{4}/g)!.join('-'));
}

/** Stored as SHA-256 of the code without dashes or case: 80 random bits need no slow hash. */
export function recoveryCodeHash(code: string): Buffer {
  return createHash('sha256').update(code.toUpperCase().replace(/[\s-]/g, '')).digest();
}
