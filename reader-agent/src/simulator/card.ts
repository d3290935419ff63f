// A My Number card as a pure state machine: command APDU bytes in, response bytes out.
// No I/O here, so unit tests can drive it directly and the vpcd client only moves bytes.
import { constants, privateEncrypt, timingSafeEqual, type KeyObject } from 'node:crypto';
import { parseCommand, response, SW, toHex, triesLeftSw, type CommandApdu } from './apdu.ts';
import {
  ATR,
  AUTH_PIN_TRIES,
  INPUT_SUPPORT_AID,
  INPUT_SUPPORT_FILES,
  INPUT_SUPPORT_PIN_TRIES,
  JPKI_AID,
  JPKI_FILES,
  OFF_LIMITS_AIDS,
  SIGN_PIN_TRIES,
} from './layout.ts';

/** What the card carries. Certificates are DER; keys are node KeyObjects (RSA). */
export interface JpkiCardContents {
  authCertificate: Uint8Array;
  authPrivateKey: KeyObject;
  authCaCertificate: Uint8Array;
  signCertificate: Uint8Array;
  signPrivateKey: KeyObject;
  signCaCertificate: Uint8Array;
  /** User-authentication PIN: 4 digits. */
  authPin: string;
  /** Signing PIN: 6 to 16 characters. */
  signPin: string;
  /** A FAKE 12-digit number for the off-limits card-info application. */
  myNumber: string;
  /** PIN of the card-info input support application; real cards usually share the auth PIN. */
  inputSupportPin?: string;
}

export type PinId = 'auth' | 'sign' | 'inputSupport';

type ElementaryFile =
  | { kind: 'binary'; data: Buffer; readPin?: PinId }
  | { kind: 'pin'; pin: PinId }
  | { kind: 'key'; key: KeyObject; pin: PinId };

interface Application {
  aid: string;
  files: Map<number, ElementaryFile>;
}

interface PinRecord {
  value: Buffer;
  maxTries: number;
  triesLeft: number;
  minLength: number;
  maxLength: number;
}

/** PKCS#1 v1.5 type 1 padding needs 11 bytes, so a 2048-bit key signs at most 245. */
const PKCS1_OVERHEAD = 11;

export class JpkiCard {
  readonly atr: Buffer = Buffer.from(ATR);
  private readonly applications: Map<string, Application>;
  // Tries counters live in the chip's EEPROM: they survive reset and removal.
  private readonly pins: Map<PinId, PinRecord>;
  // Everything below is RAM: lost on reset, power off or removal.
  private powered = false;
  private currentApp: Application | undefined;
  private currentEf: ElementaryFile | undefined;
  private readonly verified = new Set<PinId>();

  constructor(contents: JpkiCardContents) {
    this.applications = buildApplications(contents);
    this.pins = buildPins(contents);
  }

  get isPowered(): boolean {
    return this.powered;
  }

  /** Cold start: volatile state cleared, the ATR returned. */
  powerOn(): Buffer {
    this.clearVolatileState();
    this.powered = true;
    return Buffer.from(this.atr);
  }

  powerOff(): void {
    this.clearVolatileState();
    this.powered = false;
  }

  /** Warm reset: same effect on state as a power cycle. */
  reset(): Buffer {
    return this.powerOn();
  }

  /** Tries left for a PIN, as the EEPROM holds it (for tests and the CLI status). */
  triesLeft(pin: PinId): number {
    return this.pin(pin).triesLeft;
  }

  transmit(command: Uint8Array): Buffer {
    if (!this.powered) throw new Error('card is not powered');
    if (command.length < 4) return response(SW.WRONG_LENGTH);
    const refusal = checkClassAndInstruction(command[0]!, command[1]!);
    if (refusal !== undefined) return response(refusal);
    const cmd = parseCommand(command);
    if (!cmd) return response(SW.WRONG_LENGTH);
    switch (cmd.ins) {
      case INS.SELECT:
        return this.select(cmd);
      case INS.READ_BINARY:
        return this.readBinary(cmd);
      case INS.VERIFY:
        return this.verify(cmd);
      case INS.SIGN:
        return this.sign(cmd);
      default:
        return response(SW.WRONG_INS);
    }
  }

  private clearVolatileState(): void {
    this.currentApp = undefined;
    this.currentEf = undefined;
    this.verified.clear();
  }

