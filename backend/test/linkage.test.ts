// Renewal from J-LIS's linkage file: RFC 4514 issuer names, the importer's outcomes line by
// line, idempotency, and a national-size file through `npm run mykey -- import-linkage`.
import test from 'ava';
import { execFile } from 'node:child_process';
import { createWriteStream } from 'node:fs';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { once } from 'node:events';
import os from 'node:os';
import path from 'node:path';
import { Readable } from 'node:stream';
import * as asn1js from 'asn1js';
import * as pkijs from 'pkijs';
import { fileFixture } from './helpers/env.ts';
import { cardSession, firstLogin, municipalCounter } from './helpers/identity.ts';
import { eventsAbout } from '../src/audit/chain.ts';
import { mykeySecret } from '../src/config.ts';
import { formatRfc4514, nameAttributes, nameKey, parseRfc4514 } from '../src/jpki/names.ts';
import { certificateKey, mykeyIdCandidate } from '../src/mykey/id.ts';
import { importLinkage, LinkageFileError, LINKAGE_HEADER, type LinkageSummary } from '../src/mykey/linkage.ts';
import { DEMO_MUNICIPALITY } from '@mykey/dev-tools/demo-towns.ts';

// What the development CA is called, written as J-LIS would write it in the file.
const ISSUER = 'OU=Japan Agency for Local Authority Information Systems,OU=JPKI for user authentication,O=JPKI,C=JP';
// The secret the app under test keys its IDs with, and `import-linkage` with NODE_ENV=test.
const SECRET = mykeySecret({ NODE_ENV: 'test' });

const fixture = fileFixture(test, async (cleanup) => {
  const { db, url, pki, device } = await municipalCounter(cleanup);
  // As production reads its anchors: parsed from the DER, not the CA object that made them.
  const anchor = new pkijs.Certificate({ schema: asn1js.fromBER(new Uint8Array(pki.ca.certificateDer).buffer).result });
  const dir = await mkdtemp(path.join(os.tmpdir(), 'mykey-linkage-'));
  cleanup(() => rm(dir, { recursive: true, force: true }));
  const caFile = path.join(dir, 'anchors.pem');
  await writeFile(caFile, pki.ca.certificatePem);
  return { db, url, pki, device, anchor, dir, caFile };
});

const csv = (...lines: string[]) => Readable.from([Buffer.from(`${LINKAGE_HEADER}\n${lines.join('\n')}\n`)]);
const record = (oldSerial: string, newSerial: string, issuer = ISSUER) => `"${issuer}",${oldSerial},"${issuer}",${newSerial}`;

async function run(input: Readable, file = 'linkage.csv'): Promise<LinkageSummary> {
  const { db, anchor } = await fixture();
  return importLinkage({ db, secret: SECRET, anchors: [anchor] }, input, file);
}

async function resident() {
  const { pki, device } = await fixture();
  return firstLogin(pki, device);
}

/** A serial number no card in this file has. */
let serials = 0x5000_0000;
const freshSerial = () => (serials++).toString(16).toUpperCase();

test('RFC 4514 names: the development CA is written with its last RDN first, and read back', async (t) => {
  const { anchor } = await fixture();
  const attributes = nameAttributes(anchor.subject)!;
  t.is(formatRfc4514(attributes), ISSUER);
  const parsed = parseRfc4514(ISSUER);
  t.deepEqual(parsed, attributes);
  // People add spaces and change case; the match ignores both, as X.500 caseIgnoreMatch does.
  const loose = parseRfc4514('ou = japan agency for local authority  information systems , OU=JPKI FOR USER AUTHENTICATION,o=JPKI,c=jp');
  t.is(typeof loose, 'object');
  t.is(nameKey(loose as never), nameKey(attributes));
});

