// The development CA kept on disk: made once (also when several processes race to make it),
// its CRL renewed before it goes stale without losing a revocation, and the card simulator
// issuing from it when given no identity options.
import test from 'ava';
import { spawn } from 'node:child_process';
import { X509Certificate } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as pkijs from 'pkijs';
import { fromPem, issueCertificate, issueCrl, loadCa } from '../src/dev-ca/index.ts';
import { ensureDevCa } from '../src/dev-ca/store.ts';
import { rootDir } from '../src/paths.ts';
import { freePort } from '../src/ports.ts';

const DAY = 86_400_000;

function tempDir(t: { teardown: (fn: () => void) => void }): string {
  const dir = mkdtempSync(join(tmpdir(), 'dev-ca-store-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

function readCrl(file: string): pkijs.CertificateRevocationList {
  return pkijs.CertificateRevocationList.fromBER(new Uint8Array(fromPem(readFileSync(file, 'utf8'))));
}

test('made once: the CA, its private key (0600) and a CRL valid for days; a second call changes nothing', async (t) => {
  const dir = join(tempDir(t), 'dev-ca');
  const files = await ensureDevCa(dir);
  t.deepEqual(files, { dir, certificate: join(dir, 'auth-ca.pem'), key: join(dir, 'auth-ca.key.pem'), crl: join(dir, 'auth-crl.pem') });
  t.is(statSync(files.key).mode & 0o777, 0o600);
  const ca = new X509Certificate(readFileSync(files.certificate));
  t.true(ca.ca);
  t.regex(ca.subject, /OU=JPKI for user authentication/);
  const crl = readCrl(files.crl);
  t.true(await crl.verify({ issuerCertificate: pkijs.Certificate.fromBER(new Uint8Array(ca.raw)) }));
  t.true(crl.nextUpdate!.value.getTime() > Date.now() + 5 * DAY, 'valid for days ahead');
  const before = [readFileSync(files.certificate), readFileSync(files.key), readFileSync(files.crl)];
  await ensureDevCa(dir);
  t.deepEqual([readFileSync(files.certificate), readFileSync(files.key), readFileSync(files.crl)], before);
});

test('racing callers all end up with the one same CA', async (t) => {
  const dir = join(tempDir(t), 'dev-ca');
  const results = await Promise.all(Array.from({ length: 6 }, () => ensureDevCa(dir)));
  t.true(results.every((files) => files.certificate === results[0]!.certificate));
  const ca = await loadCa(readFileSync(results[0]!.certificate, 'utf8'), readFileSync(results[0]!.key, 'utf8'));
  // The key on disk belongs to the certificate on disk: a card it issues verifies against it.
  const card = await issueCertificate(ca);
  t.true(new X509Certificate(card.certificatePem).verify(new X509Certificate(readFileSync(results[0]!.certificate)).publicKey));
});

test('a CRL close to going stale is renewed, newer, and still lists every revocation', async (t) => {
  const dir = join(tempDir(t), 'dev-ca');
  const files = await ensureDevCa(dir);
  const ca = await loadCa(readFileSync(files.certificate, 'utf8'), readFileSync(files.key, 'utf8'));
  const lost = await issueCertificate(ca);
  // What an operator does with `npm run test-ca -- crl --revoke ...` to revoke a development card.
  writeFileSync(files.crl, (await issueCrl(ca, { revoked: [{ serialNumberHex: lost.serialNumberHex, reason: 'keyCompromise' }], crlNumber: 5 })).pem);
  const old = readCrl(files.crl);
  await ensureDevCa(dir, new Date(Date.now() + 6.5 * DAY));
  const renewed = readCrl(files.crl);
  t.true(renewed.thisUpdate.value > old.thisUpdate.value);
  t.true(renewed.nextUpdate!.value.getTime() > Date.now() + 7 * DAY);
  t.deepEqual(renewed.revokedCertificates?.map((entry) => Buffer.from(entry.userCertificate.valueBlock.valueHexView).toString('hex').toUpperCase()), [lost.serialNumberHex]);
  const reason = renewed.revokedCertificates?.[0]?.crlEntryExtensions?.extensions[0]?.parsedValue as { valueBlock: { valueDec: number } } | undefined;
  t.is(reason?.valueBlock.valueDec, 1, 'keyCompromise kept');
  const crlNumber = renewed.crlExtensions?.extensions.find((e) => e.extnID === '2.5.29.20')?.parsedValue as { valueBlock: { valueDec: number } } | undefined;
  t.is(crlNumber?.valueBlock.valueDec, 6);
  t.true(await renewed.verify({ issuerCertificate: ca.certificate }));
});

test('card-sim with no identity options issues the card certificate from the development CA, and says so', async (t) => {
  const dataDir = tempDir(t);
  const identity = join(dataDir, 'card');
  const child = spawn(process.execPath, ['--import', 'tsx', 'reader-agent/src/simulator/cli.ts', '--vpcd', `127.0.0.1:${await freePort()}`, '--save-identity', identity],
    { cwd: rootDir, env: { ...process.env, MYKEY_DATA_DIR: dataDir }, stdio: ['ignore', 'ignore', 'pipe'] });
  t.teardown(() => { child.kill('SIGKILL'); });
  let stderr = '';
  await new Promise<void>((done, fail) => {
    child.stderr.setEncoding('utf8').on('data', (text: string) => {
      stderr += text;
      if (stderr.includes('user-authentication certificate serial')) done();
    });
    child.once('exit', (code) => fail(new Error(`card-sim exited with ${code}: ${stderr}`)));
  });
  t.true(stderr.includes(`card-sim: certificate issued by the development CA in ${join(dataDir, 'dev-ca')}`), stderr);
  const devCa = readFileSync(join(dataDir, 'dev-ca', 'auth-ca.pem'));
  t.deepEqual(readFileSync(join(identity, 'auth-ca.pem')), devCa, 'file 000B holds the development CA');
  t.true(new X509Certificate(readFileSync(join(identity, 'auth-cert.pem'))).verify(new X509Certificate(devCa).publicKey));
});

test('card-sim --help says where the default certificate comes from', async (t) => {
  const help = await new Promise<string>((done) => {
    const child = spawn(process.execPath, ['--import', 'tsx', 'reader-agent/src/simulator/cli.ts', '--help'], { cwd: rootDir, stdio: ['ignore', 'pipe', 'inherit'] });
    let out = '';
    child.stdout.setEncoding('utf8').on('data', (text: string) => { out += text; });
    child.once('exit', () => done(out));
  });
  t.regex(help, /development CA in \.data\/dev-ca\/[\s\S]*the CA that npm start trusts/);
});
