// Reading a file whose records are lines by definition: partner batches (NDJSON), J-LIS's
// linkage file (whose lines are then CSV: csv.ts, fieldLines).

export interface FileLine { number: number; text?: string; problem?: 'too_long' | 'not_utf8' }

const utf8 = new TextDecoder('utf-8', { fatal: true });

/**
 * The file's lines, numbered from 1, without their line ends (LF or CRLF); a line longer than
 * `maxLineBytes` or not UTF-8 comes as a problem. Never holds more than one line in memory.
 * For files whose records never span lines (NDJSON batches, J-LIS's linkage file), where one
 * broken line must not stop the lines after it.
 */
export async function* fileLines(input: AsyncIterable<Buffer>, maxLineBytes: number): AsyncGenerator<FileLine> {
  let parts: Buffer[] = [];
  let size = 0;
  let tooLong = false;
  let number = 0;
  const append = (piece: Buffer) => {
    if (tooLong || piece.length === 0) return;
    if (size + piece.length > maxLineBytes) {
      // Nothing more of this line is kept, however long it goes on.
      tooLong = true;
      parts = [];
      return;
    }
    parts.push(piece);
    size += piece.length;
  };
  const finish = (): FileLine => {
    number++;
    const line: FileLine = tooLong ? { number, problem: 'too_long' } : decode(number, Buffer.concat(parts, size));
    parts = [];
    size = 0;
    tooLong = false;
    return line;
  };
  for await (const chunk of input) {
    let from = 0;
    for (let end = chunk.indexOf(0x0a, from); end >= 0; end = chunk.indexOf(0x0a, from)) {
      append(chunk.subarray(from, end));
      yield finish();
      from = end + 1;
    }
    append(chunk.subarray(from));
  }
  // A last line without a line end.
  if (size > 0 || tooLong) yield finish();
}

function decode(number: number, bytes: Buffer): FileLine {
  const body = bytes.at(-1) === 0x0d ? bytes.subarray(0, -1) : bytes;
  try {
    return { number, text: utf8.decode(body) };
  } catch {
    return { number, problem: 'not_utf8' };
  }
}
