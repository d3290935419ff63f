// npm run test-ca -- <command> [options]: the development JPKI CA on the command line.
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseArgs, type ParseArgsConfig } from 'node:util';
import {
  createCa,
  issueCertificate,
  issueCrl,
  loadCa,
  type CaKind,
  type CertificateAuthority,
  type IssuedCertificate,
  type RevocationReason,
  type RevokedEntry,
} from './index.ts';

const HELP = `Usage: npm run test-ca -- <command> [options]

A DEVELOPMENT stand-in for the J-LIS certification authorities. It mints certificates
with the profile of real My Number card certificates. Never trust its output in production.
Files are PEM: certificates "CERTIFICATE", keys PKCS#8 "PRIVATE KEY", CRLs "X509 CRL".
Every command prints a JSON summary (file names, serial numbers, validity) on stdout.

Commands:
  ca        a self-signed CA
              --kind auth|sign   auth: OU=JPKI for user authentication (default)
                                 sign: OU=JPKI for digital signature
              writes <out>/<name>.pem and <out>/<name>.key.pem (name default: <kind>-ca)
  cert      a card holder's certificate from a CA; its profile follows the CA's kind:
            auth CA -> user-authentication certificate (subject C=JP, CN=<23 opaque chars>,
            keyUsage digitalSignature), sign CA -> signing certificate
            (keyUsage digitalSignature + nonRepudiation). RSA-2048, sha256WithRSA, 5 years.
              --ca FILE --ca-key FILE   the issuing CA (required)
              --cn TEXT                 subject CN (default: fresh opaque string)
              --serial HEX              serial number (default: random 64-bit)
              --crl-url URL             add a CRL distribution point
              --expired                 valid from 6 years ago until 1 year ago
              --not-yet-valid           valid from 1 year from now, for 5 years
              writes <out>/<name>.pem and <out>/<name>.key.pem (name default: user)
  crl       a CRL signed by a CA
              --ca FILE --ca-key FILE   the issuing CA (required)
              --revoke SERIAL[:REASON]  repeatable; REASON one of unspecified,
                                        keyCompromise, affiliationChanged, superseded,
                                        cessationOfOperation
              --this-update ISO --next-update ISO (default: now, now + 1 day)
              --crl-number N            (default 1)
              writes <out>/<name>.pem (name default: crl)
  dev-set   everything at once for development: auth CA, sign CA, a valid user-
            authentication certificate, an expired one, a not-yet-valid one, a revoked
            one listed in a CRL, and a signing certificate

Options for every command:
  --out DIR            output directory (default: current directory)
  --name NAME          base file name
  --not-before ISO     start of validity (ISO 8601, e.g. 2024-04-01T00:00:00Z)
  --not-after ISO      end of validity
  -h, --help           this text
`;

const OPTIONS = {
  out: { type: 'string', default: '.' },
  name: { type: 'string' },
  kind: { type: 'string', default: 'auth' },
  ca: { type: 'string' },
  'ca-key': { type: 'string' },
  cn: { type: 'string' },
  serial: { type: 'string' },
  'crl-url': { type: 'string' },
  expired: { type: 'boolean', default: false },
  'not-yet-valid': { type: 'boolean', default: false },
  'not-before': { type: 'string' },
  'not-after': { type: 'string' },
  revoke: { type: 'string', multiple: true, default: [] as string[] },
  'this-update': { type: 'string' },
  'next-update': { type: 'string' },
  'crl-number': { type: 'string', default: '1' },
  help: { type: 'boolean', short: 'h', default: false },
} satisfies ParseArgsConfig['options'];

function parse(argv: string[]) {
  return parseArgs({ args: argv, options: OPTIONS, allowPositionals: true });
}

type Values = ReturnType<typeof parse>['values'];

const REASONS: RevocationReason[] = ['unspecified', 'keyCompromise', 'affiliationChanged', 'superseded', 'cessationOfOperation'];

function date(value: string | undefined, flag: string): Date | undefined {
  if (value === undefined) return undefined;
  const parsed = new Date(value);
  if (Number.isNaN(parsed.getTime())) throw new Error(`${flag}: not an ISO 8601 date: ${value}`);
  return parsed;
}

function yearsFromNow(years: number): Date {
  const date = new Date(Math.floor(Date.now() / 1000) * 1000);
  date.setUTCFullYear(date.getUTCFullYear() + years);
  return date;
}

/** --expired and --not-yet-valid are shorthands; explicit dates win over them. */
function validity(v: Values): { notBefore?: Date; notAfter?: Date } {
  let notBefore = date(v['not-before'], '--not-before');
  let notAfter = date(v['not-after'], '--not-after');
  if (v.expired) {
    notBefore ??= yearsFromNow(-6);
    notAfter ??= yearsFromNow(-1);
  }
  if (v['not-yet-valid']) notBefore ??= yearsFromNow(1);
  return { notBefore, notAfter };
}

function writePem(dir: string, file: string, pem: string, secret = false): string {
  mkdirSync(dir, { recursive: true });
  const path = join(dir, file);
  writeFileSync(path, pem, secret ? { mode: 0o600 } : {});
  return path;
}

async function requireCa(v: Values): Promise<CertificateAuthority> {
  if (!v.ca || !v['ca-key']) throw new Error('--ca and --ca-key are required');
  return loadCa(readFileSync(v.ca, 'utf8'), readFileSync(v['ca-key'], 'utf8'));
}