  private pin(id: PinId): PinRecord {
    const record = this.pins.get(id);
    if (!record) throw new Error(`no PIN ${id}`);
    return record;
  }

  private select(cmd: CommandApdu): Buffer {
    // Only "no response data" (P2 = 0C) is offered, which is what every JPKI reader sends.
    if (cmd.p2 !== 0x0c) return response(SW.WRONG_P1P2);
    if (cmd.p1 === 0x04) return this.selectApplication(cmd.data);
    if (cmd.p1 === 0x02) return this.selectFile(cmd.data);
    return response(SW.WRONG_P1P2);
  }

  private selectApplication(aid: Buffer): Buffer {
    if (aid.length < 5 || aid.length > 16) return response(SW.WRONG_LENGTH);
    const app = this.applications.get(toHex(aid));
    if (!app) return response(SW.FILE_NOT_FOUND);
    // Security status belongs to an application; leaving it forgets what was verified.
    if (app !== this.currentApp) this.verified.clear();
    this.currentApp = app;
    this.currentEf = undefined;
    return response(SW.OK);
  }

  private selectFile(fid: Buffer): Buffer {
    if (fid.length !== 2) return response(SW.WRONG_LENGTH);
    const file = this.currentApp?.files.get(fid.readUInt16BE(0));
    if (!file) return response(SW.FILE_NOT_FOUND);
    this.currentEf = file;
    return response(SW.OK);
  }

  private readBinary(cmd: CommandApdu): Buffer {
    // P1 bit 8 would address a file by short identifier, which this card does not offer.
    if (cmd.p1 & 0x80) return response(SW.WRONG_P1P2);
    if (cmd.data.length > 0 || cmd.le === undefined) return response(SW.WRONG_LENGTH);
    const ef = this.currentEf;
    if (!ef) return response(SW.NO_CURRENT_EF);
    if (ef.kind !== 'binary') return response(SW.INCOMPATIBLE_FILE);
    if (ef.readPin && !this.verified.has(ef.readPin)) return response(SW.SECURITY_STATUS);
    const offset = (cmd.p1 << 8) | cmd.p2;
    if (offset >= ef.data.length) return response(SW.OFFSET_OUTSIDE);
    const chunk = ef.data.subarray(offset, offset + cmd.le);
    return response(chunk.length < cmd.le ? SW.END_OF_FILE : SW.OK, chunk);
  }

  private verify(cmd: CommandApdu): Buffer {
    if (cmd.p1 !== 0x00 || cmd.p2 !== 0x80) return response(SW.WRONG_P1P2);
    const ef = this.currentEf;
    if (!ef || ef.kind !== 'pin') return response(SW.NO_CURRENT_EF);
    const pin = this.pin(ef.pin);
    // Without data this is the tries query. The JPKI card answers 63 Cx even when the PIN
    // is already verified or blocked (63 C0), and OpenSC relies on that.
    if (cmd.data.length === 0) return response(triesLeftSw(pin.triesLeft));
    if (cmd.data.length < pin.minLength || cmd.data.length > pin.maxLength) {
      return response(SW.WRONG_LENGTH);
    }
    if (pin.triesLeft === 0) return response(SW.BLOCKED);
    if (!samePin(pin.value, cmd.data)) {
      pin.triesLeft -= 1;
      this.verified.delete(ef.pin);
      return response(triesLeftSw(pin.triesLeft));
    }
    pin.triesLeft = pin.maxTries;
    this.verified.add(ef.pin);
    return response(SW.OK);
  }

  private sign(cmd: CommandApdu): Buffer {
    if (cmd.p1 !== 0x00 || cmd.p2 !== 0x80) return response(SW.WRONG_P1P2);
    if (cmd.le !== undefined && cmd.le !== 256) return response(SW.WRONG_LENGTH);
    const ef = this.currentEf;
    if (!ef || ef.kind !== 'key') return response(SW.NO_CURRENT_EF);
    const maxInput = modulusBytes(ef.key) - PKCS1_OVERHEAD;
    if (cmd.data.length === 0 || cmd.data.length > maxInput) return response(SW.WRONG_LENGTH);
    if (!this.verified.has(ef.pin)) return response(SW.SECURITY_STATUS);
    // The card pads the DigestInfo it is given (PKCS#1 v1.5, block type 1) and exponentiates.
    const signature = privateEncrypt({ key: ef.key, padding: constants.RSA_PKCS1_PADDING }, cmd.data);
    return response(SW.OK, signature);
  }
}

