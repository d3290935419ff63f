// A partner's API secret is needed in clear to check its HMACs and sign its webhooks, so it
// cannot be stored hashed. It is sealed with AES-256-GCM under a subkey of MYKEY_SECRET: a
// copy of the database alone gives nobody a partner's secret.
import { createCipheriv, createDecipheriv, randomBytes } from 'node:crypto';
import { subkey } from '../subkeys.ts';

const LABEL = 'mykey/partner-secret/v1';
const VERSION = 1;
const IV_BYTES = 12;
const TAG_BYTES = 16;

/** A new partner API secret: 32 random bytes, given to the partner as 64 hex characters. */
export function newPartnerSecret(): string {
  return randomBytes(32).toString('hex');
}

/** version (1 byte) ‖ IV (12) ‖ ciphertext ‖ tag (16); the partner id is bound in as associated data. */
export function sealPartnerSecret(mykeySecret: Buffer, partnerId: number, apiSecret: string): Buffer {
  const iv = randomBytes(IV_BYTES);
  const cipher = createCipheriv('aes-256-gcm', subkey(mykeySecret, LABEL), iv);
  cipher.setAAD(associatedData(partnerId));
  const ciphertext = Buffer.concat([cipher.update(apiSecret, 'utf8'), cipher.final()]);
  return Buffer.concat([Buffer.of(VERSION), iv, ciphertext, cipher.getAuthTag()]);
}

/** The secret sealed for this partner; throws when it was sealed under another key or for another partner. */
export function unsealPartnerSecret(mykeySecret: Buffer, partnerId: number, sealed: Buffer): string {
  if (sealed.length < 1 + IV_BYTES + TAG_BYTES || sealed[0] !== VERSION) throw new Error('not a sealed partner secret');
  const decipher = createDecipheriv('aes-256-gcm', subkey(mykeySecret, LABEL), sealed.subarray(1, 1 + IV_BYTES));
  decipher.setAAD(associatedData(partnerId));
  decipher.setAuthTag(sealed.subarray(sealed.length - TAG_BYTES));
  return Buffer.concat([decipher.update(sealed.subarray(1 + IV_BYTES, sealed.length - TAG_BYTES)), decipher.final()]).toString('utf8');
}

function associatedData(partnerId: number): Buffer {
  return Buffer.from(`partner:${partnerId}`, 'ascii');
}
