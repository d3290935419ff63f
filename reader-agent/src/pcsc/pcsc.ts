// Readers and cards through pcscd (the pcsclite addon). Watches readers coming and going
// and cards being placed and removed, reconnects by itself when pcscd restarts, and runs
// each card operation on an exclusive connection that resets the card afterwards, so no
// verified-PIN state outlives the operation that needed it.
import { EventEmitter } from 'node:events';
import pcsclite from 'pcsclite';
import { CardError, type CardErrorCode } from '../jpki/errors.ts';
import { guardedTransmit, type Transmit } from '../jpki/guard.ts';

export interface ReaderState { name: string; cardPresent: boolean; atr?: string }

type PcscLite = ReturnType<typeof pcsclite>;
// The addon's typings do not export its reader class; take it from the 'reader' event.
type CardReader = Parameters<Extract<PcscLite['on'], (type: 'reader', listener: never) => unknown>>[1] extends (reader: infer R) => void ? R : never;

// PC/SC return codes (winscard.h) and what they mean for the person at the counter.
const PCSC_CODES: Array<[number, CardErrorCode]> = [
  [0x8010000b, 'reader_busy'], // SCARD_E_SHARING_VIOLATION
  [0x8010000c, 'no_card'], // SCARD_E_NO_SMARTCARD
  [0x80100069, 'card_removed'], // SCARD_W_REMOVED_CARD
  [0x80100068, 'card_removed'], // SCARD_W_RESET_CARD (someone else reset it under us)
  [0x80100067, 'card_removed'], // SCARD_W_UNPOWERED_CARD
  [0x80100066, 'card_error'], // SCARD_W_UNRESPONSIVE_CARD
  [0x80100009, 'reader_gone'], // SCARD_E_UNKNOWN_READER
  [0x80100017, 'reader_gone'], // SCARD_E_READER_UNAVAILABLE
  [0x8010001d, 'pcsc_unavailable'], // SCARD_E_NO_SERVICE
  [0x8010001e, 'pcsc_unavailable'], // SCARD_E_SERVICE_STOPPED
  // SCARD_F_COMM_ERROR: the client library lost its socket to pcscd, e.g. pcscd stopped (and
  // its readers with it) in the middle of a transmit; the service reconnects by itself.
  [0x80100013, 'pcsc_unavailable'],
  [0x80100003, 'pcsc_unavailable'], // SCARD_E_INVALID_HANDLE (context lost with pcscd)
];

function cardErrorOf(error: { message: string }, whilst: 'connect' | 'transmit'): CardError {
  const code = /0x([0-9a-f]{8})/i.exec(error.message)?.[1];
  const found = code && PCSC_CODES.find(([value]) => value === Number.parseInt(code, 16));
  if (found) return new CardError(whilst === 'transmit' && found[1] === 'no_card' ? 'card_removed' : found[1], { sw: code });
  return new CardError('card_error', { sw: error.message });
}

const RESPONSE_MAX = 258;
const RECONNECT_MS = 1_000;
/**
 * How long a card connection may wait. pcscd answers another program's exclusive hold at once
 * (reader_busy), but holds a connection back, without limit, while another program's PC/SC
 * transaction is open on the reader: the person at the counter is told the reader is busy
 * instead of waiting on a spinner.
 */
export const CONNECT_WAIT_MS = 10_000;

export class PcscService extends EventEmitter<{ change: [ReaderState[]]; available: [boolean]; removed: [string] }> {
  private pcsc: PcscLite | undefined;
  private readers = new Map<string, { reader: CardReader; state: ReaderState }>();
  private busy = new Map<string, Promise<unknown>>();
  /** Readers whose connection pcscd still holds back past CONNECT_WAIT_MS: nothing else goes to them until it ends. */
  private held = new Set<string>();
  private timer: NodeJS.Timeout | undefined;
  private stopped = false;
  // Until the first attempt to reach pcscd has an outcome, there is nothing to announce either way.
  private availabilityKnown = false;
  available = false;

  start(): void {
    this.stopped = false;
    this.connect();
  }

  stop(): void {
    this.stopped = true;
    clearTimeout(this.timer);
    this.drop();
  }

  states(): ReaderState[] {
    return [...this.readers.values()].map((entry) => entry.state);
  }

  /**
   * Runs `operation` with a guarded transmit on the named reader's card (unnamed: the one
   * with a card), and tells it the reader's name. `afterwards: 'reset'` is for operations that
   * verify the PIN: the reset clears the card's verified state; reads leave the card powered,
   * which saves a power cycle.
   */
  async withCard<T>(readerName: string | undefined, afterwards: 'reset' | 'leave', operation: (transmit: Transmit, reader: string) => Promise<T>): Promise<T> {
    const entry = this.entryWithCard(readerName);
    if (this.held.has(entry.state.name)) throw new CardError('reader_busy');
    // One operation per reader at a time: a second request waits instead of interleaving APDUs.
    const previous = this.busy.get(entry.state.name) ?? Promise.resolve();
    const run = previous.catch(() => {}).then(() => this.exclusive(entry.reader, afterwards, (transmit) => operation(transmit, entry.state.name)));
    this.busy.set(entry.state.name, run);
    return run;
  }

  /** The name of the reader `withCard(readerName, …)` would use now; throws as it would when there is none. */
  readerWithCard(readerName: string | undefined): string {
    return this.entryWithCard(readerName).state.name;
  }

  private entryWithCard(readerName: string | undefined): { reader: CardReader; state: ReaderState } {
    if (!this.available) throw new CardError('pcsc_unavailable');
    const entries = [...this.readers.values()];
    // Unnamed: the reader with a card on it (a counter PC usually has one reader).
    const entry = readerName ? this.readers.get(readerName) : (entries.find((e) => e.state.cardPresent) ?? entries[0]);
    if (!entry) throw new CardError('no_reader');
    if (!entry.state.cardPresent) throw new CardError('no_card');
    return entry;
  }

