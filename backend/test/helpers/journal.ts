// A counter's journal as the reader agent keeps it (docs/tap-journal.md), for tests that send
// entries themselves: the device's Ed25519 key, registered or not, and entries signed over the
// contract's text, sent under the agent's Idempotency-Key.
import { createHash, generateKeyPairSync, randomUUID, sign, type KeyObject } from 'node:crypto';
import type { IssuedCertificate } from '@mykey/dev-tools/dev-ca/index.ts';
import { journalEntryText, journalIdempotencyKey } from '@mykey/contracts/tap-journal.ts';
import type { Device } from './identity.ts';

export const putJournalKey = (device: Device, spki: Buffer) => device.put('/api/v1/devices/self/journal-key', { publicKey: spki.toString('base64') });

/** A journal key for the device, registered with the backend unless told otherwise. */
export async function journalKey(device: Device, register = true) {
  const { privateKey, publicKey } = generateKeyPairSync('ed25519');
  const spki = publicKey.export({ type: 'spki', format: 'der' });
  if (register) {
    const registered = await putJournalKey(device, spki);
    if (registered.status !== 200) throw new Error(JSON.stringify(registered.body));
  }
  return { privateKey, spki };
}

export type JournalEntry = ReturnType<typeof journalEntry>;

/** An entry as the agent writes it: signed by `privateKey` over the contract's text. */
export function journalEntry(device: Device, privateKey: KeyObject, card: IssuedCertificate, tappedAt: Date, purpose: string) {
  const id = randomUUID();
  const certificateSha256 = createHash('sha256').update(card.certificateDer).digest('hex');
  const signature = sign(null, journalEntryText({ deviceId: device.id, id, purpose, tappedAt: tappedAt.toISOString(), certificateSha256 }), privateKey);
  return { purpose, certificate: card.certificateDer.toString('base64'), journal: { id, tappedAt: tappedAt.toISOString(), signature: signature.toString('base64') } };
}

/** Sends an entry as the agent does, under the entry's own Idempotency-Key. */
export const sendJournaled = (device: Device, body: JournalEntry) => device.post('/api/v1/auth/card-taps', body, journalIdempotencyKey(body.journal.id));