test('RFC 4514 names: escapes, and what is refused', (t) => {
  // DER order: the string's last RDN first (a multi-valued RDN's members come reversed too).
  t.deepEqual(parseRfc4514('CN=Sato\\, Hanako+UID=42,O=\\23hash \\ ,2.5.4.97=VAT\\3D\\E3\\81\\82'), [
    { type: '2.5.4.97', value: 'VAT=あ' },
    { type: '2.5.4.10', value: '#hash  ' },
    { type: '0.9.2342.19200300.100.1.1', value: '42' },
    { type: '2.5.4.3', value: 'Sato, Hanako' },
  ]);
  t.is(formatRfc4514([{ type: '2.5.4.3', value: ' a,b#' }, { type: '2.5.4.10', value: '#x ' }]), 'O=\\#x\\ ,CN=\\ a\\,b#');
  for (const [text, problem] of [
    ['JPKI', /no "="/],
    ['FOO=bar', /not an attribute type/],
    ['CN=#0403616263', /hex-encoded/],
    ['CN=a"b', /must be escaped/],
    ['CN=a\\', /escapes nothing/],
    ['CN=a\\q', /escapes nothing/],
    ['CN=,O=x', /empty value/],
    ['CN=\\ff', /not UTF-8/],
    ['01.2=x', /not an attribute type/],
  ] as const) {
    const result = parseRfc4514(text);
    t.is(typeof result, 'string', text);
    t.regex(result as string, problem, text);
  }
});

test('a linkage record links the new card to the old card\'s MyKey ID; the old card no longer logs in', async (t) => {
  const { db, pki, device } = await fixture();
  const { card: oldCard, mykeyId } = await resident();
  const newCard = await pki.card();
  const summary = await run(csv(record(oldCard.serialNumberHex, newCard.serialNumberHex)), '/srv/jlis/2026-11-22.csv');
  t.like(summary, { file: '/srv/jlis/2026-11-22.csv', lines: 2, records: 1, outcomes: { linked: 1, already_linked: 0, old_unknown: 0, new_already_has_mykey: 0, issuer_unknown: 0, malformed: 0 } });
  t.deepEqual(summary.anchors, [ISSUER]);
  t.like((await cardSession(device, newCard)).body, { mykeyId, issued: false });
  t.is((await cardSession(device, oldCard)).body.code, 'certificate_replaced');
  const [event] = (await eventsAbout(db, mykeyId)).filter((e) => e.action === 'mykey.relinked');
  t.like(event, { actor: { kind: 'system', id: 'import' } });
  t.deepEqual(event!.details, { method: 'linkage_file', file: '2026-11-22.csv', line: 2 });
  const cards = await db('mykey_certificates as c').join('mykeys as m', 'm.id', 'c.mykey_pk').where('m.mykey_id', mykeyId).orderBy('c.linked_at').select('c.status', 'c.link_method');
  t.deepEqual(cards.map((c) => [c.status, c.link_method]), [['replaced', 'issued'], ['active', 'linkage_file']]);
});

// Serial: its snapshot is of whole tables, which the other tests in this file write to.
test.serial('importing the same file twice changes nothing the second time', async (t) => {
  const { db } = await fixture();
  const a = await resident();
  const b = await resident();
  const lines = [record(a.card.serialNumberHex, freshSerial()), record(b.card.serialNumberHex, freshSerial()), record(freshSerial(), freshSerial())];
  const snapshot = async () => ({
    cards: await db('mykey_certificates').orderBy('cert_key').select(),
    mykeys: await db('mykeys').orderBy('id').select(),
    audit: (await db('audit_head').first()).last_seq,
  });
  const first = await run(csv(...lines));
  t.like(first.outcomes, { linked: 2, old_unknown: 1 });
  const before = await snapshot();
  const second = await run(csv(...lines));
  t.deepEqual(second.outcomes, { linked: 0, already_linked: 2, old_unknown: 1, new_already_has_mykey: 0, issuer_unknown: 0, malformed: 0 });
  t.deepEqual(await snapshot(), before);
});

