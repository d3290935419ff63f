// The card model, APDU by APDU: every status word a reader can meet, the PIN counter and
// its lock, what a reset clears, and a signature checked with node:crypto.
import test from 'ava';
import { createHash, createPrivateKey, verify, X509Certificate } from 'node:crypto';
import { execFile } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { createServer, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { once } from 'node:events';
import { createCa, issueCertificate, type CertificateAuthority, type IssuedCertificate } from '@mykey/dev-tools/dev-ca/index.ts';
import { fromHex, statusWord, toHex } from '../src/simulator/apdu.ts';
import { ApduLog, describeExchange } from '../src/simulator/apdu-log.ts';
import { JpkiCard, type JpkiCardContents } from '../src/simulator/card.ts';
import { OtherCard } from '../src/simulator/other-card.ts';
import { VpcdClient } from '../src/simulator/vpcd-client.ts';

const SELECT_JPKI = '00A4040C0AD392F000260100000001';
const SELECT_INPUT_SUPPORT = '00A4040C0AD3921000310001010408';
const SHA256_PREFIX = '3031300D060960864801650304020105000420';
const PIN_1234 = '31323334';

interface Fixture {
  authCa: CertificateAuthority;
  auth: IssuedCertificate;
  sign: IssuedCertificate;
  contents: JpkiCardContents;
}

let fixture: Fixture;

test.before(async () => {
  const authCa = await createCa({ kind: 'auth' });
  const signCa = await createCa({ kind: 'sign' });
  const auth = await issueCertificate(authCa);
  const sign = await issueCertificate(signCa);
  const contents: JpkiCardContents = {
    authCertificate: auth.certificateDer,
    authPrivateKey: createPrivateKey(auth.privateKeyPem),
    authCaCertificate: authCa.certificateDer,
    signCertificate: sign.certificateDer,
    signPrivateKey: createPrivateKey(sign.privateKeyPem),
    signCaCertificate: signCa.certificateDer,
    authPin: '1234',
    signPin: 'ABC123',
    myNumber: '123456789018',
  };
  fixture = { authCa, auth, sign, contents };
});

function poweredCard(): JpkiCard {
  const card = new JpkiCard(fixture.contents);
  card.powerOn();
  return card;
}

/** Sends one APDU given in hex; returns the status word (hex) and the data. */
function send(card: JpkiCard | OtherCard, hex: string): { sw: string; data: Buffer } {
  const resp = card.transmit(fromHex(hex));
  return { sw: statusWord(resp).toString(16).toUpperCase().padStart(4, '0'), data: resp.subarray(0, -2) };
}

function sw(card: JpkiCard, hex: string): string {
  return send(card, hex).sw;
}

function selectEf(card: JpkiCard, fid: string): string {
  return sw(card, `00A4020C02${fid}`);
}

function readWholeFile(card: JpkiCard): Buffer {
  const head = send(card, '00B0000004').data;
  const size = head.readUInt16BE(2) + 4;
  const parts: Buffer[] = [];
  for (let offset = 0; offset < size; offset += 255) {
    const length = Math.min(255, size - offset);
    const hex = `00B0${offset.toString(16).padStart(4, '0')}${length.toString(16).padStart(2, '0')}`;
    const r = send(card, hex);
    if (r.sw !== '9000') throw new Error(`READ BINARY ${hex} gave ${r.sw}`);
    parts.push(r.data);
  }
  return Buffer.concat(parts);
}

function verifyAuthPin(card: JpkiCard, pinHex = PIN_1234): string {
  sw(card, SELECT_JPKI);
  selectEf(card, '0018');
  return sw(card, `0020008004${pinHex}`);
}

function signCommand(digestInfo: Buffer, le = '00'): string {
  return `802A0080${digestInfo.length.toString(16).padStart(2, '0')}${toHex(digestInfo)}${le}`;
}

function sha256DigestInfo(message: Buffer): Buffer {
  return Buffer.concat([fromHex(SHA256_PREFIX), createHash('sha256').update(message).digest()]);
}

test('power on answers the JPKI ATR; a card without power refuses to talk', (t) => {
  const card = new JpkiCard(fixture.contents);
  t.throws(() => card.transmit(fromHex(SELECT_JPKI)));
  t.is(toHex(card.powerOn()), '3BE000FF8131FE4514');
  t.is(sw(card, SELECT_JPKI), '9000');
  card.powerOff();
  t.false(card.isPowered);
});

test('SELECT: the JPKI AP by name, files by id, and 6A82 for what is not there', (t) => {
  const card = poweredCard();
  t.is(selectEf(card, '000A'), '6A82', 'no EF is reachable before the application is selected');
  t.is(sw(card, '00A4040C0AD392F000260100000099'), '6A82');
  t.is(sw(card, SELECT_JPKI), '9000');
  for (const fid of ['000A', '000B', '0017', '0018', '0001', '0002', '001A', '001B']) t.is(selectEf(card, fid), '9000', fid);
  t.is(selectEf(card, '0003'), '6A82');
});

test('SELECT: wrong P1/P2 is 6A86, wrong lengths are 6700', (t) => {
  const card = poweredCard();
  t.is(sw(card, '00A4000C02000A'), '6A86', 'P1 00 (select by FID from MF) is not offered');
  t.is(sw(card, '00A4010C02000A'), '6A86');
  t.is(sw(card, '00A404000AD392F000260100000001'), '6A86', 'P2 00 (return FCI) is not offered');
  t.is(sw(card, '00A4040C'), '6700', 'no AID at all');
  t.is(sw(card, '00A4040C03D39210'), '6700', 'AID shorter than 5 bytes');
  sw(card, SELECT_JPKI);
  t.is(sw(card, '00A4020C03000A00'), '6700', 'file id of 3 bytes');
  t.is(sw(card, '00A4020C0A000A'), '6700', 'Lc larger than the data');
});

test('wrong class is 6E00, unknown instruction 6D00, malformed APDUs 6700', (t) => {
  const card = poweredCard();
  t.is(sw(card, '10A4040C0AD392F000260100000001'), '6E00');
  t.is(sw(card, '80A4040C0AD392F000260100000001'), '6E00', 'SELECT is an ISO command: CLA 00 only');
  t.is(sw(card, '0C20008004' + PIN_1234), '6E00', 'secure messaging is not offered');
  t.is(sw(card, '002A00800401020304'), '6E00', 'the signature command is proprietary: CLA 80 only');
  t.is(sw(card, '00CA000000'), '6D00');
  t.is(sw(card, '80CA000000'), '6D00');
  t.is(sw(card, '00C0000000'), '6D00', 'no GET RESPONSE: every answer fits a short APDU');
  t.is(sw(card, '00A4'), '6700');
  t.is(sw(card, '00B00000000100'), '6700', 'extended length is not offered');
});

test('READ BINARY: the certificate comes out whole in 255-byte chunks after its 4-byte header', (t) => {
  const card = poweredCard();
  sw(card, SELECT_JPKI);
  selectEf(card, '000A');
  const head = send(card, '00B0000004');
  t.is(head.sw, '9000');
  t.is(toHex(head.data.subarray(0, 2)), '3082');
  t.deepEqual(readWholeFile(card), fixture.auth.certificateDer);
  selectEf(card, '000B');
  t.deepEqual(readWholeFile(card), fixture.authCa.certificateDer);
});

test('READ BINARY: Le 00 means 256, short last chunk is 6282, offset beyond the file 6B00', (t) => {
  const card = poweredCard();
  sw(card, SELECT_JPKI);
  selectEf(card, '000A');
  const der = fixture.auth.certificateDer;
  const full = send(card, '00B0000000');
  t.is(full.sw, '9000');
  t.deepEqual(full.data, der.subarray(0, 256));
  const last = der.length - 10;
  const tail = send(card, `00B0${last.toString(16).padStart(4, '0')}20`);
  t.is(tail.sw, '6282');
  t.deepEqual(tail.data, der.subarray(last));
  t.is(sw(card, `00B0${der.length.toString(16).padStart(4, '0')}01`), '6B00');
  t.is(sw(card, '00B07F0001'), '6B00');
});

test('READ BINARY: no current EF 6986, key file 6981, SFI addressing 6A86, no Le 6700', (t) => {
  const card = poweredCard();
  t.is(sw(card, '00B0000004'), '6986', 'nothing selected at all');
  sw(card, SELECT_JPKI);
  t.is(sw(card, '00B0000004'), '6986', 'application selected, no EF');
  selectEf(card, '0017');
  t.is(sw(card, '00B0000004'), '6981', 'a private key never leaves the card');
  selectEf(card, '0018');
  t.is(sw(card, '00B0000004'), '6981', 'nor does a PIN');
  selectEf(card, '000A');
  t.is(sw(card, '00B0850004'), '6A86');
  t.is(sw(card, '00B00000'), '6700');
});

test('the signing certificate (name and address) is readable only after the signing PIN', (t) => {
  const card = poweredCard();
  sw(card, SELECT_JPKI);
  selectEf(card, '0001');
  t.is(sw(card, '00B0000004'), '6982');
  selectEf(card, '001B');
  t.is(sw(card, '00200080'), '63C5', 'the signing PIN has 5 tries');
  t.is(sw(card, '0020008006' + Buffer.from('ABC123').toString('hex')), '9000');
  selectEf(card, '0001');
  t.deepEqual(readWholeFile(card), fixture.sign.certificateDer);
});

test('VERIFY: tries query, three wrong PINs lock the card for good (6983)', (t) => {
  const card = poweredCard();
  sw(card, SELECT_JPKI);
  selectEf(card, '0018');
  t.is(sw(card, '00200080'), '63C3');
  t.is(sw(card, '0020008004' + '39393939'), '63C2');
  t.is(sw(card, '00200080'), '63C2');
  t.is(sw(card, '0020008004' + '39393939'), '63C1');
  t.is(sw(card, '0020008004' + '39393939'), '63C0');
  t.is(sw(card, '00200080'), '63C0', 'the query still answers 63 Cx when blocked');
  t.is(sw(card, '0020008004' + PIN_1234), '6983', 'even the right PIN is refused');
  t.is(card.triesLeft('auth'), 0);
});

test('VERIFY: the tries counter survives reset and removal; only the verified state is lost', (t) => {
  const card = poweredCard();
  t.is(verifyAuthPin(card, '39393939'), '63C2');
  card.reset();
  sw(card, SELECT_JPKI);
  selectEf(card, '0018');
  t.is(sw(card, '00200080'), '63C2');
  t.is(sw(card, '0020008004' + '39393939'), '63C1');
  card.powerOff();
  card.powerOn();
  t.is(verifyAuthPin(card, '39393939'), '63C0');
  card.powerOff();
  card.powerOn();
  t.is(verifyAuthPin(card), '6983');
});

test('VERIFY: the right PIN resets the counter to 3', (t) => {
  const card = poweredCard();
  t.is(verifyAuthPin(card, '39393939'), '63C2');
  t.is(sw(card, '0020008004' + PIN_1234), '9000');
  t.is(sw(card, '00200080'), '63C3');
});

test('VERIFY: wrong P1/P2 6A86, wrong PIN length 6700 without costing a try, no PIN EF 6986', (t) => {
  const card = poweredCard();
  sw(card, SELECT_JPKI);
  t.is(sw(card, '0020008004' + PIN_1234), '6986', 'no EF selected');
  selectEf(card, '000A');
  t.is(sw(card, '0020008004' + PIN_1234), '6986', 'a certificate is not a PIN');
  selectEf(card, '0018');
  t.is(sw(card, '0020008104' + PIN_1234), '6A86');
  t.is(sw(card, '0020018004' + PIN_1234), '6A86');
  t.is(sw(card, '0020008003313233'), '6700');
  t.is(sw(card, '002000800531323334FF'), '6700');
  t.is(sw(card, '00200080'), '63C3', 'length errors cost no try');
});

test('SIGN: refused (6982) before VERIFY; after VERIFY a PKCS#1 signature the certificate verifies', (t) => {
  const card = poweredCard();
  const message = Buffer.from('challenge from the MyKey server');
  sw(card, SELECT_JPKI);
  selectEf(card, '0017');
  t.is(sw(card, signCommand(sha256DigestInfo(message))), '6982');
  t.is(verifyAuthPin(card), '9000');
  selectEf(card, '0017');
  const result = send(card, signCommand(sha256DigestInfo(message)));
  t.is(result.sw, '9000');
  t.is(result.data.length, 256);
  const cert = new X509Certificate(fixture.auth.certificateDer);
  t.true(verify('sha256', message, cert.publicKey, result.data));
  t.false(verify('sha256', Buffer.from('another message'), cert.publicKey, result.data));
});

test('SIGN: the verified state is cleared by reset, power off, a wrong PIN and leaving the AP', (t) => {
  const card = poweredCard();
  const digestInfo = sha256DigestInfo(Buffer.from('x'));
  const signAfter = (disturb: () => void): string => {
    t.is(verifyAuthPin(card), '9000');
    disturb();
    sw(card, SELECT_JPKI);
    selectEf(card, '0017');
    return sw(card, signCommand(digestInfo));
  };
  t.is(signAfter(() => undefined), '9000', 'control: nothing disturbed');
  t.is(signAfter(() => card.reset()), '6982');
  t.is(signAfter(() => (card.powerOff(), card.powerOn())), '6982');
  t.is(signAfter(() => sw(card, '0020008004' + '39393939')), '6982');
  t.is(signAfter(() => sw(card, SELECT_INPUT_SUPPORT)), '6982');
});

test('SIGN: no key selected 6986, wrong P1/P2 6A86, bad lengths 6700, and keys need their own PIN', (t) => {
  const card = poweredCard();
  const digestInfo = sha256DigestInfo(Buffer.from('x'));
  t.is(verifyAuthPin(card), '9000');
  t.is(sw(card, signCommand(digestInfo)), '6986', 'the PIN EF is current, not a key');
  selectEf(card, '000A');
  t.is(sw(card, signCommand(digestInfo)), '6986');
  selectEf(card, '0017');
  t.is(sw(card, '802A009E' + signCommand(digestInfo).slice(8)), '6A86');
  t.is(sw(card, signCommand(Buffer.alloc(246, 1))), '6700', 'more than a 2048-bit key can pad');
  t.is(sw(card, signCommand(digestInfo, '10')), '6700', 'the signature is 256 bytes: Le must be 00');
  t.is(sw(card, signCommand(digestInfo, '')), '9000', 'Le may be absent');
  selectEf(card, '001A');
  t.is(sw(card, signCommand(digestInfo)), '6982', 'the auth PIN does not open the signing key');
});

test('the off-limits card-info applications exist and hold a FAKE My Number', (t) => {
  const card = poweredCard();
  for (const aid of ['D3921000310001010408', 'D3921000310001010402', 'D3921000310001010100']) {
    t.is(sw(card, `00A4040C0A${aid}`), '9000', aid);
  }
  t.is(sw(card, SELECT_INPUT_SUPPORT), '9000');
  t.is(selectEf(card, '0001'), '9000');
  t.is(sw(card, '00B000000C'), '6982', 'the number needs the input-support PIN');
  t.is(selectEf(card, '0011'), '9000');
  t.is(sw(card, '0020008004' + PIN_1234), '9000');
  selectEf(card, '0001');
  t.is(send(card, '00B000000C').data.toString('ascii'), '123456789018');
  t.is(selectEf(card, '000A'), '6A82', 'JPKI files are not visible from another application');
});

test('the APDU log redacts PINs and flags a selection of an off-limits application', (t) => {
  const file = join(mkdtempSync(join(tmpdir(), 'apdu-log-')), 'log.jsonl');
  const log = new ApduLog(file);
  log.apdu(fromHex('0020008004' + PIN_1234), fromHex('9000'));
  log.apdu(fromHex(SELECT_JPKI), fromHex('9000'));
  log.apdu(fromHex(SELECT_INPUT_SUPPORT), fromHex('9000'));
  log.event('power', 'on');
  const text = readFileSync(file, 'utf8');
  t.false(text.includes(PIN_1234), 'the PIN bytes never reach the file');
  const records = text.trim().split('\n').map((line) => JSON.parse(line));
  t.is(records.length, 4);
  t.is(records[0].command, '0020008004****');
  t.is(records[0].summary, 'VERIFY ****');
  t.is(records[1].offLimits, undefined);
  t.true(records[2].offLimits);
  t.regex(records[2].warning, /OFF-LIMITS.*券面事項入力補助AP/);
  t.deepEqual(records[3], { type: 'power', time: records[3].time, event: 'on' });
  t.is(describeExchange(fromHex('00200080'), fromHex('63C3')).command, '00200080', 'a query has no PIN to hide');
});

/** A stand-in for vpcd: a TCP server that speaks its framing to the connected card. */
async function fakeVpcd(): Promise<{ port: number; client: Promise<Socket>; close: () => void }> {
  const server = createServer();
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const address = server.address();
  const port = typeof address === 'object' && address ? address.port : 0;
  const client = once(server, 'connection').then(([socket]) => socket as Socket);
  return { port, client, close: () => server.close() };
}

function frame(hex: string): Buffer {
  const payload = fromHex(hex);
  const header = Buffer.alloc(2);
  header.writeUInt16BE(payload.length);
  return Buffer.concat([header, payload]);
}

/** Collects every byte the card sends and hands out whole frames in order. */
function frameReader(socket: Socket): () => Promise<Buffer> {
  let buffered = Buffer.alloc(0);
  let wake: (() => void) | undefined;
  socket.on('data', (chunk: Buffer) => {
    buffered = Buffer.concat([buffered, chunk]);
    wake?.();
  });
  return async () => {
    while (buffered.length < 2 || buffered.length < 2 + buffered.readUInt16BE(0)) {
      await new Promise<void>((done) => (wake = done));
    }
    const payload = buffered.subarray(2, 2 + buffered.readUInt16BE(0));
    buffered = buffered.subarray(2 + payload.length);
    return payload;
  };
}

test('the vpcd client speaks the 2-byte length framing: ATR, power on, APDUs, removal', async (t) => {
  const vpcd = await fakeVpcd();
  const card = new JpkiCard(fixture.contents);
  const statuses: string[] = [];
  const client = new VpcdClient({ host: '127.0.0.1', port: vpcd.port, card, log: new ApduLog(), onStatus: (s) => statuses.push(s) });
  t.teardown(() => (client.remove(), vpcd.close()));
  client.insert();
  const socket = await vpcd.client;
  const readFrame = frameReader(socket);
  socket.write(frame('04'));
  t.is(toHex(await readFrame()), '3BE000FF8131FE4514');
  socket.write(frame('01'));
  socket.write(frame(SELECT_JPKI));
  t.is(toHex(await readFrame()), '9000');
  socket.write(frame('02'));
  socket.write(frame('00A4020C02000A'));
  t.is(toHex(await readFrame()), '6A82', 'the reset forgot the selected application');
  const closed = once(socket, 'close');
  client.remove();
  await closed;
  t.false(card.isPowered);
  t.true(statuses.some((s) => s.startsWith('card inserted')));
  t.true(statuses.includes('card removed'));
});

const REPO_ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '../..');

