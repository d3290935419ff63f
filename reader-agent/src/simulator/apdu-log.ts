// The APDU log: one JSON object per line for every command and response, plus power and
// insertion events. PIN bytes never reach it: VERIFY data is written as "****".
// A SELECT of an application that holds the My Number is flagged loudly ("offLimits"), so a
// test or a person reading the log sees at once that a reader touched what it must not.
import { appendFileSync, writeFileSync } from 'node:fs';
import { statusWord, toHex } from './apdu.ts';
import { applicationName, OFF_LIMITS_AIDS } from './layout.ts';

export const REDACTED = '****';

export interface ApduRecord {
  type: 'apdu';
  time: string;
  /** Command APDU in hex; VERIFY data replaced by "****". */
  command: string;
  response: string;
  sw: string;
  summary: string;
  /** Present (true) only when the command selected an application that holds the My Number. */
  offLimits?: true;
  warning?: string;
}

export interface EventRecord {
  type: 'power' | 'card';
  time: string;
  event: string;
}

export type LogRecord = ApduRecord | EventRecord;

export class ApduLog {
  /** @param file where to append JSON lines; without it, records are only returned. */
  constructor(private readonly file?: string) {
    // A fresh file per run, so a test reads only its own simulator's traffic.
    if (file) writeFileSync(file, '');
  }

  apdu(command: Uint8Array, resp: Uint8Array): ApduRecord {
    const record = describeExchange(command, resp);
    this.write(record);
    return record;
  }

  event(type: EventRecord['type'], event: string): void {
    this.write({ type, time: new Date().toISOString(), event });
  }

  private write(record: LogRecord): void {
    if (this.file) appendFileSync(this.file, `${JSON.stringify(record)}\n`);
  }
}

/** Builds the log record of one exchange; pure, so tests can check redaction directly. */
export function describeExchange(command: Uint8Array, resp: Uint8Array): ApduRecord {
  const cmd = Buffer.from(command);
  const sw = statusWord(resp);
  const record: ApduRecord = {
    type: 'apdu',
    time: new Date().toISOString(),
    command: redactedCommand(cmd),
    response: toHex(resp),
    sw: sw < 0 ? '' : sw.toString(16).toUpperCase().padStart(4, '0'),
    summary: summarise(cmd),
  };
  const offLimits = offLimitsApplication(cmd);
  if (offLimits) {
    record.offLimits = true;
    record.warning = `OFF-LIMITS application selected: ${offLimits} — it holds the My Number`;
  }
  return record;
}

function isVerifyWithData(cmd: Buffer): boolean {
  return cmd.length > 5 && cmd[1] === 0x20;
}

function redactedCommand(cmd: Buffer): string {
  if (!isVerifyWithData(cmd)) return toHex(cmd);
  return `${toHex(cmd.subarray(0, 5))}${REDACTED}`;
}

function selectedAid(cmd: Buffer): string | undefined {
  if (cmd.length < 6 || cmd[1] !== 0xa4 || cmd[2] !== 0x04) return undefined;
  return toHex(cmd.subarray(5, 5 + cmd[4]!));
}

function offLimitsApplication(cmd: Buffer): string | undefined {
  const aid = selectedAid(cmd);
  return aid === undefined ? undefined : OFF_LIMITS_AIDS[aid];
}

function summarise(cmd: Buffer): string {
  if (cmd.length < 4) return 'malformed';
  const ins = cmd[1]!;
  if (ins === 0xa4) return summariseSelect(cmd);
  if (ins === 0xb0) return `READ BINARY offset ${(cmd[2]! << 8) | cmd[3]!} length ${cmd.length === 5 ? cmd[4] || 256 : '?'}`;
  if (ins === 0x20) return cmd.length <= 5 ? 'VERIFY (tries query)' : `VERIFY ${REDACTED}`;
  if (ins === 0x2a) return `COMPUTE DIGITAL SIGNATURE over ${cmd.length > 5 ? cmd[4] : 0} bytes`;
  return `INS ${toHex(cmd.subarray(1, 2))}`;
}

function summariseSelect(cmd: Buffer): string {
  const aid = selectedAid(cmd);
  if (aid !== undefined) return `SELECT AP ${aid} (${applicationName(aid) ?? 'unknown application'})`;
  if (cmd[2] === 0x02 && cmd.length >= 7) return `SELECT EF ${toHex(cmd.subarray(5, 7))}`;
  return 'SELECT';
}
