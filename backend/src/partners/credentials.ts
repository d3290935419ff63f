// An API secret (a partner's, a town service's) is needed in clear to check its HMACs and sign
// its webhooks, so it cannot be stored hashed: it is sealed (sealing.ts) with its owner bound
// in (`partner:<id>`, `service:<id>`), so a sealed secret copied to another row does not open.
import { randomBytes } from 'node:crypto';
import { seal, unseal } from '../sealing.ts';

const LABEL = 'mykey/partner-secret/v1';

/** A new API secret: 32 random bytes, given to the partner (or service) as 64 hex characters. */
export function newPartnerSecret(): string {
  return randomBytes(32).toString('hex');
}

/** Seals an API secret for its owner (`partner:<id>`, `service:<id>`). */
export function sealApiSecret(mykeySecret: Buffer, owner: string, apiSecret: string): Buffer {
  return seal(mykeySecret, LABEL, owner, apiSecret);
}

/** The secret sealed for this owner; throws when it was sealed under another key or for another owner. */
export function unsealApiSecret(mykeySecret: Buffer, owner: string, sealed: Buffer): string {
  return unseal(mykeySecret, LABEL, owner, sealed);
}

export function sealPartnerSecret(mykeySecret: Buffer, partnerId: number, apiSecret: string): Buffer {
  return sealApiSecret(mykeySecret, `partner:${partnerId}`, apiSecret);
}

export function unsealPartnerSecret(mykeySecret: Buffer, partnerId: number, sealed: Buffer): string {
  return unsealApiSecret(mykeySecret, `partner:${partnerId}`, sealed);
}
