import test from 'ava';
import { Readable } from 'node:stream';
import { csvFile, CsvFileError, csvRecords, csvRow, fieldLines, utf8Check, type CsvRecord, type FieldLine } from '../src/csv.ts';

/** Every record of the text, delivered in chunks of `chunk` bytes (a character or a CRLF may be cut). */
async function records(text: string | Buffer, { chunk = 7, maxRecordBytes = 1024 } = {}): Promise<CsvRecord[]> {
  const bytes = Buffer.isBuffer(text) ? text : Buffer.from(text);
  const chunks = Array.from({ length: Math.ceil(bytes.length / chunk) }, (_, i) => bytes.subarray(i * chunk, (i + 1) * chunk));
  const read: CsvRecord[] = [];
  for await (const record of csvRecords(Readable.from(chunks), maxRecordBytes)) read.push(record);
  return read;
}

async function refusal(t: import('ava').ExecutionContext, text: string): Promise<CsvFileError> {
  const error = await t.throwsAsync(records(text), { instanceOf: CsvFileError });
  return error!;
}

test('a quoted field spanning lines (CRLF inside) is one field, and each record is numbered by the line it starts on', async (t) => {
  const text = 'name,note\r\n"Sato","first\r\nsecond\r\nthird"\r\nSuzuki,plain\r\n"Tanaka","a\nb"\nlast,one';
  t.deepEqual(await records(text), [
    { line: 1, fields: ['name', 'note'] },
    { line: 2, fields: ['Sato', 'first\r\nsecond\r\nthird'] },
    { line: 5, fields: ['Suzuki', 'plain'] },
    { line: 6, fields: ['Tanaka', 'a\nb'] },
    { line: 8, fields: ['last', 'one'] },
  ]);
});

test('doubled quotes, commas in quotes, blanks around fields, blank lines and mixed line ends', async (t) => {
  const text = 'a,"転入, 歓迎 ""春""",  c  ,  "d"  \n\r\n,,\r\n"",x\n';
  t.deepEqual(await records(text), [
    { line: 1, fields: ['a', '転入, 歓迎 "春"', 'c', 'd'] },
    { line: 2, fields: [''] },
    { line: 3, fields: ['', '', ''] },
    { line: 4, fields: ['', 'x'] },
  ]);
});

test('the BOM Excel writes is dropped, even when the stream cuts it', async (t) => {
  for (const chunk of [1, 2, 64]) {
    t.deepEqual(await records('\uFEFFmykey_id,points\r\nA,1\r\n', { chunk }), [
      { line: 1, fields: ['mykey_id', 'points'] }, { line: 2, fields: ['A', '1'] },
    ], `chunks of ${chunk}`);
  }
});

test('a record longer than the limit comes without its fields, and the records after it are read', async (t) => {
  const text = `a,b\n"${'x'.repeat(40)}\n${'y'.repeat(40)}",1\nc,d\n`;
  t.deepEqual(await records(text, { maxRecordBytes: 64 }), [
    { line: 1, fields: ['a', 'b'] }, { line: 2, problem: 'too_long' }, { line: 4, fields: ['c', 'd'] },
  ]);
});

test('a quote never closed is refused, naming the line where its record starts', async (t) => {
  const error = await refusal(t, 'a,b\r\n"multi\r\nline",ok\r\nA,"open\r\nB,2\r\nC,3\r\n');
  t.is(error.line, 4);
  t.regex(error.message, /^line 4: a quoted field .* never closed/);
});

test('text after a closing quote and a quote inside an unquoted field are refused with their line', async (t) => {
  const after = await refusal(t, 'a,b\n"x\ny" z,1\n');
  t.is(after.line, 2);
  t.regex(after.reason, /after the closing quote/);
  const inside = await refusal(t, 'a,b\nc,d\nab"c,1\n');
  t.is(inside.line, 3);
  t.regex(inside.reason, /quote inside a field/);
});

test('a record that never ends (a quote left open in a long file) stops at a bounded size', async (t) => {
  const error = await refusal(t, `a,b\n"${'x,y\n'.repeat(20_000)}`);
  t.is(error.line, 2);
  t.regex(error.reason, /quote left open/);
});