test('every outcome is counted, malformed lines are named and never stop the lines after them', async (t) => {
  const { db } = await fixture();
  const linked = await resident();
  const other = await resident();
  const summary = await run(csv(
    record(freshSerial(), freshSerial()), // 2: not our resident
    'old_issuer,old_serial', // 3
    record(linked.card.serialNumberHex, other.card.serialNumberHex), // 4: the new card has its own ID
    record('XYZ', freshSerial()), // 5
    record(freshSerial(), 'A'.repeat(42)), // 6: 21 bytes
    `"CN=Some Other CA,O=Elsewhere,C=JP",${freshSerial()},"${ISSUER}",${freshSerial()}`, // 7
    `"${ISSUER},${freshSerial()},"${ISSUER}",${freshSerial()}`, // 8: quote closes elsewhere
    `"${ISSUER}" x,1,"${ISSUER}",2`, // 9
    `CN=a"b,1,CN=c,2`, // 10
    '', // blank: skipped, not a record
    `"FOO=bar",1,"${ISSUER}",2`, // 12
    `"${'O=x,'.repeat(1200)}C=JP",1,"${ISSUER}",2`, // 13: too long
    record('0A', '0a'), // 14: the same card
    record(linked.card.serialNumberHex, freshSerial()), // 15: linked, after all of the above
  ));
  t.is(summary.lines, 15);
  t.is(summary.records, 13);
  t.deepEqual(summary.outcomes, { linked: 1, already_linked: 0, old_unknown: 1, new_already_has_mykey: 1, issuer_unknown: 1, malformed: 9 });
  t.deepEqual(summary.malformedLines.map((m) => m.line), [3, 5, 6, 8, 9, 10, 12, 13, 14]);
  t.regex(summary.malformedLines[0]!.reason, /2 fields/);
  t.regex(summary.malformedLines.find((m) => m.line === 13)!.reason, /longer than/);
  t.deepEqual(summary.unknownIssuers, ['CN=Some Other CA,O=Elsewhere,C=JP']);
  t.like(await db('mykeys as m').join('mykey_certificates as c', 'c.mykey_pk', 'm.id').where({ 'm.mykey_id': other.mykeyId }).first('c.status'), { status: 'active' });
});

test('a resident who renewed twice: old → middle → new in one file ends with the newest card', async (t) => {
  const { pki, device } = await fixture();
  const { card, mykeyId } = await resident();
  const middle = freshSerial();
  const newest = await pki.card();
  const summary = await run(csv(record(card.serialNumberHex, middle), record(middle, newest.serialNumberHex)));
  t.is(summary.outcomes.linked, 2);
  t.like((await cardSession(device, newest)).body, { mykeyId });
});

test('Windows line ends, a byte-order mark, lower-case serials with leading zeros and no final line end are read', async (t) => {
  const { pki, device } = await fixture();
  const { card, mykeyId } = await resident();
  const newCard = await pki.card();
  const text = `\uFEFF${LINKAGE_HEADER}\r\n"${ISSUER}",00${card.serialNumberHex.toLowerCase()},"${ISSUER.toUpperCase()}",${newCard.serialNumberHex.toLowerCase()}`;
  // Split mid-character, as a stream may deliver it.
  const bytes = Buffer.from(text);
  const summary = await run(Readable.from([bytes.subarray(0, 2), bytes.subarray(2, 90), bytes.subarray(90)]));
  t.deepEqual(summary.malformedLines, []);
  t.is(summary.outcomes.linked, 1);
  t.like((await cardSession(device, newCard)).body, { mykeyId });
});

test('a file without the header, or an empty one, is refused as a whole', async (t) => {
  const noHeader = Readable.from([Buffer.from(`${record('01', '02')}\n`)]);
  const error = await t.throwsAsync(run(noHeader), { instanceOf: LinkageFileError });
  t.is(error!.code, 'header_invalid');
  t.is((await t.throwsAsync(run(Readable.from([]))))!.message.includes('empty'), true);
  t.is((await t.throwsAsync(run(Readable.from([Buffer.from([0xff, 0xfe, 0x0a])])), { instanceOf: LinkageFileError }))!.code, 'header_invalid');
});

