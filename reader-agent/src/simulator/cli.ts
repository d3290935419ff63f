// npm run card-sim -- [options]: a virtual My Number card in pcscd's vpcd reader.
import { readFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { ApduLog } from './apdu-log.ts';
import { JpkiCard } from './card.ts';
import { OtherCard, OTHER_CARD_ATR } from './other-card.ts';
import { buildIdentity, saveIdentity, type CardIdentity } from './identity.ts';
import { ensureDevCa } from '@mykey/dev-tools/dev-ca/store.ts';
import { ensureDebianPackages, VIRTUAL_READER_PACKAGES } from '@mykey/dev-tools/debian.mjs';
import { parseHostPort, VpcdClient } from './vpcd-client.ts';

const HELP = `Usage: npm run card-sim -- [options]

A virtual My Number card (JPKI AP) that plugs into pcscd through the vsmartcard-vpcd
reader driver, so any PC/SC program (ours, OpenSC) sees a reader with a card in it.
pcscd must be running with the vpcd driver (Debian package vsmartcard-vpcd).

Options:
  --pin NNNN            user-authentication PIN, 4 digits (default 1234)
  --sign-pin PIN        signing PIN, 6-16 of 0-9 A-Z (default ABC123)
  --cert FILE           PEM user-authentication certificate to load into file 000A
  --key FILE            PEM private key of that certificate (PKCS#8 or PKCS#1)
  --ca FILE             PEM CA certificate for file 000B
  --ca-key FILE         with --ca and no --cert: issue a fresh certificate from this CA
                        With none of --cert/--key/--ca/--ca-key, a fresh certificate is
                        issued by the development CA in .data/dev-ca/ (made on first use),
                        the CA that npm start trusts: the card logs in to the local
                        platform with no flags.
  --save-identity DIR   write auth-cert.pem, auth-key.pem, auth-ca.pem of the card there
  --my-number DIGITS    FAKE 12-digit number in the off-limits card-info AP
                        (default 123456789018)
  --vpcd HOST:PORT      where vpcd listens (default 127.0.0.1:35963)
  --apdu-log FILE       every command and response as JSON lines (truncated at start);
                        VERIFY data (the PIN) is always written as "****"; a SELECT of an
                        application holding the My Number gets "offLimits": true
  --latency-ms N        delay before every APDU response (default 0)
  --stall-after N       answer N APDUs, then none until the card is removed or loses
                        the reader (once): to pull the card mid-operation in a test
  --removed             start with the card out of the reader
  --card KIND           jpki (default): a My Number card; other: a card that is not one
                        (a FeliCa transit/shopping card, ATR 3B8F8001804F0CA00000030611
                        003B0000000042) with no JPKI application: every SELECT answers
                        6A82. The identity options do not apply to it.
  -h, --help            this text

While running (keys on stdin; on a terminal no Enter is needed):
  i   insert the card        r   remove the card        t   toggle
  s   show status (PIN tries left)                      q   quit
Signals: SIGUSR2 inserts, SIGUSR1 removes, SIGINT/SIGTERM quit.
Removal and reset clear the verified PIN state; the tries counters survive them
(a real card keeps those in EEPROM) until the simulator exits.

Status lines go to stderr, prefixed "card-sim:".
`;

interface CliOptions {
  pin: string;
  signPin: string;
  myNumber: string;
  cert?: string;
  key?: string;
  ca?: string;
  caKey?: string;
  saveIdentity?: string;
  vpcd: { host: string; port: number };
  apduLog?: string;
  latencyMs: number;
  stallAfter?: number;
  removed: boolean;
  card: 'jpki' | 'other';
}

function parseCli(argv: string[]): CliOptions | 'help' {
  const { values } = parseArgs({
    args: argv,
    options: {
      pin: { type: 'string', default: '1234' },
      'sign-pin': { type: 'string', default: 'ABC123' },
      'my-number': { type: 'string', default: '123456789018' },
      cert: { type: 'string' },
      key: { type: 'string' },
      ca: { type: 'string' },
      'ca-key': { type: 'string' },
      'save-identity': { type: 'string' },
      vpcd: { type: 'string', default: '127.0.0.1:35963' },
      'apdu-log': { type: 'string' },
      'latency-ms': { type: 'string', default: '0' },
      'stall-after': { type: 'string' },
      removed: { type: 'boolean', default: false },
      card: { type: 'string', default: 'jpki' },
      help: { type: 'boolean', short: 'h', default: false },
    },
  });
  if (values.help) return 'help';
  const latencyMs = Number(values['latency-ms']);
  if (!Number.isInteger(latencyMs) || latencyMs < 0) throw new Error('--latency-ms needs a whole number >= 0');
  const stallAfter = values['stall-after'] === undefined ? undefined : Number(values['stall-after']);
  if (stallAfter !== undefined && (!Number.isInteger(stallAfter) || stallAfter < 0)) throw new Error('--stall-after needs a whole number >= 0');
  const card = values.card;
  if (card !== 'jpki' && card !== 'other') throw new Error('--card is jpki or other');
  return {
    pin: values.pin,
    signPin: values['sign-pin'],
    myNumber: values['my-number'],
    cert: values.cert,
    key: values.key,
    ca: values.ca,
    caKey: values['ca-key'],
    saveIdentity: values['save-identity'],
    vpcd: parseHostPort(values.vpcd),
    apduLog: values['apdu-log'],
    latencyMs,
    stallAfter,
    removed: values.removed,
    card,
  };
}

function say(message: string): void {
  process.stderr.write(`card-sim: ${message}\n`);
}

function readOptional(file: string | undefined): string | undefined {
  return file === undefined ? undefined : readFileSync(file, 'utf8');
}

/** The CA named on the command line, or else the development CA that the local platform trusts. */
async function issuingCaFiles(o: CliOptions): Promise<{ ca?: string; caKey?: string }> {
  if (o.cert || o.key || o.ca || o.caKey) return { ca: o.ca, caKey: o.caKey };
  const devCa = await ensureDevCa();
  say(`certificate issued by the development CA in ${devCa.dir} (the CA npm start trusts)`);
  return { ca: devCa.certificate, caKey: devCa.key };
}

async function loadIdentity(o: CliOptions): Promise<CardIdentity> {
  const { ca, caKey } = await issuingCaFiles(o);
  return buildIdentity({
    authPin: o.pin,
    signPin: o.signPin,
    myNumber: o.myNumber,
    certPem: readOptional(o.cert),
    keyPem: readOptional(o.key),
    caPem: readOptional(ca),
    caKeyPem: readOptional(caKey),
  });
}

function statusLine(card: JpkiCard | OtherCard, client: VpcdClient): string {
  const where = client.isInserted ? 'inserted' : 'removed';
  if (card instanceof OtherCard) return `card ${where}; not a My Number card (no JPKI application)`;
  return `card ${where}; auth PIN tries left ${card.triesLeft('auth')}, sign PIN tries left ${card.triesLeft('sign')}`;
}

/** The JPKI card with its identity (minted or loaded), or the card that is not one. */
async function buildCard(options: CliOptions): Promise<JpkiCard | OtherCard> {
  if (options.card === 'other') {
    say(`a card that is not a My Number card (ATR ${OTHER_CARD_ATR.toString('hex').toUpperCase()})`);
    return new OtherCard();
  }
  const identity = await loadIdentity(options);
  for (const note of identity.notes) say(`note: ${note}`);
  if (options.saveIdentity) saveIdentity(identity, options.saveIdentity);
  say(`user-authentication certificate serial ${identity.serialNumberHex}, subject ${identity.subject}`);
  return new JpkiCard(identity.contents);
}

function listenForKeys(card: JpkiCard | OtherCard, client: VpcdClient, quit: () => void): void {
  const actions: Record<string, () => void> = {
    i: () => client.insert(),
    r: () => client.remove(),
    t: () => (client.isInserted ? client.remove() : client.insert()),
    s: () => say(statusLine(card, client)),
    q: quit,
    '\u0003': quit, // Ctrl-C arrives as a key in raw mode
  };
  if (process.stdin.isTTY) process.stdin.setRawMode(true);
  process.stdin.on('data', (chunk: Buffer) => {
    for (const key of chunk.toString('utf8').toLowerCase()) actions[key]?.();
  });
  // With stdin closed (e.g. started with </dev/null) keys are over but the card stays.
  process.stdin.on('end', () => process.stdin.pause());
}

async function main(): Promise<void> {
  const options = parseCli(process.argv.slice(2));
  if (options === 'help') {
    process.stdout.write(HELP);
    return;
  }
  // Like npm start for its services: a fresh machine gets pcscd and the virtual reader driver.
  ensureDebianPackages(VIRTUAL_READER_PACKAGES);
  const card = await buildCard(options);
  const log = new ApduLog(options.apduLog);
  const client = new VpcdClient({ ...options.vpcd, card, log, latencyMs: options.latencyMs, stallAfter: options.stallAfter, onStatus: say });
  const quit = (): void => {
    client.remove();
    say('bye');
    process.exit(0);
  };
  listenForKeys(card, client, quit);
  process.on('SIGUSR2', () => client.insert());
  process.on('SIGUSR1', () => client.remove());
  process.on('SIGINT', quit);
  process.on('SIGTERM', quit);
  say(`ready (vpcd ${options.vpcd.host}:${options.vpcd.port}); keys: i insert, r remove, t toggle, s status, q quit`);
  if (!options.removed) client.insert();
  // The simulator runs until told to quit, even while the card is out and stdin is closed.
  setInterval(() => undefined, 1 << 30);
}

main().catch((error: unknown) => {
  say(`error: ${error instanceof Error ? error.message : String(error)}`);
  process.exit(1);
});
