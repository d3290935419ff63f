// Conformance with an independent client: OpenSC's jpki driver, through a real pcscd and
// the vpcd reader, must treat the simulator exactly as it treats a My Number card.
import test from 'ava';
import { X509Certificate } from 'node:crypto';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createCa, issueCertificate, type CertificateAuthority, type IssuedCertificate } from '@mykey/dev-tools/dev-ca/index.ts';
import { OPENSC_PKCS11, startPcscStack, type PcscStack } from './helpers/pcsc-stack.ts';
import { pinLeaks } from './helpers/pin-leaks.ts';
import type { ApduRecord, LogRecord } from '../src/simulator/apdu-log.ts';

// One card for the signing flow and one whose PIN gets locked; each has its own pcscd.
let card: PcscStack;
let lockCard: PcscStack;

// The first card is loaded with a certificate minted here, through --cert/--key/--ca.
let loaded: { ca: CertificateAuthority; holder: IssuedCertificate };

test.before(async () => {
  const ca = await createCa({ kind: 'auth' });
  const holder = await issueCertificate(ca);
  loaded = { ca, holder };
  const dir = mkdtempSync(join(tmpdir(), 'opensc-test-'));
  const file = (name: string, pem: string): string => (writeFileSync(join(dir, name), pem), join(dir, name));
  const identity = ['--cert', file('cert.pem', holder.certificatePem), '--key', file('key.pem', holder.privateKeyPem), '--ca', file('ca.pem', ca.certificatePem)];
  [card, lockCard] = await Promise.all([
    startPcscStack({ simulatorArgs: identity }),
    startPcscStack({ simulatorArgs: ['--pin', '4321', '--latency-ms', '5'] }),
  ]);
});

test.after.always(async () => {
  await Promise.all([card?.stop(), lockCard?.stop()]);
});

const SELECT_JPKI = '00A4040C0AD392F000260100000001';

function apdus(records: LogRecord[]): ApduRecord[] {
  return records.filter((r): r is ApduRecord => r.type === 'apdu');
}

function signWithPkcs11(stack: PcscStack, pin: string): Promise<{ code: number; stdout: string; stderr: string }> {
  writeFileSync(join(stack.dir, 'message.txt'), 'challenge from the MyKey server\n');
  return stack.run('pkcs11-tool', [
    '--module', OPENSC_PKCS11,
    '--login', '--pin', pin,
    '--sign', '-m', 'SHA256-RSA-PKCS',
    '--input-file', join(stack.dir, 'message.txt'),
    '--output-file', join(stack.dir, 'signature.bin'),
  ]);
}

async function authPinTriesLeft(stack: PcscStack): Promise<number> {
  const result = await stack.run('pkcs15-tool', ['--list-pins']);
  const match = /PIN \[User Authentication PIN\][\s\S]*?Tries left\s*:\s*(\d+)/.exec(result.stdout);
  if (!match) throw new Error(`no tries count in pkcs15-tool output:\n${result.stdout}\n${result.stderr}`);
  return Number(match[1]);
}

/** Sends raw APDUs in one card connection; returns opensc-tool's "Received (SW1=.., SW2=..)" lines. */
async function sendApdus(stack: PcscStack, hexApdus: string[]): Promise<string[]> {
  const result = await stack.run('opensc-tool', ['--reader', '0', ...hexApdus.flatMap((a) => ['--send-apdu', a])]);
  return [...result.stdout.matchAll(/Received \(SW1=0x(..), SW2=0x(..)\)/g)].map((m) => `${m[1]}${m[2]}`.toUpperCase());
}

test.serial('opensc-tool names the card "jpki" and sees the real ATR', async (t) => {
  const name = await card.run('opensc-tool', ['--name']);
  t.is(name.code, 0, name.stderr);
  t.is(name.stdout.trim(), 'jpki');
  const atr = await card.run('opensc-tool', ['--atr']);
  t.is(atr.stdout.trim(), '3b:e0:00:ff:81:31:fe:45:14');
});

