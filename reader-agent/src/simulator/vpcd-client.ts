// Plugs a simulated card (normally a JpkiCard) into pcscd through the vsmartcard "vpcd"
// reader driver.
// vpcd listens on TCP; a connected client *is* the card in the reader, so inserting the
// card means connecting and removing it means closing the connection.
// Every message is a 2-byte big-endian length and a payload. A 1-byte payload is a control
// message (00 power off, 01 power on, 02 reset, 04 get ATR); anything longer is an APDU.
import { connect, type Socket } from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';
import type { ApduLog } from './apdu-log.ts';
/** What vpcd needs of a card: the JpkiCard, or another kind (`card-sim --card other`). */
export interface SimulatedCard {
  readonly atr: Buffer;
  readonly isPowered: boolean;
  powerOn(): Buffer;
  powerOff(): void;
  reset(): Buffer;
  transmit(command: Uint8Array): Buffer;
}

const CTRL = { OFF: 0x00, ON: 0x01, RESET: 0x02, ATR: 0x04 } as const;

/** How long to wait before trying vpcd again when it is not (yet) listening. */
const RECONNECT_MS = 250;

export interface VpcdClientOptions {
  host: string;
  port: number;
  card: SimulatedCard;
  log: ApduLog;
  /** Delay before each APDU response, to behave like a real (slow) card. */
  latencyMs?: number;
  /**
   * Answer this many APDUs, then none until the card loses the reader (removed, or vpcd gone),
   * once: a test can then pull the card or the reader while an operation is certainly under way.
   */
  stallAfter?: number;
  /** Human-readable state changes: inserted, removed, power on, off-limits selections. */
  onStatus?: (message: string) => void;
}

export class VpcdClient {
  private socket: Socket | undefined;
  private wantInserted = false;
  private connected = false;
  // Whether the person who started the simulator was told it waits for vpcd (once per wait).
  private toldWaiting = false;
  private pending = Buffer.alloc(0);
  // Messages are handled strictly one after another, even with an artificial latency.
  private queue: Promise<void> = Promise.resolve();
  private reconnectTimer: NodeJS.Timeout | undefined;
  /** APDUs still answered before the card goes mute (stallAfter); undefined once it has stalled, or never will. */
  private answersBeforeStall: number | undefined;
  private mute = false;

  constructor(private readonly options: VpcdClientOptions) {
    this.answersBeforeStall = options.stallAfter;
  }

  get isInserted(): boolean {
    return this.wantInserted;
  }

  insert(): void {
    if (this.wantInserted) return;
    this.wantInserted = true;
    this.options.log.event('card', 'inserted');
    this.connect();
  }

  remove(): void {
    if (!this.wantInserted) return;
    this.wantInserted = false;
    clearTimeout(this.reconnectTimer);
    this.socket?.destroy();
    this.socket = undefined;
    this.connected = false;
    this.speakAgain();
    // Pulling the card cuts its power: everything in RAM is gone.
    this.options.card.powerOff();
    this.options.log.event('card', 'removed');
    this.status('card removed');
  }

  private status(message: string): void {
    this.options.onStatus?.(message);
  }

  private connect(): void {
    const socket = connect({ host: this.options.host, port: this.options.port });
    this.socket = socket;
    this.pending = Buffer.alloc(0);
    socket.setNoDelay(true);
    socket.on('connect', () => {
      this.connected = true;
      this.toldWaiting = false;
      this.status(`card inserted (connected to vpcd ${this.options.host}:${this.options.port})`);
    });
    socket.on('data', (chunk) => this.receive(chunk));
    socket.on('error', () => {
      // ECONNREFUSED while vpcd is not up yet, or a reset connection; 'close' follows.
    });
    socket.on('close', () => this.lost(socket));
  }

  /** The reader went away (pcscd stopped or restarted): keep trying while the card is "in". */
  private lost(socket: Socket): void {
    if (socket !== this.socket) return;
    this.speakAgain();
    if (this.connected) {
      this.connected = false;
      this.options.card.powerOff();
      this.status('vpcd connection lost; retrying');
    }
    if (!this.wantInserted) return;
    if (!this.toldWaiting) {
      this.toldWaiting = true;
      this.status(`waiting for the virtual reader (vpcd) on ${this.options.host}:${this.options.port}: it is there while pcscd runs with the vsmartcard-vpcd driver. `
        + 'Under systemd, pcscd starts when a PC/SC program (the reader agent) connects; otherwise start it as root: pcscd');
    }
    this.reconnectTimer = setTimeout(() => this.connect(), RECONNECT_MS);
  }

  private receive(chunk: Buffer): void {
    this.pending = Buffer.concat([this.pending, chunk]);
    while (this.pending.length >= 2) {
      const size = this.pending.readUInt16BE(0);
      if (this.pending.length < 2 + size) return;
      const payload = this.pending.subarray(2, 2 + size);
      this.pending = this.pending.subarray(2 + size);
      const socket = this.socket;
      this.queue = this.queue.then(() => this.handle(payload, socket));
    }
  }

  private async handle(payload: Buffer, socket: Socket | undefined): Promise<void> {
    if (!socket || socket !== this.socket || socket.destroyed) return;
    if (payload.length === 1) {
      this.control(payload[0]!, socket);
      return;
    }
    if (!this.options.card.isPowered) {
      // A real card without power is mute; vpcd then drops the card, as pcscd would.
      this.status('APDU received while the card is unpowered; dropping the connection');
      socket.destroy();
      return;
    }
    if (this.answersBeforeStall === 0) {
      this.mute = true;
      this.status('stalled: answering no APDU until the card loses the reader (--stall-after)');
      return;
    }
    if (this.answersBeforeStall !== undefined) this.answersBeforeStall -= 1;
    if (this.options.latencyMs) await sleep(this.options.latencyMs);
    if (socket !== this.socket || socket.destroyed) return;
    const resp = this.options.card.transmit(payload);
    const record = this.options.log.apdu(payload, resp);
    if (record.warning) this.status(`WARNING: ${record.warning}`);
    send(socket, resp);
  }

  /** A card that stalled answers again once it has lost the reader. */
  private speakAgain(): void {
    if (!this.mute) return;
    this.mute = false;
    this.answersBeforeStall = undefined;
  }

  private control(code: number, socket: Socket): void {
    const card = this.options.card;
    if (code === CTRL.ATR) {
      // vpcd asks for the ATR every few hundred ms to see whether the card is still there;
      // those polls are not logged.
      send(socket, card.atr);
    } else if (code === CTRL.ON) {
      card.powerOn();
      this.options.log.event('power', 'on');
      this.status('power on');
    } else if (code === CTRL.OFF) {
      card.powerOff();
      this.options.log.event('power', 'off');
      this.status('power off');
    } else if (code === CTRL.RESET) {
      card.reset();
      this.options.log.event('power', 'reset');
      this.status('reset');
    }
  }
}

function send(socket: Socket, payload: Uint8Array): void {
  const header = Buffer.alloc(2);
  header.writeUInt16BE(payload.length, 0);
  socket.write(Buffer.concat([header, Buffer.from(payload)]));
}

/** Parses "HOST:PORT" (default port 35963, vpcd's own default). */
export function parseHostPort(value: string): { host: string; port: number } {
  const match = /^(.*):(\d+)$/.exec(value);
  const host = match ? match[1]! : value;
  const port = match ? Number(match[2]) : 35963;
  if (!host || port < 1 || port > 65535) throw new Error(`not HOST:PORT: ${value}`);
  return { host, port };
}
