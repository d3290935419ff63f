// CSV files in and out. RFC 4180 itself — quotes, doubled quotes, fields spanning lines — is
// csv-parse's and csv-stringify's (docs/architecture.md, "Why csv-parse"); what is ours is
// Excel's side of it: the BOM, UTF-8 only (Excel's plain "CSV" is Shift_JIS), CRLF, no text
// that Excel would run as a formula, and errors that name the line a person sees in a file.
import { Readable } from 'node:stream';
import { CsvError, parse, type Options as ParseOptions } from 'csv-parse';
import { parse as parseSync } from 'csv-parse/sync';
import { stringify, type Options as StringifyOptions } from 'csv-stringify/sync';
import { fileLines, type FileLine } from './file-lines.ts';

// Fields as people and Excel write them: blanks around a field dropped, rows of differing
// lengths left to the caller to judge, blank lines kept (as one empty field) so that every
// line of the file is accounted for.
const READ = {
  bom: true,
  trim: true,
  relax_column_count: true,
  skip_empty_lines: false,
  record_delimiter: ['\r\n', '\n'],
} satisfies ParseOptions;

// Only a quote left open makes a record this long: the parser stops there instead of holding
// the rest of the file in one field.
const MAX_RECORD_CHARS = 64 * 1024;

/** A record of a file, numbered by the line it starts on; one longer than the caller's limit comes without its fields. */
export type CsvRecord = { line: number; fields: string[] } | { line: number; problem: 'too_long' };

/** A file that is not CSV from some record on: nothing after that record can be read. */
export class CsvFileError extends Error {
  constructor(readonly line: number, readonly reason: string) {
    super(`line ${line}: ${reason}`);
  }
}

/**
 * The file's records, in order, each with the line it starts on (a quoted field may span
 * lines). Streams: memory holds a few records, never the file. Bad CSV throws CsvFileError
 * naming the first line of the record at fault.
 */
export async function* csvRecords(input: AsyncIterable<Buffer>, maxRecordBytes: number): AsyncGenerator<CsvRecord> {
  // The parser's own line count goes wrong on a CRLF inside quotes; each record's raw text says
  // how many lines it took.
  let next = 1;
  const source = Readable.from(input);
  // With `raw`, csv-parse hands on_record the fields and the record's text together.
  const numbered = ({ record: fields, raw }: { record: string[]; raw: string }): CsvRecord => {
    const line = next;
    next += 1 + lineBreaks(raw) - (raw.endsWith('\n') ? 1 : 0);
    return Buffer.byteLength(raw) > maxRecordBytes ? { line, problem: 'too_long' } : { line, fields };
  };
  const options = { ...READ, raw: true, max_record_size: MAX_RECORD_CHARS, on_record: numbered };
  // csv-parse's types know neither what `raw` hands on_record nor a record of another shape
  // without its `columns` option.
  const parser = source.pipe(parse(options as unknown as ParseOptions));
  // pipe() does not pass on a read error, which would leave the parser waiting for the rest.
  source.on('error', (error) => parser.destroy(error));
  try {
    for await (const record of parser) yield record as CsvRecord;
  } catch (error) {
    if (error instanceof CsvError) throw new CsvFileError(next, reasonOf(error));
    throw error;
  } finally {
    // An early stop (a refused header) closes the file too.
    source.destroy();
    parser.destroy();
  }
}

function lineBreaks(text: string): number {
  let count = 0;
  for (let at = text.indexOf('\n'); at >= 0; at = text.indexOf('\n', at + 1)) count++;
  return count;
}

/** Why a record is not CSV, in words for the person who wrote the file. */
function reasonOf(error: CsvError): string {
  switch (error.code) {
    case 'CSV_QUOTE_NOT_CLOSED': return 'a quoted field opened in this record is never closed';
    case 'CSV_MAX_RECORD_SIZE': return `the record goes on for more than ${MAX_RECORD_CHARS} characters: is a quote left open?`;
    case 'INVALID_OPENING_QUOTE': return 'a quote inside a field that does not start with one (double it and quote the field)';
    case 'CSV_INVALID_CLOSING_QUOTE':
    case 'CSV_NON_TRIMABLE_CHAR_AFTER_CLOSING_QUOTE': return 'text after the closing quote of a field';
    default: return error.message;
  }
}

