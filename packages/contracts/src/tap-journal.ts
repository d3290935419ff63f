// A counter's journal of PIN-less taps it could not send (a shelter's check-ins while the network
// is down): the reader agent signs each entry with the device's own Ed25519 key when it writes
// it, and sends the entries in order once the backend is reachable; the backend checks the
// signature against the key the device registered and records the tap at the time it was made.
// The text below is what is signed, byte for byte, on both sides.

/** An entry's id: the agent's, unique, also the Idempotency-Key's tail, so a second send records once. */
export const JOURNAL_ENTRY_ID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

/** How old an entry the backend still records: a disaster's outage may last days, not a season. */
export const JOURNAL_MAX_AGE_DAYS = 14;

/** How far in the future (the PC's clock ahead of the server's) an entry's time may be. */
export const JOURNAL_CLOCK_SKEW_MS = 5 * 60_000;

export interface JournalEntryFields {
  deviceId: number;
  id: string;
  purpose: string;
  /** ISO 8601 UTC, as the agent wrote it when the card was tapped. */
  tappedAt: string;
  /** SHA-256 of the certificate's DER, lowercase hex. */
  certificateSha256: string;
}

/** An entry as the agent keeps it and sends it: the certificate and signature base64. */
export interface JournalEntry { id: string; purpose: string; certificate: string; tappedAt: string; signature: string }

/** The text the device signs for an entry: its id, its purpose, its time and the card it read. */
export function journalEntryText(entry: JournalEntryFields): Buffer {
  return Buffer.from([
    'mykey-tap-journal-entry-v1',
    `device: ${entry.deviceId}`,
    `id: ${entry.id}`,
    `purpose: ${entry.purpose}`,
    `tapped-at: ${entry.tappedAt}`,
    `certificate-sha256: ${entry.certificateSha256}`,
    '',
  ].join('\n'), 'utf8');
}

/** The Idempotency-Key an entry is sent under, whichever attempt it is. */
export const journalIdempotencyKey = (id: string) => `journal-${id}`;
