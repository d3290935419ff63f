// The audit log's keys: one keys the chain's hashes (HMAC-SHA-256), the other the hashes by
// which events refer to their free texts. Both are derived from MYKEY_SECRET under labels of
// their own (subkeys.ts), so they live outside MySQL, as long as the secret (which is kept for
// good), and no second secret has to be made, kept and handed to every process.
//
// One deployment has one secret, so the keys are set once per process, at start, by each entry
// point that appends to or checks the log (server, worker, `npm run mykey` commands) and by the
// tests' helpers. A process that never set them cannot append: it would write a chain that no
// verifier could check.
import { subkey } from '../subkeys.ts';

const LABEL_CHAIN = 'mykey/audit-chain/v1';
const LABEL_TEXT = 'mykey/audit-text/v1';

export interface AuditKeys {
  /** HMAC key of the chain's hashes from the keyed boundary on. */
  chain: Buffer;
  /** HMAC key of the free texts' references. */
  text: Buffer;
}

let configured: AuditKeys | undefined;

// Exported for the tests too: they check a chain against keys other than this process's.
export function auditKeysOf(mykeySecret: Buffer): AuditKeys {
  return { chain: subkey(mykeySecret, LABEL_CHAIN), text: subkey(mykeySecret, LABEL_TEXT) };
}

/** Sets this process's audit keys from its MyKey secret (mykeySecret(config)). */
export function useAuditSecret(mykeySecret: Buffer): void {
  configured = auditKeysOf(mykeySecret);
}

/** This process's audit keys; throws when the entry point did not set them. */
export function auditKeys(): AuditKeys {
  if (!configured) throw new Error('the audit keys are not set: the entry point must call useAuditSecret(mykeySecret(config)) at start');
  return configured;
}
