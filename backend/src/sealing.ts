// Secrets the platform must read back in clear (partners' API secrets, staff TOTP secrets)
// cannot be stored hashed. They are sealed with AES-256-GCM under a subkey of MYKEY_SECRET, with
// their owner bound in as associated data: a copy of the database alone gives nobody a secret,
// and a sealed value moved to another row does not open.
import { createCipheriv, createDecipheriv, randomBytes } from 'node:crypto';
import { subkey } from './subkeys.ts';

const VERSION = 1;
const IV_BYTES = 12;
const TAG_BYTES = 16;

/** version (1 byte) ‖ IV (12) ‖ ciphertext ‖ tag (16). */
export function seal(mykeySecret: Buffer, label: string, owner: string, plaintext: string): Buffer {
  const iv = randomBytes(IV_BYTES);
  const cipher = createCipheriv('aes-256-gcm', subkey(mykeySecret, label), iv);
  cipher.setAAD(Buffer.from(owner, 'utf8'));
  const ciphertext = Buffer.concat([cipher.update(plaintext, 'utf8'), cipher.final()]);
  return Buffer.concat([Buffer.of(VERSION), iv, ciphertext, cipher.getAuthTag()]);
}

/** What was sealed for this owner under this label; throws when it was sealed under another key, label or owner. */
export function unseal(mykeySecret: Buffer, label: string, owner: string, sealed: Buffer): string {
  if (sealed.length < 1 + IV_BYTES + TAG_BYTES || sealed[0] !== VERSION) throw new Error(`not a sealed value (${label})`);
  const decipher = createDecipheriv('aes-256-gcm', subkey(mykeySecret, label), sealed.subarray(1, 1 + IV_BYTES));
  decipher.setAAD(Buffer.from(owner, 'utf8'));
  decipher.setAuthTag(sealed.subarray(sealed.length - TAG_BYTES));
  return Buffer.concat([decipher.update(sealed.subarray(1 + IV_BYTES, sealed.length - TAG_BYTES)), decipher.final()]).toString('utf8');
}
