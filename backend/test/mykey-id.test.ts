import test from 'ava';
import { randomBytes, randomInt } from 'node:crypto';
import { MYKEY_ALPHABET, certificateKey, mykeyIdCandidate, parseMykeyId } from '../src/mykey/id.ts';

const SECRET = Buffer.alloc(32, 7);
const ISSUER = Buffer.from('300b3109300706035504030c0041', 'hex');

const randomSymbols = (n: number) => Array.from({ length: n }, () => MYKEY_ALPHABET[randomInt(32)]).join('');
const randomSerial = () => randomBytes(randomInt(1, 21)).toString('hex').toUpperCase().replace(/^(00)+(?=.)/, '');

/** The payload with the one check character that makes it valid, found by trying all 32. */
function complete(payload: string): string {
  const valid = [...MYKEY_ALPHABET].filter((c) => parseMykeyId(payload + c).ok);
  if (valid.length !== 1) throw new Error(`${valid.length} check characters complete ${payload}`);
  return payload + valid[0];
}

const randomIds = (n: number) => Array.from({ length: n }, () => complete(randomSymbols(7)));

const swap = (id: string, i: number) => id.slice(0, i) + id[i + 1] + id[i] + id.slice(i + 2);

test('the alphabet has 32 distinct symbols and no look-alikes', (t) => {
  t.is(new Set(MYKEY_ALPHABET).size, 32);
  t.is(MYKEY_ALPHABET.length, 32);
  t.notRegex(MYKEY_ALPHABET, /[01IO]/);
});

test('known answers: the check character over GF(32) worked by hand, and the derivation', (t) => {
  // Payload values 1,0,0,0,0,0,0: interim = x^6 = x^3 + x = 10, check = x^7 = x^4 + x^2 = 20 ('N').
  t.deepEqual(parseMykeyId('3222222N'), { ok: true, id: '3222222N' });
  t.deepEqual(parseMykeyId('22222222'), { ok: true, id: '22222222' });
  // Pinned so that a change to the derivation, which would orphan every stored card key, fails here.
  // (Cross-checked against an independent Python implementation of docs/mykey-id.md.)
  t.is(mykeyIdCandidate(SECRET, ISSUER, '01AB', 0), 'RKLZY5YR');
  t.is(mykeyIdCandidate(SECRET, ISSUER, '01AB', 1), '74S4P8SW');
  t.is(certificateKey(SECRET, ISSUER, '01AB').toString('hex'), '8dfe7ef042a0052a07e3a706ea6b32d13bb46dc49c22ebd1d17ac5bf82f425d9');
});

test('exactly one check character completes any payload', (t) => {
  for (let i = 0; i < 2000; i++) t.notThrows(() => complete(randomSymbols(7)));
});

test('every single-character substitution is rejected as mykey_id_check_failed', (t) => {
  let tried = 0;
  for (const id of randomIds(500)) {
    for (let position = 0; position < 8; position++) {
      for (const symbol of MYKEY_ALPHABET) {
        if (symbol === id[position]) continue;
        const typo = id.slice(0, position) + symbol + id.slice(position + 1);
        const result = parseMykeyId(typo);
        if (result.ok || result.code !== 'mykey_id_check_failed') t.fail(`${typo} (from ${id}) was not refused by the check`);
        tried++;
      }
    }
  }
  t.is(tried, 500 * 8 * 31);
});

test('every adjacent swap of two different characters is rejected, including payload with check', (t) => {
  let tried = 0;
  const expectRefused = (id: string, position: number) => {
    const result = parseMykeyId(swap(id, position));
    if (result.ok || result.code !== 'mykey_id_check_failed') t.fail(`${swap(id, position)} (from ${id}) was not refused by the check`);
    tried++;
  };
  let sameNeighbours = 0;
  for (const id of randomIds(2000)) {
    for (let position = 0; position < 7; position++) {
      if (id[position] === id[position + 1]) sameNeighbours++;
      else expectRefused(id, position);
    }
  }
  // Every ordered pair of different symbols at every payload position.
  for (let position = 0; position < 6; position++) {
    for (const p of MYKEY_ALPHABET) {
      for (const q of MYKEY_ALPHABET) {
        if (p === q) continue;
        const payload = randomSymbols(7).split('');
        payload[position] = p;
        payload[position + 1] = q;
        expectRefused(complete(payload.join('')), position);
      }
    }
  }
  // Every ordered pair as last payload symbol and check character: after "22222" the running
  // value is the 6th symbol's value, so the 6th symbol reaches every (last, check) pair.
  const lastWithCheck = new Set<string>();
  for (const sixth of MYKEY_ALPHABET) {
    for (const last of MYKEY_ALPHABET) {
      const id = complete(`22222${sixth}${last}`);
      if (id[6] === id[7]) continue;
      lastWithCheck.add(id.slice(6));
      expectRefused(id, 6);
    }
  }
  t.is(lastWithCheck.size, 32 * 31);
  t.is(tried, 2000 * 7 - sameNeighbours + 6 * 32 * 31 + 32 * 31);
});

test('every candidate is a valid MyKey ID in its canonical spelling', (t) => {
  for (let i = 0; i < 2000; i++) {
    const id = mykeyIdCandidate(randomBytes(32), randomBytes(randomInt(1, 200)), randomSerial(), randomInt(0, 10));
    if (!/^[2-9A-HJ-NP-Z]{8}$/.test(id)) t.fail(`${id} is not 8 alphabet characters`);
    t.deepEqual(parseMykeyId(id), { ok: true, id });
  }
});