test.serial('pkcs15-tool reads back exactly the certificate and CA loaded into the card', async (t) => {
  const result = await card.run('pkcs15-tool', ['--read-certificate', '1']);
  t.is(result.code, 0, result.stderr);
  const read = new X509Certificate(result.stdout);
  t.deepEqual(read.raw, loaded.holder.certificateDer);
  t.regex(read.issuer, /OU=JPKI for user authentication/);
  const ca = await card.run('pkcs15-tool', ['--read-certificate', '3']);
  t.deepEqual(new X509Certificate(ca.stdout).raw, loaded.ca.certificateDer);
});

test.serial('pkcs11-tool signs after login, openssl verifies it, and the log never holds the PIN', async (t) => {
  t.is(await authPinTriesLeft(card), 3);
  const sign = await signWithPkcs11(card, '1234');
  t.is(sign.code, 0, sign.stderr);
  const pubkey = join(card.dir, 'auth-pub.pem');
  writeFileSync(pubkey, new X509Certificate(card.certificatePem).publicKey.export({ type: 'spki', format: 'pem' }));
  const check = await card.run('openssl', ['dgst', '-sha256', '-verify', pubkey, '-signature', join(card.dir, 'signature.bin'), join(card.dir, 'message.txt')]);
  t.is(check.stdout.trim(), 'Verified OK', check.stderr);
  const log = apdus(card.apduLog());
  t.true(log.some((r) => r.command === '0020008004****' && r.sw === '9000'));
  t.true(log.some((r) => r.command.startsWith('802A0080') && r.sw === '9000'));
  t.deepEqual(pinLeaks(card.sentToCard(), '1234'), [], 'PIN bytes in the APDU log');
  t.false(log.some((r) => r.offLimits), 'OpenSC never selects the card-info applications');
});

test.serial('through pcscd, signing without VERIFY in this card session is refused with 6982', async (t) => {
  // The previous test verified the PIN; OpenSC leaves the card powered, so remove it first.
  await card.removeCard();
  await card.insertCard();
  const sws = await sendApdus(card, [SELECT_JPKI, '00A4020C020017', '802A0080050102030405' + '00']);
  t.deepEqual(sws, ['9000', '9000', '6982']);
});

test.serial('a selection of the My Number application stands out in the APDU log', async (t) => {
  const sws = await sendApdus(card, ['00A4040C0AD3921000310001010408']);
  t.deepEqual(sws, ['9000']);
  const flagged = apdus(card.apduLog()).filter((r) => r.offLimits);
  t.is(flagged.length, 1);
  t.regex(flagged[0]!.warning ?? '', /OFF-LIMITS/);
});

test.serial('wrong PINs (this card has PIN 4321) count down through OpenSC, survive removal, and the third locks the card', async (t) => {
  t.is(await authPinTriesLeft(lockCard), 3);
  const first = await signWithPkcs11(lockCard, '1234');
  t.regex(first.stderr + first.stdout, /CKR_PIN_INCORRECT/);
  t.is(await authPinTriesLeft(lockCard), 2);
  await lockCard.removeCard();
  await lockCard.insertCard();
  t.is(await authPinTriesLeft(lockCard), 2, 'the counter lives in EEPROM');
  await signWithPkcs11(lockCard, '9999');
  t.is(await authPinTriesLeft(lockCard), 1);
  const third = await signWithPkcs11(lockCard, '9999');
  t.not(third.code, 0);
  t.is(await authPinTriesLeft(lockCard), 0);
  const right = await signWithPkcs11(lockCard, '4321');
  t.regex(right.stderr + right.stdout, /CKR_PIN_LOCKED/);
  const token = await lockCard.run('pkcs11-tool', ['--module', OPENSC_PKCS11, '--list-token-slots']);
  t.regex(token.stdout, /user PIN locked/);
});
