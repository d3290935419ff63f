// The counter's journal of PIN-less taps the backend could not take when they were made (a
// shelter's check-ins while the network is down). Each entry is signed with the device's own
// Ed25519 key and made durable (fsync) before the tap is answered, so it survives a restart of
// the agent and of the PC; the entries go to the backend in the order they were made, each under
// an Idempotency-Key of its own id, so an entry sent twice (the answer lost, the agent killed
// before it took the entry out) is recorded once. docs/tap-journal.md.
import { createHash, createPrivateKey, createPublicKey, generateKeyPairSync, randomUUID, sign, type KeyObject } from 'node:crypto';
import { closeSync, existsSync, fsyncSync, mkdirSync, openSync, readFileSync, renameSync, writeSync } from 'node:fs';
import path from 'node:path';
import { journalEntryText, type JournalEntry } from '@mykey/contracts/tap-journal.ts';
import { BackendError, type CardTapAnswer } from './backend-client.ts';
import type { EnrolledDevice } from './card-login.ts';


/** Writes `text` to `file` whole or not at all, durably: a crash leaves the old file or the new one. */
function writeDurably(file: string, text: string): void {
  const partial = `${file}.${process.pid}.tmp`;
  const fd = openSync(partial, 'w', 0o600);
  try {
    writeSync(fd, text);
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
  renameSync(partial, file);
  syncDirectory(path.dirname(file));
}

/** A rename or a new file is durable once its directory is. */
function syncDirectory(dir: string): void {
  const fd = openSync(dir, 'r');
  try {
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
}

const isEntry = (value: unknown): value is JournalEntry => typeof value === 'object' && value !== null
  && ['id', 'purpose', 'certificate', 'tappedAt', 'signature'].every((field) => typeof (value as Record<string, unknown>)[field] === 'string');

export class TapJournal {
  private readonly file: string;
  private readonly keyFile: string;

  /** `dir`: beside the enrollment, readable by this user only. */
  constructor(private readonly dir: string) {
    this.file = path.join(dir, 'reader-agent-journal.jsonl');
    this.keyFile = path.join(dir, 'reader-agent-journal-key.pem');
  }

  /** The device's journal key, made at its first use. */
  private privateKey(): KeyObject {
    if (!existsSync(this.keyFile)) {
      mkdirSync(this.dir, { recursive: true, mode: 0o700 });
      writeDurably(this.keyFile, generateKeyPairSync('ed25519').privateKey.export({ type: 'pkcs8', format: 'pem' }) as string);
    }
    return createPrivateKey(readFileSync(this.keyFile));
  }

  /** What the backend checks the entries' signatures with (SPKI DER). */
  publicKey(): Buffer {
    return createPublicKey(this.privateKey()).export({ type: 'spki', format: 'der' });
  }

  /** The tap as an entry, signed by the device: sent at once when the backend is there, kept otherwise. */
  sign(deviceId: number, purpose: string, certificate: Buffer, at: Date): JournalEntry {
    const id = randomUUID();
    const tappedAt = at.toISOString();
    const certificateSha256 = createHash('sha256').update(certificate).digest('hex');
    const signature = sign(null, journalEntryText({ deviceId, id, purpose, tappedAt, certificateSha256 }), this.privateKey());
    return { id, purpose, certificate: certificate.toString('base64'), tappedAt, signature: signature.toString('base64') };
  }

  /** Keeps the entry, on disk before it returns. */
  append(entry: JournalEntry): void {
    const created = !existsSync(this.file);
    const fd = openSync(this.file, 'a', 0o600);
    try {
      writeSync(fd, `${JSON.stringify(entry)}\n`);
      fsyncSync(fd);
    } finally {
      closeSync(fd);
    }
    if (created) syncDirectory(this.dir);
  }

  /** The entries not yet taken by the backend, oldest first. A line cut short by a crash mid-write was never answered as journaled: it is left out. */
  pending(): JournalEntry[] {
    if (!existsSync(this.file)) return [];
    return readFileSync(this.file, 'utf8').split('\n').flatMap((line) => {
      try {
        const value: unknown = JSON.parse(line);
        return isEntry(value) ? [value] : [];
      } catch {
        return [];
      }
    });
  }

  /** Takes an entry out once the backend answered it. */
  remove(id: string): void {
    const rest = this.pending().filter((entry) => entry.id !== id);
    writeDurably(this.file, rest.map((entry) => `${JSON.stringify(entry)}\n`).join(''));
  }
}

/** The backend is not there (no answer, or a gateway's or its own 5xx): try again later. */
export const backendAway = (error: unknown): boolean => error instanceof BackendError && (error.status === 0 || error.status >= 500);

/** What the counter is told of a tap kept in the journal. */
export interface JournaledTap { purpose: string; journaled: true; id: string; tappedAt: string; waiting: number }

/**
 * Sends the journal's entries, oldest first, while the backend takes them; stops at the first
 * that finds it away, and starts over on the next drain. An entry the backend refuses (a card
 * it does not know, a shelter closed meanwhile) is answered for good: logged and taken out.
 */
export class JournalSender {
  private sending: Promise<void> | undefined;
  private keyRegistered: Promise<unknown> | undefined;

  constructor(readonly journal: TapJournal, private readonly device: EnrolledDevice, private readonly log: (entry: Record<string, unknown>) => void) {}

  get waiting(): number {
    return this.journal.pending().length;
  }

  /**
   * A tap of a purpose that may wait in the journal: signed as an entry either way, so that if
   * its answer is lost, sending it again from the journal is the same request and is recorded
   * once. Sent at once when nothing waits before it and the backend is there; kept otherwise.
   */
  async tap(purpose: string, certificate: Buffer, at: Date): Promise<CardTapAnswer | JournaledTap> {
    const entry = this.journal.sign(this.device.deviceId, purpose, certificate, at);
    if (this.waiting === 0) {
      try {
        return await this.send(entry);
      } catch (error) {
        if (!backendAway(error)) throw error;
      }
    }
    this.journal.append(entry);
    void this.drain();
    return { purpose, journaled: true, id: entry.id, tappedAt: entry.tappedAt, waiting: this.waiting };
  }

  /** One pass over the journal; a pass already under way is joined, not doubled. */
  drain(): Promise<void> {
    this.sending ??= this.sendAll().catch((error: unknown) => {
      this.log({ level: 'error', msg: 'journal not sent', error: String(error) });
    }).finally(() => { this.sending = undefined; });
    return this.sending;
  }

  /** Sends an entry, once the backend has the device's journal key (registered once per run; again after a failure). */
  private async send(entry: JournalEntry): Promise<CardTapAnswer> {
    this.keyRegistered ??= this.device.backend.registerJournalKey(this.journal.publicKey()).catch((error: unknown) => {
      this.keyRegistered = undefined;
      throw error;
    });
    await this.keyRegistered;
    return this.device.backend.sendJournaled(entry);
  }

  private async sendAll(): Promise<void> {
    try {
      for (const entry of this.journal.pending()) {
        try {
          await this.send(entry);
          this.log({ level: 'info', msg: 'journaled tap sent', id: entry.id, purpose: entry.purpose, tappedAt: entry.tappedAt });
        } catch (error) {
          if (!(error instanceof BackendError) || backendAway(error)) throw error;
          this.log({ level: 'warn', msg: 'journaled tap refused by the backend', id: entry.id, purpose: entry.purpose, tappedAt: entry.tappedAt, code: error.code });
        }
        this.journal.remove(entry.id);
      }
    } catch (error) {
      if (!backendAway(error)) throw error;
      this.log({ level: 'info', msg: 'journal waiting for the backend', waiting: this.waiting });
    }
  }
}