  /**
   * A failure PC/SC gives no clear reason for (a card that answered nothing, or an unmapped
   * code): explain it by what happened around it, whose status events may trail the failure
   * a little. pcscd going away, for one, answers a transmit in flight with "Access denied"
   * (SCARD_W_SECURITY_VIOLATION) or a transport error as it exits; the person at the counter
   * needs "the reader service is gone", not "the card failed".
   */
  private async explain(name: string, unexplained: CardError): Promise<CardError> {
    if (unexplained.code !== 'card_error') return unexplained;
    const deadline = Date.now() + 1_000;
    while (Date.now() < deadline) {
      if (!this.available) return new CardError('pcsc_unavailable', unexplained.details);
      const entry = this.readers.get(name);
      if (!entry) return new CardError('reader_gone', unexplained.details);
      if (!entry.state.cardPresent) return new CardError('card_removed', unexplained.details);
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
    return unexplained;
  }

  private async exclusive<T>(reader: CardReader, afterwards: 'reset' | 'leave', operation: (transmit: Transmit) => Promise<T>): Promise<T> {
    const protocol = await this.connectWithin(reader).catch(async (error: CardError) => { throw await this.explain(reader.name, error); });
    const raw: Transmit = async (command) => {
      const answer = await new Promise<Buffer>((resolve, reject) => {
        reader.transmit(command, RESPONSE_MAX, protocol, (error, data) => (error ? reject(cardErrorOf(error, 'transmit')) : resolve(data)));
      }).catch(async (error: CardError) => { throw await this.explain(reader.name, error); });
      if (answer.length < 2) throw await this.explain(reader.name, new CardError('card_error', { sw: 'no response' }));
      return answer;
    };
    try {
      return await operation(guardedTransmit(raw));
    } finally {
      const disposition = afterwards === 'reset' ? reader.SCARD_RESET_CARD : reader.SCARD_LEAVE_CARD;
      await new Promise<void>((resolve) => reader.disconnect(disposition, () => resolve()));
    }
  }

  /**
   * An exclusive connection to the reader's card, or reader_busy after CONNECT_WAIT_MS. The
   * connection pcscd grants later is let go at once, and the reader takes operations again.
   */
  private connectWithin(reader: CardReader): Promise<number> {
    return new Promise<number>((resolve, reject) => {
      let late = false;
      const timer = setTimeout(() => {
        late = true;
        this.held.add(reader.name);
        reject(new CardError('reader_busy'));
      }, CONNECT_WAIT_MS);
      reader.connect({ share_mode: reader.SCARD_SHARE_EXCLUSIVE }, (error, value) => {
        clearTimeout(timer);
        if (!late) error ? reject(cardErrorOf(error, 'connect')) : resolve(value);
        else if (error) this.held.delete(reader.name);
        else reader.disconnect(reader.SCARD_RESET_CARD, () => this.held.delete(reader.name));
      });
    });
  }

  private connect(): void {
    if (this.stopped) return;
    try {
      this.pcsc = pcsclite();
    } catch {
      this.retry();
      return;
    }
    this.pcsc.on('reader', (reader) => this.watch(reader));
    this.pcsc.on('error', () => this.retry());
    this.setAvailable(true);
  }

  /** pcscd went away (or never came): forget every reader and try again shortly. */
  private retry(): void {
    this.drop();
    this.setAvailable(false);
    clearTimeout(this.timer);
    if (!this.stopped) this.timer = setTimeout(() => this.connect(), RECONNECT_MS);
  }

  private drop(): void {
    // Retries while pcscd stays away drop nothing: no change to tell anyone about.
    const hadReaders = this.readers.size > 0;
    for (const { reader } of this.readers.values()) {
      reader.removeAllListeners();
      // When pcscd dies, each reader's status thread fails too, and its 'error' may arrive
      // after this drop (it races the PCSCLite 'error' that got us here). An 'error' with no
      // listener would throw and take the whole agent down.
      reader.on('error', () => {});
      reader.close();
    }
    this.readers.clear();
    // A connection pcscd was holding back went with it.
    this.held.clear();
    const pcsc = this.pcsc;
    this.pcsc = undefined;
    if (pcsc) {
      pcsc.removeAllListeners();
      pcsc.on('error', () => {});
      pcsc.close();
    }
    if (hadReaders) this.emit('change', this.states());
  }

  private watch(reader: CardReader): void {
    const entry = { reader, state: { name: reader.name, cardPresent: false } as ReaderState };
    this.readers.set(reader.name, entry);
    reader.on('error', () => {});
    reader.on('status', (status) => {
      const cardPresent = (status.state & reader.SCARD_STATE_PRESENT) !== 0;
      const atr = cardPresent && status.atr?.length ? status.atr.toString('hex').toUpperCase() : undefined;
      if (cardPresent === entry.state.cardPresent && atr === entry.state.atr) return;
      const removed = entry.state.cardPresent && !cardPresent;
      entry.state = atr ? { name: reader.name, cardPresent, atr } : { name: reader.name, cardPresent };
      // Only a card seen on this reader and then seen gone: a reader coming back after pcscd
      // restarts starts from "no card" and is not a removal.
      if (removed) this.emit('removed', reader.name);
      this.emit('change', this.states());
    });
    reader.on('end', () => {
      this.readers.delete(reader.name);
      this.emit('change', this.states());
    });
    this.emit('change', this.states());
  }

  private setAvailable(available: boolean): void {
    if (this.availabilityKnown && this.available === available) return;
    this.availabilityKnown = true;
    this.available = available;
    this.emit('available', available);
  }
}