const INS = { SELECT: 0xa4, READ_BINARY: 0xb0, VERIFY: 0x20, SIGN: 0x2a } as const;

/** The class byte each instruction needs: ISO inter-industry, or proprietary 80 for signing. */
const CLASS_OF: ReadonlyMap<number, number> = new Map([
  [INS.SELECT, 0x00],
  [INS.READ_BINARY, 0x00],
  [INS.VERIFY, 0x00],
  [INS.SIGN, 0x80],
]);

/** The ISO order of checks: unknown class first, then unknown instruction, then the pair. */
function checkClassAndInstruction(cla: number, ins: number): number | undefined {
  if (cla !== 0x00 && cla !== 0x80) return SW.WRONG_CLA;
  const wanted = CLASS_OF.get(ins);
  if (wanted === undefined) return SW.WRONG_INS;
  if (wanted !== cla) return SW.WRONG_CLA;
  return undefined;
}

function samePin(stored: Buffer, given: Buffer): boolean {
  return stored.length === given.length && timingSafeEqual(stored, given);
}

function modulusBytes(key: KeyObject): number {
  const bits = key.asymmetricKeyDetails?.modulusLength ?? 2048;
  return Math.ceil(bits / 8);
}

function binary(data: Uint8Array, readPin?: PinId): ElementaryFile {
  return readPin ? { kind: 'binary', data: Buffer.from(data), readPin } : { kind: 'binary', data: Buffer.from(data) };
}

function buildApplications(c: JpkiCardContents): Map<string, Application> {
  const f = JPKI_FILES;
  const jpki = new Map<number, ElementaryFile>([
    [f.authCertificate, binary(c.authCertificate)],
    [f.authCaCertificate, binary(c.authCaCertificate)],
    [f.authPrivateKey, { kind: 'key', key: c.authPrivateKey, pin: 'auth' }],
    [f.authPin, { kind: 'pin', pin: 'auth' }],
    // The signing certificate carries name and address, so the card guards it with the sign PIN.
    [f.signCertificate, binary(c.signCertificate, 'sign')],
    [f.signCaCertificate, binary(c.signCaCertificate)],
    [f.signPrivateKey, { kind: 'key', key: c.signPrivateKey, pin: 'sign' }],
    [f.signPin, { kind: 'pin', pin: 'sign' }],
  ]);
  const inputSupport = new Map<number, ElementaryFile>([
    [INPUT_SUPPORT_FILES.myNumber, binary(Buffer.from(c.myNumber, 'ascii'), 'inputSupport')],
    [INPUT_SUPPORT_FILES.pin, { kind: 'pin', pin: 'inputSupport' }],
  ]);
  const apps = new Map<string, Application>([[JPKI_AID, { aid: JPKI_AID, files: jpki }]]);
  for (const aid of Object.keys(OFF_LIMITS_AIDS)) {
    apps.set(aid, { aid, files: aid === INPUT_SUPPORT_AID ? inputSupport : new Map() });
  }
  return apps;
}

function pinRecord(value: string, maxTries: number, minLength: number, maxLength: number): PinRecord {
  return { value: Buffer.from(value, 'ascii'), maxTries, triesLeft: maxTries, minLength, maxLength };
}

function buildPins(c: JpkiCardContents): Map<PinId, PinRecord> {
  if (!/^\d{4}$/.test(c.authPin)) throw new Error('the user-authentication PIN must be 4 digits');
  if (!/^[0-9A-Z]{6,16}$/.test(c.signPin)) {
    throw new Error('the signing PIN must be 6 to 16 characters of 0-9 and A-Z');
  }
  if (!/^\d{12}$/.test(c.myNumber)) throw new Error('the (fake) My Number must be 12 digits');
  const inputSupportPin = c.inputSupportPin ?? c.authPin;
  return new Map<PinId, PinRecord>([
    ['auth', pinRecord(c.authPin, AUTH_PIN_TRIES, 4, 4)],
    ['sign', pinRecord(c.signPin, SIGN_PIN_TRIES, 6, 16)],
    ['inputSupport', pinRecord(inputSupportPin, INPUT_SUPPORT_PIN_TRIES, 4, 4)],
  ]);
}
