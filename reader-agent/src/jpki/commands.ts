// What a relying party asks of the card's JPKI application, in APDUs (see
// shared/jpki-card.md). Every command goes through the guard.
import { CardError } from './errors.ts';
import { EF, JPKI_AID, type Transmit } from './guard.ts';

const SHA256_DIGEST_INFO_PREFIX = Buffer.from('3031300d060960864801650304020105000420', 'hex');
const CHUNK = 0xff;
const MAX_CERTIFICATE_BYTES = 4096;

function statusWord(answer: Buffer): number {
  if (answer.length < 2) throw new CardError('card_error', { sw: 'short' });
  return answer.readUInt16BE(answer.length - 2);
}

function hex(sw: number): string {
  return sw.toString(16).toUpperCase().padStart(4, '0');
}

async function expectOk(transmit: Transmit, command: Buffer): Promise<Buffer> {
  const answer = await transmit(command);
  const sw = statusWord(answer);
  if (sw !== 0x9000) throw new CardError('card_error', { sw: hex(sw) });
  return answer.subarray(0, -2);
}

function selectFile(fid: number): Buffer {
  return Buffer.from([0x00, 0xa4, 0x02, 0x0c, 0x02, fid >> 8, fid & 0xff]);
}

function readBinary(offset: number, length: number): Buffer {
  return Buffer.from([0x00, 0xb0, offset >> 8, offset & 0xff, length & 0xff]);
}

/**
 * One conversation with the card's JPKI application: the application is selected once, and
 * each step selects only the file it needs, so an operation costs as few APDUs as the card
 * allows (each one is a round trip through the reader, noticeable at a counter).
 */
export class JpkiSession {
  private selected = false;

  constructor(private readonly transmit: Transmit) {}

  /** Opens the JPKI application; a card without it is not a My Number card. */
  private async selectJpki(): Promise<void> {
    if (this.selected) return;
    const answer = await this.transmit(Buffer.concat([Buffer.from([0x00, 0xa4, 0x04, 0x0c, JPKI_AID.length]), JPKI_AID]));
    const sw = statusWord(answer);
    if (sw === 0x6a82 || sw === 0x6d00 || sw === 0x6e00 || sw === 0x6a86) throw new CardError('not_my_number_card', { sw: hex(sw) });
    if (sw !== 0x9000) throw new CardError('card_error', { sw: hex(sw) });
    this.selected = true;
  }

  private async selectFile(fid: number): Promise<void> {
    await this.selectJpki();
    await expectOk(this.transmit, selectFile(fid));
  }

  /**
   * The DER certificate in file 000A. The first READ BINARY asks for a full chunk: its first
   * four bytes (30 82 LL LL) give the length, so no separate length read is needed.
   */
  async readAuthCertificate(): Promise<Buffer> {
    await this.selectFile(EF.AUTH_CERT);
    const first = await expectOk(this.transmit, readBinary(0, CHUNK));
    if (first.length < 4 || first[0] !== 0x30 || first[1] !== 0x82) throw new CardError('not_my_number_card', { sw: 'no certificate' });
    const total = first.readUInt16BE(2) + 4;
    if (total > MAX_CERTIFICATE_BYTES) throw new CardError('card_error', { sw: 'certificate too long' });
    const parts = [first.subarray(0, total)];
    for (let offset = first.length; offset < total; offset += CHUNK) {
      parts.push(await expectOk(this.transmit, readBinary(offset, Math.min(CHUNK, total - offset))));
    }
    return Buffer.concat(parts);
  }

  /** Tries left for the user-authentication PIN, asked without spending one. */
  async pinTriesLeft(): Promise<number> {
    await this.selectFile(EF.AUTH_PIN);
    const sw = statusWord(await this.transmit(Buffer.from([0x00, 0x20, 0x00, 0x80])));
    if ((sw & 0xfff0) === 0x63c0) return sw & 0x0f;
    if (sw === 0x6983 || sw === 0x6984) return 0;
    throw new CardError('card_error', { sw: hex(sw) });
  }

  /**
   * Verifies the PIN, then has the card sign the SHA-256 digest with the user-authentication
   * key (the card adds PKCS#1 v1.5 padding to the DigestInfo). The tries left are asked first,
   * without spending one: a blocked card never sees the PIN, and `mayPresentPin` hears them and
   * throws to keep the PIN from the card. The caller resets the card after.
   */
  async signDigest(pin: string, sha256: Buffer, mayPresentPin: (triesLeft: number) => void = () => {}): Promise<Buffer> {
    checkPinFormat(pin);
    if (sha256.length !== 32) throw new Error('signDigest needs a 32-byte SHA-256 digest');
    const triesLeft = await this.pinTriesLeft();
    if (triesLeft === 0) throw new CardError('pin_blocked', { triesLeft });
    mayPresentPin(triesLeft);
    // The PIN file is still selected: the tries query left it so.
    const failure = pinOutcome(statusWord(await this.transmit(Buffer.concat([Buffer.from([0x00, 0x20, 0x00, 0x80, 0x04]), Buffer.from(pin, 'ascii')]))));
    if (failure) throw failure;
    await this.selectFile(EF.AUTH_KEY);
    const digestInfo = Buffer.concat([SHA256_DIGEST_INFO_PREFIX, sha256]);
    return expectOk(this.transmit, Buffer.concat([Buffer.from([0x80, 0x2a, 0x00, 0x80, digestInfo.length]), digestInfo, Buffer.from([0x00])]));
  }
}

function pinOutcome(sw: number): CardError | undefined {
  if (sw === 0x9000) return undefined;
  if (sw === 0x6983 || sw === 0x6984 || sw === 0x63c0) return new CardError('pin_blocked', { triesLeft: 0 });
  if ((sw & 0xfff0) === 0x63c0) {
    const triesLeft = sw & 0x0f;
    return new CardError(triesLeft === 1 ? 'pin_last_try' : 'pin_wrong', { triesLeft });
  }
  return new CardError('card_error', { sw: hex(sw) });
}

export function checkPinFormat(pin: string): void {
  if (!/^[0-9]{4}$/.test(pin)) throw new CardError('pin_format');
}
