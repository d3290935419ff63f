// `npm run mykey -- verify-cert [--value-moving] FILE`: would the platform accept this card
// certificate? Uses the configured anchors and CRLs (files read and URLs fetched directly, so
// no database is needed) and prints exactly one JSON object. Exit 0 accepted, 1 refused,
// 2 usage error, unreadable file or bad configuration.
import { open } from 'node:fs/promises';
import { parseArgs } from 'node:util';
import { ConfigError, loadJpkiConfig } from '../config.ts';
import { loadTrustAnchors } from './anchors.ts';
import { MAX_CERTIFICATE_BYTES, verifyUserCertificate, type Verdict } from './certificates.ts';
import { crlSources, readCrlSource } from './crl-sources.ts';
import { looksLikePem, PemError, singlePem } from './pem.ts';
import { CrlError, RevocationList } from './revocation.ts';

const USAGE = 'npm run mykey -- verify-cert [--value-moving] FILE   (FILE: one certificate, PEM or DER)';
// PEM is base64 with line breaks and labels: a certificate of the largest accepted size fits well within this.
const MAX_FILE_BYTES = 2 * MAX_CERTIFICATE_BYTES;

type Output =
  | { verdict: 'accepted'; serial: string; notAfter: string; revocationChecked: boolean }
  | { verdict: 'refused'; code: string; detail: string }
  | { verdict: 'error'; code: 'usage' | 'file_unreadable' | 'config_invalid'; detail: string };

const EXIT_CODES = { accepted: 0, refused: 1, error: 2 } as const;

export async function verifyCertCommand(args: string[], env: NodeJS.ProcessEnv = process.env): Promise<number> {
  const output = await decide(args, env);
  process.stdout.write(`${JSON.stringify(output)}\n`);
  return EXIT_CODES[output.verdict];
}

async function decide(args: string[], env: NodeJS.ProcessEnv): Promise<Output> {
  let parsed;
  try {
    parsed = parseArgs({ args, options: { 'value-moving': { type: 'boolean', default: false } }, allowPositionals: true });
  } catch (error) {
    return { verdict: 'error', code: 'usage', detail: `${(error as Error).message}; usage: ${USAGE}` };
  }
  if (parsed.positionals.length !== 1) return { verdict: 'error', code: 'usage', detail: `one FILE expected; usage: ${USAGE}` };
  const bytes = await readLimited(parsed.positionals[0]!);
  if (!Buffer.isBuffer(bytes)) return bytes;
  const der = certificateDer(bytes);
  if (!Buffer.isBuffer(der)) return der;
  let verdict: Verdict;
  try {
    const config = loadJpkiConfig(env);
    const anchors = (await loadTrustAnchors(config)).certificates;
    const revocations = new RevocationList(anchors);
    await Promise.all(crlSources(config).map(async (source) => {
      try {
        await revocations.add(await readCrlSource(source));
      } catch (error) {
        if (!(error instanceof CrlError)) throw error;
        process.stderr.write(`verify-cert: CRL ${source.location} not used: ${error.code}: ${error.message}\n`);
      }
    }));
    verdict = await verifyUserCertificate(der, {
      anchors,
      revocation: (issuer, serialHex, at) => revocations.status(issuer, serialHex, at),
      failClosed: parsed.values['value-moving'] && config.JPKI_REVOCATION_POLICY === 'fail-closed',
      now: new Date(),
    });
  } catch (error) {
    if (!(error instanceof ConfigError)) throw error;
    return { verdict: 'error', code: 'config_invalid', detail: error.problems.join('; ') };
  }
  if (!verdict.ok) return { verdict: 'refused', code: verdict.code, detail: verdict.detail };
  return { verdict: 'accepted', serial: verdict.serialHex, notAfter: verdict.notAfter.toISOString(), revocationChecked: verdict.revocationChecked };
}

/** The file's bytes; a file too large to be a certificate is refused without reading it all. */
async function readLimited(path: string): Promise<Buffer | Output> {
  let file;
  try {
    file = await open(path, 'r');
  } catch (error) {
    return { verdict: 'error', code: 'file_unreadable', detail: `cannot open ${path} (${(error as NodeJS.ErrnoException).code ?? String(error)})` };
  }
  try {
    const stat = await file.stat();
    if (!stat.isFile()) return { verdict: 'error', code: 'file_unreadable', detail: `${path} is not a regular file` };
    if (stat.size > MAX_FILE_BYTES) return { verdict: 'refused', code: 'certificate_malformed', detail: `${path} is ${stat.size} bytes; a certificate file is at most ${MAX_FILE_BYTES}` };
    return await file.readFile();
  } catch (error) {
    return { verdict: 'error', code: 'file_unreadable', detail: `cannot read ${path} (${(error as NodeJS.ErrnoException).code ?? String(error)})` };
  } finally {
    await file.close();
  }
}

/** DER as is; PEM must be exactly one "CERTIFICATE" block. */
function certificateDer(bytes: Buffer): Buffer | Output {
  if (!looksLikePem(bytes)) return bytes;
  try {
    return singlePem(bytes.toString('latin1'), 'CERTIFICATE');
  } catch (error) {
    if (!(error instanceof PemError)) throw error;
    return { verdict: 'refused', code: 'certificate_malformed', detail: error.message };
  }
}
