// A partner's API secret is needed in clear to check its HMACs and sign its webhooks, so it
// cannot be stored hashed: it is sealed (sealing.ts) with the partner id bound in.
import { randomBytes } from 'node:crypto';
import { seal, unseal } from '../sealing.ts';

const LABEL = 'mykey/partner-secret/v1';

/** A new partner API secret: 32 random bytes, given to the partner as 64 hex characters. */
export function newPartnerSecret(): string {
  return randomBytes(32).toString('hex');
}

export function sealPartnerSecret(mykeySecret: Buffer, partnerId: number, apiSecret: string): Buffer {
  return seal(mykeySecret, LABEL, `partner:${partnerId}`, apiSecret);
}

/** The secret sealed for this partner; throws when it was sealed under another key or for another partner. */
export function unsealPartnerSecret(mykeySecret: Buffer, partnerId: number, sealed: Buffer): string {
  return unseal(mykeySecret, LABEL, `partner:${partnerId}`, sealed);
}