test('the same card always gives the same candidate and the same certificate key', (t) => {
  const serial = randomSerial();
  t.is(mykeyIdCandidate(SECRET, ISSUER, serial, 0), mykeyIdCandidate(Buffer.from(SECRET), Buffer.from(ISSUER), serial, 0));
  t.deepEqual(certificateKey(SECRET, ISSUER, serial), certificateKey(Buffer.from(SECRET), Buffer.from(ISSUER), serial));
  t.is(certificateKey(SECRET, ISSUER, serial).length, 32);
});

test('each attempt gives another candidate', (t) => {
  const candidates = Array.from({ length: 100 }, (_, attempt) => mykeyIdCandidate(SECRET, ISSUER, '01AB', attempt));
  t.is(new Set(candidates).size, 100);
});

test('another secret gives another ID and another certificate key', (t) => {
  const other = Buffer.alloc(32, 8);
  t.not(mykeyIdCandidate(other, ISSUER, '01AB', 0), mykeyIdCandidate(SECRET, ISSUER, '01AB', 0));
  t.notDeepEqual(certificateKey(other, ISSUER, '01AB'), certificateKey(SECRET, ISSUER, '01AB'));
});

test('another serial or another issuer gives another ID and certificate key', (t) => {
  t.not(mykeyIdCandidate(SECRET, ISSUER, '01AC', 0), mykeyIdCandidate(SECRET, ISSUER, '01AB', 0));
  t.notDeepEqual(certificateKey(SECRET, ISSUER, '01AC'), certificateKey(SECRET, ISSUER, '01AB'));
  const otherIssuer = Buffer.concat([ISSUER.subarray(0, -1), Buffer.from([0x40])]); // the last byte was 0x41
  t.not(mykeyIdCandidate(SECRET, otherIssuer, '01AB', 0), mykeyIdCandidate(SECRET, ISSUER, '01AB', 0));
});

test('issuer and serial cannot run into each other: bytes moved across the boundary give another card', (t) => {
  // Without length prefixes, issuer‖"0A" with serial "BC" and issuer with serial "0ABC" would be the same input.
  const longerIssuer = Buffer.concat([ISSUER, Buffer.from('0A', 'ascii')]);
  t.not(mykeyIdCandidate(SECRET, longerIssuer, 'BC', 0), mykeyIdCandidate(SECRET, ISSUER, '0ABC', 0));
  t.notDeepEqual(certificateKey(SECRET, longerIssuer, 'BC'), certificateKey(SECRET, ISSUER, '0ABC'));
});

test('a serial in any other spelling, an empty issuer or a bad attempt is a programming error', (t) => {
  for (const serial of ['01ab', '0001AB', '1AB', '', ' 01AB', '01AB\n']) {
    t.throws(() => mykeyIdCandidate(SECRET, ISSUER, serial, 0), { instanceOf: TypeError }, serial);
    t.throws(() => certificateKey(SECRET, ISSUER, serial), { instanceOf: TypeError }, serial);
  }
  t.notThrows(() => mykeyIdCandidate(SECRET, ISSUER, '00', 0), 'serial zero');
  t.throws(() => mykeyIdCandidate(SECRET, Buffer.alloc(0), '01AB', 0), { instanceOf: TypeError });
  for (const attempt of [-1, 1.5, Number.NaN, 2 ** 32]) t.throws(() => mykeyIdCandidate(SECRET, ISSUER, '01AB', attempt), { instanceOf: RangeError });
});

test('lower case, spaces, hyphens and full-width input are read as the ID', (t) => {
  const id = mykeyIdCandidate(SECRET, ISSUER, '01AB', 0); // RKLZY5YR
  const fullWidth = [...id].map((c) => String.fromCharCode(c.charCodeAt(0) + 0xfee0)).join('');
  for (const typed of [
    id.toLowerCase(),
    `${id.slice(0, 4)}-${id.slice(4)}`.toLowerCase(),
    ` ${id.slice(0, 4)} ${id.slice(4)} `,
    fullWidth,
    `${fullWidth.slice(0, 4)}－${fullWidth.slice(4)}`, // full-width hyphen
    `${fullWidth.slice(0, 4)}ー${fullWidth.slice(4)}`, // the IME's long-vowel mark for "-"
    `${fullWidth.slice(0, 4)}\u3000${fullWidth.slice(4)}`, // ideographic space
    'ｒｋｌｚ－ｙ５ｙｒ',
  ]) {
    t.deepEqual(parseMykeyId(typed), { ok: true, id }, typed);
  }
});

test('look-alike and foreign characters are malformed, and named', (t) => {
  for (const [typed, character] of [['RKLZY5Y0', '0'], ['RKLZYOYR', 'O'], ['RKLZY1YR', '1'], ['RKLZYIYR', 'I'], ['RKLZ_Y5YR', '_'], ['RKLZYあYR', 'あ'], ['RKLZYßYR', 'ß']]) {
    const result = parseMykeyId(typed!);
    t.like(result, { ok: false, code: 'mykey_id_malformed' }, typed);
    if (!result.ok) t.true(result.detail.includes(JSON.stringify(character)), result.detail);
  }
});

test('a wrong length is malformed, also when huge', (t) => {
  for (const typed of ['', '   ', 'RKLZY5Y', 'RKLZY5YRR', 'RKLZ-Y5Y-R2', 'R'.repeat(10_000)]) {
    t.like(parseMykeyId(typed), { ok: false, code: 'mykey_id_malformed' }, typed.slice(0, 20));
  }
  t.like(parseMykeyId('RKLZY5Y'), { detail: 'a MyKey ID has 8 characters, not 7' });
});