function cli(args: string[], env: NodeJS.ProcessEnv): Promise<{ code: number; output: any; stderr: string }> {
  return new Promise((resolve) => {
    execFile(process.execPath, ['--import', 'tsx', 'scripts/mykey.ts', 'import-linkage', ...args], { env, encoding: 'utf8', maxBuffer: 16 * 1024 * 1024, timeout: 600_000 },
      (error, stdout, stderr) => resolve({ code: error ? Number(error.code) : 0, output: stdout ? JSON.parse(stdout) : undefined, stderr }));
  });
}

async function cliEnv(): Promise<NodeJS.ProcessEnv> {
  const { url, caFile } = await fixture();
  // Named, or `npm run mykey` would key the cards with this machine's own development secret.
  return { ...process.env, NODE_ENV: 'test', DATABASE_URL: url, JPKI_TRUST_ANCHORS: caFile, MYKEY_SECRET: SECRET.toString('hex'), LOG_LEVEL: 'warn' };
}

test('npm run mykey -- import-linkage: 200,000 lines streamed from a file, 1,000 of them our residents', async (t) => {
  const { db, dir, anchor } = await fixture();
  const issuerDer = Buffer.from(anchor.subject.toSchema().toBER());
  const residents = 1000;
  const lines = 200_000;
  // Residents made directly in the database: a thousand card logins would only test card logins.
  const olds = Array.from({ length: residents }, () => freshSerial());
  for (let i = 0; i < residents; i += 500) {
    await db.transaction(async (trx) => {
      for (const serial of olds.slice(i, i + 500)) {
        const [pk] = await trx('mykeys').insert({ mykey_id: mykeyIdCandidate(SECRET, issuerDer, serial, 0), home_municipality_code: DEMO_MUNICIPALITY.code });
        await trx('mykey_certificates').insert({ cert_key: certificateKey(SECRET, issuerDer, serial), mykey_pk: pk, link_method: 'issued' });
      }
    });
  }
  const file = path.join(dir, 'national.csv');
  const out = createWriteStream(file);
  out.write(`${LINKAGE_HEADER}\n`);
  const step = Math.floor(lines / residents);
  for (let line = 0, next = 0; line < lines; line++) {
    const text = line % step === 0 && next < residents ? record(olds[next++]!, freshSerial())
      : line % 20_000 === 7 ? 'broken line'
        : record((0x7000_0000 + line).toString(16), (0x9000_0000 + line).toString(16));
    if (!out.write(`${text}\n`)) await once(out, 'drain');
  }
  out.end();
  await once(out, 'finish');

  const started = process.hrtime.bigint();
  const { code, output, stderr } = await cli([file], await cliEnv());
  const seconds = Number(process.hrtime.bigint() - started) / 1e9;
  t.is(code, 0, stderr);
  t.like(output, { lines: lines + 1, records: lines, outcomes: { linked: residents, old_unknown: lines - residents - 10, malformed: 10, already_linked: 0, new_already_has_mykey: 0, issuer_unknown: 0 } });
  t.is(await db('audit_events').where({ action: 'mykey.relinked' }).whereRaw("JSON_VALUE(details, '$.file') = 'national.csv'").count({ n: '*' }).then((r) => Number(r[0]!.n)), residents);
  t.log(`import-linkage: ${lines} lines (${residents} linked) in ${seconds.toFixed(1)} s, node start included`);
});

test('npm run mykey -- import-linkage: usage, an unreadable file and a file without header are clear JSON errors', async (t) => {
  const { dir } = await fixture();
  const env = await cliEnv();
  t.like(await cli([], env), { code: 2, output: { error: 'usage' } });
  t.like(await cli([path.join(dir, 'missing.csv')], env), { code: 2, output: { error: 'file_unreadable' } });
  t.like(await cli([dir], env), { code: 2, output: { error: 'file_unreadable' } });
  const headless = path.join(dir, 'headless.csv');
  await writeFile(headless, `${record('01', '02')}\n`);
  t.like(await cli([headless], env), { code: 1, output: { error: 'header_invalid' } });
  t.like(await cli([headless], { ...env, MYKEY_SECRET: 'not hex' }), { code: 2, output: { error: 'config_invalid' } });
});
