// Every use of MYKEY_SECRET gets its own key, derived by HKDF under a label, so no two uses
// (MyKey IDs, card keys, sealed partner secrets) ever share one.
import { hkdfSync } from 'node:crypto';

// Derived once per secret and label: every card login needs one, and HKDF is not free.
const subkeys = new Map<string, Buffer>();

export function subkey(secret: Buffer, label: string): Buffer {
  const name = `${label}:${secret.toString('hex')}`;
  let key = subkeys.get(name);
  if (!key) subkeys.set(name, (key = Buffer.from(hkdfSync('sha256', secret, Buffer.alloc(0), label, 32))));
  return key;
}