function caSummary(ca: CertificateAuthority, certificate: string, key: string): object {
  const subject = ca.certificate.subject.typesAndValues.map((tv) => String(tv.value.valueBlock.value)).join(', ');
  return { kind: ca.kind, certificate, key, subject };
}

function holderSummary(cert: IssuedCertificate, certificate: string, key: string): object {
  return {
    kind: cert.kind,
    certificate,
    key,
    serialNumber: cert.serialNumberHex,
    commonName: cert.commonName,
    notBefore: cert.notBefore.toISOString(),
    notAfter: cert.notAfter.toISOString(),
  };
}

async function commandCa(v: Values): Promise<object> {
  if (v.kind !== 'auth' && v.kind !== 'sign') throw new Error('--kind must be auth or sign');
  const kind: CaKind = v.kind;
  const ca = await createCa({ kind, ...validity(v) });
  const name = v.name ?? `${kind}-ca`;
  const certificate = writePem(v.out, `${name}.pem`, ca.certificatePem);
  const key = writePem(v.out, `${name}.key.pem`, ca.privateKeyPem, true);
  return caSummary(ca, certificate, key);
}

async function commandCert(v: Values): Promise<object> {
  const ca = await requireCa(v);
  const cert = await issueCertificate(ca, {
    commonName: v.cn,
    serialNumberHex: v.serial,
    crlDistributionPoint: v['crl-url'],
    ...validity(v),
  });
  return saveHolder(v.out, v.name ?? 'user', cert);
}

function saveHolder(dir: string, name: string, cert: IssuedCertificate): object {
  const certificate = writePem(dir, `${name}.pem`, cert.certificatePem);
  const key = writePem(dir, `${name}.key.pem`, cert.privateKeyPem, true);
  return holderSummary(cert, certificate, key);
}

function parseRevoked(spec: string): RevokedEntry {
  const [serialNumberHex, reason] = spec.split(':');
  if (!serialNumberHex) throw new Error(`--revoke needs SERIAL[:REASON], got ${spec}`);
  if (reason === undefined) return { serialNumberHex };
  if (!REASONS.includes(reason as RevocationReason)) throw new Error(`unknown revocation reason ${reason}`);
  return { serialNumberHex, reason: reason as RevocationReason };
}

async function commandCrl(v: Values): Promise<object> {
  const ca = await requireCa(v);
  const crlNumber = Number(v['crl-number']);
  if (!Number.isInteger(crlNumber) || crlNumber < 0) throw new Error('--crl-number must be a whole number');
  const crl = await issueCrl(ca, {
    revoked: v.revoke.map(parseRevoked),
    thisUpdate: date(v['this-update'], '--this-update'),
    nextUpdate: date(v['next-update'], '--next-update'),
    crlNumber,
  });
  const file = writePem(v.out, `${v.name ?? 'crl'}.pem`, crl.pem);
  return { crl: file, revoked: v.revoke, thisUpdate: crl.thisUpdate.toISOString(), nextUpdate: crl.nextUpdate.toISOString() };
}

async function commandDevSet(v: Values): Promise<object> {
  const authCa = await createCa({ kind: 'auth' });
  const signCa = await createCa({ kind: 'sign' });
  const revoked = await issueCertificate(authCa);
  const crl = await issueCrl(authCa, { revoked: [{ serialNumberHex: revoked.serialNumberHex, reason: 'keyCompromise' }] });
  return {
    authCa: caSummary(authCa, writePem(v.out, 'auth-ca.pem', authCa.certificatePem), writePem(v.out, 'auth-ca.key.pem', authCa.privateKeyPem, true)),
    signCa: caSummary(signCa, writePem(v.out, 'sign-ca.pem', signCa.certificatePem), writePem(v.out, 'sign-ca.key.pem', signCa.privateKeyPem, true)),
    user: saveHolder(v.out, 'user', await issueCertificate(authCa)),
    expired: saveHolder(v.out, 'user-expired', await issueCertificate(authCa, { notBefore: yearsFromNow(-6), notAfter: yearsFromNow(-1) })),
    notYetValid: saveHolder(v.out, 'user-not-yet-valid', await issueCertificate(authCa, { notBefore: yearsFromNow(1) })),
    revoked: saveHolder(v.out, 'user-revoked', revoked),
    signer: saveHolder(v.out, 'signer', await issueCertificate(signCa)),
    crl: { crl: writePem(v.out, 'auth-crl.pem', crl.pem), revoked: [revoked.serialNumberHex] },
  };
}

const COMMANDS: Record<string, (v: Values) => Promise<object>> = {
  ca: commandCa,
  cert: commandCert,
  crl: commandCrl,
  'dev-set': commandDevSet,
};

async function main(): Promise<void> {
  const { values, positionals } = parse(process.argv.slice(2));
  const command = positionals[0];
  if (values.help || command === undefined) {
    process.stdout.write(HELP);
    return;
  }
  const run = COMMANDS[command];
  if (!run) throw new Error(`unknown command ${command}; see --help`);
  process.stdout.write(`${JSON.stringify(await run(values), null, 2)}\n`);
}

main().catch((error: unknown) => {
  process.stderr.write(`test-ca: ${error instanceof Error ? error.message : String(error)}\n`);
  process.exit(1);
});
