// ISO 7816-4 short APDUs: parsing commands and building responses.
// The JPKI card speaks only short APDUs (Lc and Le on one byte), so an extended-length
// command is malformed for it and answered with 6700, like the real chip does.

/** Status words the simulated card answers with. */
export const SW = {
  OK: 0x9000,
  END_OF_FILE: 0x6282,
  WRONG_LENGTH: 0x6700,
  INCOMPATIBLE_FILE: 0x6981,
  SECURITY_STATUS: 0x6982,
  BLOCKED: 0x6983,
  NO_CURRENT_EF: 0x6986,
  FILE_NOT_FOUND: 0x6a82,
  WRONG_P1P2: 0x6a86,
  OFFSET_OUTSIDE: 0x6b00,
  WRONG_INS: 0x6d00,
  WRONG_CLA: 0x6e00,
} as const;

/** 63 Cx: x verification tries left. */
export function triesLeftSw(tries: number): number {
  return 0x63c0 | (tries & 0x0f);
}

export interface CommandApdu {
  cla: number;
  ins: number;
  p1: number;
  p2: number;
  /** Command data; empty when the APDU has no Lc. */
  data: Buffer;
  /** Expected response length (Le = 00 means 256), or undefined when absent. */
  le: number | undefined;
}

/** Parses a short APDU; returns undefined when its length fields do not add up. */
export function parseCommand(bytes: Uint8Array): CommandApdu | undefined {
  const b = Buffer.from(bytes);
  if (b.length < 4) return undefined;
  const header = { cla: b[0]!, ins: b[1]!, p1: b[2]!, p2: b[3]! };
  if (b.length === 4) return { ...header, data: Buffer.alloc(0), le: undefined };
  const first = b[4]!;
  if (b.length === 5) return { ...header, data: Buffer.alloc(0), le: first === 0 ? 256 : first };
  // Lc = 00 followed by more bytes is the extended-length form.
  if (first === 0) return undefined;
  const data = b.subarray(5, 5 + first);
  if (b.length === 5 + first) return { ...header, data, le: undefined };
  if (b.length === 6 + first) {
    const le = b[5 + first]!;
    return { ...header, data, le: le === 0 ? 256 : le };
  }
  return undefined;
}

/** Response APDU: data followed by SW1 SW2. */
export function response(sw: number, data: Uint8Array = Buffer.alloc(0)): Buffer {
  return Buffer.concat([Buffer.from(data), Buffer.from([sw >> 8, sw & 0xff])]);
}

/** The status word at the end of a response APDU. */
export function statusWord(resp: Uint8Array): number {
  const n = resp.length;
  return n < 2 ? -1 : (resp[n - 2]! << 8) | resp[n - 1]!;
}

export function toHex(bytes: Uint8Array): string {
  return Buffer.from(bytes).toString('hex').toUpperCase();
}

export function fromHex(hex: string): Buffer {
  return Buffer.from(hex.replace(/[\s:]/g, ''), 'hex');
}