/** A line of a file whose records are lines, with its CSV fields or why it is not CSV (none for a blank line or a line with a problem). */
export type FieldLine = FileLine & { fields?: string[] | string };

// Lines parsed as one document: a parser per thousand lines, not per line (a parser's set-up
// costs more than a line's parsing).
const LINES_PARSED_TOGETHER = 1000;

/**
 * The lines of a file whose records are lines (J-LIS's linkage file), each with its fields read
 * as csvRecords reads them. A line that is not CSV on its own — a quote closed on a later line,
 * text after a closing quote — gets why, and the lines after it are read as usual.
 */
export async function* fieldLines(input: AsyncIterable<Buffer>, maxLineBytes: number): AsyncGenerator<FieldLine> {
  let chunk: FileLine[] = [];
  for await (const line of fileLines(input, maxLineBytes)) {
    chunk.push(line);
    if (chunk.length === LINES_PARSED_TOGETHER) {
      yield* withFields(chunk);
      chunk = [];
    }
  }
  yield* withFields(chunk);
}

function withFields(lines: FileLine[]): FieldLine[] {
  const parsed = lines.filter((line) => line.text !== undefined && line.text.trim() !== '');
  const fields = documentFields(parsed.map((line) => line.text!)) ?? parsed.map((line) => lineFields(line.text!));
  const fieldsOf = new Map(parsed.map((line, index) => [line, fields[index]!]));
  return lines.map((line) => (fieldsOf.has(line) ? { ...line, fields: fieldsOf.get(line)! } : line));
}

/**
 * The lines' fields, parsed as one document; undefined unless every line is one record of its
 * own, when each line must be parsed alone to say which is at fault. Lines hold no line break,
 * so a record per line is as many records as lines.
 */
function documentFields(texts: string[]): string[][] | undefined {
  try {
    // Each line's byte-order mark dropped, as `bom` drops one at the start of a line parsed alone.
    const records = parseSync(texts.map((text) => text.replace(/^\uFEFF/, '')).join('\n'), { ...READ, bom: false }) as string[][];
    return records.length === texts.length ? records : undefined;
  } catch (error) {
    if (error instanceof CsvError) return undefined;
    throw error;
  }
}

function lineFields(text: string): string[] | string {
  try {
    const [fields] = parseSync(text, READ) as string[][];
    return fields ?? [''];
  } catch (error) {
    if (error instanceof CsvError) return error.code === 'CSV_QUOTE_NOT_CLOSED' ? 'a quoted field is not closed on this line' : reasonOf(error);
    throw error;
  }
}

/**
 * Checks a file for UTF-8 a chunk at a time (a character may be cut between chunks); called
 * without a chunk at the end. Excel's plain "CSV" on a Japanese PC is Shift_JIS, which must be
 * refused, not read as mojibake.
 */
export function utf8Check(): (chunk?: Buffer) => 'ok' | 'not_utf8' | 'cut' {
  const utf8 = new TextDecoder('utf-8', { fatal: true });
  return (chunk) => {
    try {
      if (chunk) utf8.decode(chunk, { stream: true });
      else utf8.decode();
      return 'ok';
    } catch {
      return chunk ? 'not_utf8' : 'cut';
    }
  };
}

// Excel's way: CRLF; a field with a line break of either kind quoted (Excel keeps it in the
// cell); a text starting with = + - @ (or their full-width forms, a tab or a CR) prefixed with
// ', so a name or reason typed by someone else never runs as a formula. Numbers stay numbers.
const WRITE: StringifyOptions = { record_delimiter: 'windows', quote_record_delimiter: true, escape_formulas: true };

type Row = Array<string | number | null>;

/** One CSV record with its CRLF, for files written a row at a time. */
export const csvRow = (fields: Row): string => stringify([fields], WRITE);

/** A whole file, starting with the BOM so Excel reads it as UTF-8. */
export const csvFile = (rows: Row[]): string => stringify(rows, { ...WRITE, bom: true });
