// The one gate every APDU passes on its way to a card. It knows the JPKI application and
// the four files this platform may touch, and refuses everything else before it reaches the
// card: above all a SELECT of the applications that hold the My Number, which this
// platform must never open. It follows what is selected, so READ BINARY can only read the
// certificates, VERIFY can only present the user-authentication PIN, and SIGN can only use
// the user-authentication key.
import { CardError } from './errors.ts';

export const JPKI_AID = Buffer.from('D392F000260100000001', 'hex');

export const EF = {
  AUTH_CERT: 0x000a,
  AUTH_CA_CERT: 0x000b,
  AUTH_KEY: 0x0017,
  AUTH_PIN: 0x0018,
} as const;

const READABLE = new Set<number>([EF.AUTH_CERT, EF.AUTH_CA_CERT]);
const SELECTABLE = new Set<number>(Object.values(EF));

export type Transmit = (command: Buffer) => Promise<Buffer>;

interface Selection { application: boolean; file: number | undefined }

function describe(command: Buffer): string {
  return command.subarray(0, 4).toString('hex').toUpperCase();
}

/** Throws unless `command` is allowed in the current selection; returns the selection after it. */
export function checkCommand(command: Buffer, selection: Selection): Selection {
  const [cla, ins, p1, p2] = command;
  const refuse = (): never => { throw new CardError('apdu_forbidden', { sw: describe(command) }); };
  if (command.length < 4) refuse();
  if (cla === 0x00 && ins === 0xa4 && p1 === 0x04 && p2 === 0x0c) {
    const data = command.subarray(5, 5 + command[4]!);
    if (command[4] !== JPKI_AID.length || command.length !== 5 + JPKI_AID.length || !data.equals(JPKI_AID)) refuse();
    return { application: true, file: undefined };
  }
  if (!selection.application) refuse();
  if (cla === 0x00 && ins === 0xa4 && p1 === 0x02 && p2 === 0x0c) {
    if (command.length !== 7 || command[4] !== 2) refuse();
    const fid = command.readUInt16BE(5);
    if (!SELECTABLE.has(fid)) refuse();
    return { application: true, file: fid };
  }
  if (cla === 0x00 && ins === 0xb0 && command.length === 5 && READABLE.has(selection.file!)) return selection;
  if (cla === 0x00 && ins === 0x20 && p1 === 0x00 && p2 === 0x80 && selection.file === EF.AUTH_PIN) return selection;
  if (cla === 0x80 && ins === 0x2a && p1 === 0x00 && p2 === 0x80 && selection.file === EF.AUTH_KEY) return selection;
  return refuse();
}

/**
 * Wraps a raw transmit so only allowed commands reach the card. The selection is tracked
 * from commands the card accepted (90 00), as the card itself does.
 */
export function guardedTransmit(raw: Transmit): Transmit {
  let selection: Selection = { application: false, file: undefined };
  return async (command) => {
    const next = checkCommand(command, selection);
    const answer = await raw(command);
    const isSelect = command[1] === 0xa4;
    if (isSelect) {
      const accepted = answer.length >= 2 && answer.readUInt16BE(answer.length - 2) === 0x9000;
      // A failed SELECT of an EF leaves the application selected but no current file.
      selection = accepted ? next : { application: selection.application && command[2] === 0x02, file: undefined };
    }
    return answer;
  };
}