function cardSim(args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  const argv = ['--import', 'tsx', 'reader-agent/src/simulator/cli.ts', ...args];
  return new Promise((done) => {
    execFile(process.execPath, argv, { cwd: REPO_ROOT, encoding: 'utf8', timeout: 60_000 }, (error, stdout, stderr) => {
      done({ code: error ? (typeof error.code === 'number' ? error.code : 1) : 0, stdout, stderr });
    });
  });
}

test('card-sim --help documents the options, the keys and the signals', async (t) => {
  const help = await cardSim(['--help']);
  t.is(help.code, 0);
  for (const word of ['--pin', '--cert', '--key', '--ca', '--vpcd HOST:PORT', '--apdu-log', '--latency-ms', '--card KIND', 'SIGUSR1', 'SIGUSR2', '****']) {
    t.true(help.stdout.includes(word), word);
  }
});

test('the card that is not a My Number card: its own ATR, and every SELECT finds nothing', (t) => {
  const card = new OtherCard();
  t.is(toHex(card.powerOn()), '3B8F8001804F0CA0000003061100' + '3B0000000042');
  for (const select of [SELECT_JPKI, SELECT_INPUT_SUPPORT, '00A4020C02000A']) t.is(send(card, select).sw, '6A82');
  t.is(send(card, '00B00000FF').sw, '6D00');
  card.powerOff();
  t.throws(() => card.transmit(fromHex(SELECT_JPKI)));
});

test('card-sim refuses an unknown --card kind', async (t) => {
  const result = await cardSim(['--card', 'suica']);
  t.is(result.code, 1);
  t.regex(result.stderr, /--card is jpki or other/);
});

test('card-sim refuses a half or mismatched identity and a malformed PIN', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'card-sim-'));
  const write = (name: string, text: string): string => (writeFileSync(join(dir, name), text), join(dir, name));
  const cert = write('cert.pem', fixture.auth.certificatePem);
  const otherKey = write('other.pem', fixture.sign.privateKeyPem);
  const alone = await cardSim(['--cert', cert]);
  t.is(alone.code, 1);
  t.regex(alone.stderr, /--cert and --key go together/);
  const mismatched = await cardSim(['--cert', cert, '--key', otherKey]);
  t.is(mismatched.code, 1);
  t.regex(mismatched.stderr, /does not belong/);
  const shortPin = await cardSim(['--pin', '12']);
  t.is(shortPin.code, 1);
  t.regex(shortPin.stderr, /4 digits/);
});