test('Shift_JIS is not UTF-8; a UTF-8 character cut between chunks is, unless the file ends there', (t) => {
  const shiftJis = utf8Check();
  t.is(shiftJis(Buffer.from('mykey_id,points,reason\r\nA,1,')), 'ok');
  t.is(shiftJis(Buffer.from([0x83, 0x65, 0x83, 0x58, 0x83, 0x67])), 'not_utf8'); // テスト
  const split = utf8Check();
  const bytes = Buffer.from('歓迎');
  t.is(split(bytes.subarray(0, 2)), 'ok');
  t.is(split(bytes.subarray(2)), 'ok');
  t.is(split(), 'ok');
  const cut = utf8Check();
  t.is(cut(bytes.subarray(0, 4)), 'ok');
  t.is(cut(), 'cut');
});

async function linesWithFields(lines: string[]): Promise<FieldLine[]> {
  const read: FieldLine[] = [];
  for await (const line of fieldLines(Readable.from([Buffer.from(lines.join('\n'))]), 4096)) read.push(line);
  return read;
}

test('the lines of a line-per-record file: the fields of each line, or why it is not CSV, the lines after a broken one read as usual', async (t) => {
  const lines = await linesWithFields(['"CN=a,O=b",1C, "x""y" ,', '', '"CN=a,1', 'x",2', '"CN=a" x,1', 'CN=a"b,1', '\uFEFFc,d']);
  t.deepEqual(lines.map((line) => line.number), [1, 2, 3, 4, 5, 6, 7]);
  t.deepEqual(lines[0]!.fields, ['CN=a,O=b', '1C', 'x"y', '']);
  t.is(lines[1]!.fields, undefined);
  t.regex(lines[2]!.fields as string, /not closed on this line/);
  t.regex(lines[3]!.fields as string, /quote inside a field/);
  t.regex(lines[4]!.fields as string, /after the closing quote/);
  t.regex(lines[5]!.fields as string, /quote inside a field/);
  t.deepEqual(lines[6]!.fields, ['c', 'd']);
});

test('the lines of a line-per-record file: a line broken among thousands is named, every other line keeps its fields', async (t) => {
  const texts = Array.from({ length: 2500 }, (_, i) => (i === 1500 ? `"${i},x` : `"CN=${i},O=b",${i}`));
  const lines = await linesWithFields(texts);
  t.is(lines.length, 2500);
  t.regex(lines[1500]!.fields as string, /not closed on this line/);
  t.deepEqual(lines.filter((line) => typeof line.fields === 'string').map((line) => line.number), [1501]);
  t.deepEqual(lines[1501]!.fields, ['CN=1501,O=b', '1501']);
  t.deepEqual(lines[2499]!.fields, ['CN=2499,O=b', '2499']);
});

test('written as Excel reads it: BOM, CRLF, quotes where needed, formulas disarmed, numbers as they are', async (t) => {
  const rows = [
    ['name', 'points', 'note'],
    ['Sato, Ichiro', -5, 'he said "hi"'],
    ['=HYPERLINK("x")', 0, '+1'],
    ['@SUM(A1)', null, '-3'],
    ['line\nbreak', 12, 'cr\rhere'],
    ['ＮＦ', 1, '＝1+1'],
  ];
  const file = csvFile(rows);
  t.true(file.startsWith('\uFEFFname,points,note\r\n'));
  t.true(file.endsWith('\r\n'));
  t.is(csvRow(rows[1]!), '"Sato, Ichiro",-5,"he said ""hi"""\r\n');
  t.is(csvRow(rows[2]!), '"\'=HYPERLINK(""x"")",0,\'+1\r\n');
  t.is(csvRow(rows[3]!), '\'@SUM(A1),,\'-3\r\n');
  t.is(csvRow(rows[4]!), '"line\nbreak",12,"cr\rhere"\r\n');
  t.is(csvRow(rows[5]!), 'ＮＦ,1,\'＝1+1\r\n');
  // What is written reads back as it was (the formula guard's ' aside).
  const read = await records(file, { chunk: 5 });
  t.deepEqual(read.map((r) => ('fields' in r ? r.fields : [])), rows.map((row) => row.map((field) => {
    const text = field === null ? '' : String(field);
    return typeof field === 'string' && /^[=+\-@＝]/.test(field) ? `'${text}` : text;
  })));
  t.deepEqual(read.map((r) => r.line), [1, 2, 3, 4, 5, 7]);
});

test('a read error of the file ends the records with that error instead of leaving them waiting', async (t) => {
  async function* failing() {
    yield Buffer.from('a,b\nc,');
    throw new Error('disk gone');
  }
  await t.throwsAsync(async () => {
    for await (const _ of csvRecords(failing(), 1024));
  }, { message: 'disk gone' });
});
