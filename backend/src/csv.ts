// CSV files in and out (RFC 4180), for the imports that read a file a line at a time (J-LIS's
// linkage file, grant files) and the statements and result files written for Excel.

export interface CsvLine { number: number; text?: string; problem?: 'too_long' | 'not_utf8' }

const utf8 = new TextDecoder('utf-8', { fatal: true });

/**
 * The file's lines, numbered from 1, without their line ends (LF or CRLF); a line longer than
 * `maxLineBytes` or not UTF-8 comes as a problem. Never holds more than one line in memory.
 */
export async function* csvLines(input: AsyncIterable<Buffer>, maxLineBytes: number): AsyncGenerator<CsvLine> {
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
  const finish = (): CsvLine => {
    number++;
    const line: CsvLine = tooLong ? { number, problem: 'too_long' } : decode(number, Buffer.concat(parts, size));
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

function decode(number: number, bytes: Buffer): CsvLine {
  const body = bytes.at(-1) === 0x0d ? bytes.subarray(0, -1) : bytes;
  try {
    return { number, text: utf8.decode(body) };
  } catch {
    return { number, problem: 'not_utf8' };
  }
}

/** The byte-order mark Excel puts at the start of a "CSV UTF-8" file. */
export const BOM = '\uFEFF';

/**
 * The fields of one CSV line (RFC 4180): separated by commas, a field with a comma in it in
 * double quotes, a quote inside one doubled. Blanks around an unquoted field are dropped.
 * A string instead of fields says why the line is not CSV.
 */
export function csvFields(text: string): string[] | string {
  const fields: string[] = [];
  let at = 0;
  while (true) {
    while (text[at] === ' ' || text[at] === '\t') at++;
    let field = '';
    if (text[at] === '"') {
      for (at++; ; at++) {
        if (at >= text.length) return 'a quoted field is not closed';
        if (text[at] === '"') {
          if (text[at + 1] !== '"') break;
          at++;
        }
        field += text[at];
      }
      at++;
      while (text[at] === ' ' || text[at] === '\t') at++;
      if (at < text.length && text[at] !== ',') return `text after a quoted field at column ${at + 1}`;
    } else {
      const comma = text.indexOf(',', at);
      const end = comma < 0 ? text.length : comma;
      field = text.slice(at, end).trim();
      if (field.includes('"')) return `a quote inside an unquoted field at column ${at + 1}`;
      at = end;
    }
    fields.push(field);
    if (at >= text.length) return fields;
    at++; // the comma
  }
}

/**
 * One CSV record with its CRLF, as Excel writes them. A field with a comma, quote or line
 * break is quoted; so is one starting with = + - @, which Excel would otherwise run as a
 * formula (a name or reason typed by someone else must never become one).
 */
export function csvRow(fields: Array<string | number | null>): string {
  return `${fields.map((field) => {
    if (field === null) return '';
    if (typeof field === 'number') return String(field);
    const text = /^[=+\-@]/.test(field) ? `'${field}` : field;
    return /[",\r\n]/.test(text) ? `"${text.replaceAll('"', '""')}"` : text;
  }).join(',')}\r\n`;
}
