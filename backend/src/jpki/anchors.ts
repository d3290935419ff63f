// The trust anchors: the JPKI user-authentication CA certificates a card certificate must
// chain to. Several at once, so a CA key rollover (old and new CA both issuing) just works.
import { existsSync, readFileSync, statSync } from 'node:fs';
import * as pkijs from 'pkijs';
import { devCaFiles } from '@mykey/contracts/local-data.ts';
import { ConfigError, isDevelopment, type JpkiConfig } from '../config.ts';
import { parseDer } from './der.ts';
import { isDevelopmentCa } from './development-ca.ts';
import { pemBlocks, PemError } from './pem.ts';

export interface TrustAnchors {
  /** The bundle they were read from, for messages. */
  file: string;
  certificates: pkijs.Certificate[];
}

const MAX_BUNDLE_BYTES = 1024 * 1024;
const BASIC_CONSTRAINTS = '2.5.29.19';

/**
 * Reads the configured bundle. Development names one too: `npm start`, `npm run dev` and
 * `npm test` name the development CA's (scripts/lib/jpki.ts). Production refuses a bundle holding
 * a development CA. Throws ConfigError naming the variable and the file.
 */
export async function loadTrustAnchors(config: Pick<JpkiConfig, 'NODE_ENV' | 'JPKI_TRUST_ANCHORS'>): Promise<TrustAnchors> {
  const file = config.JPKI_TRUST_ANCHORS;
  if (!file) throw new ConfigError([`JPKI_TRUST_ANCHORS: not set: name a PEM bundle of the JPKI user-authentication CA certificates (in development, npm start, npm run dev and npm test name the development CA's)`]);
  const bad = (problem: string) => new ConfigError([`JPKI_TRUST_ANCHORS: ${file}: ${problem}`]);
  let text: string;
  try {
    if (statSync(file).size > MAX_BUNDLE_BYTES) throw bad(`larger than ${MAX_BUNDLE_BYTES} bytes; is this a certificate bundle?`);
    text = readFileSync(file, 'latin1');
  } catch (error) {
    if (error instanceof ConfigError) throw error;
    throw bad(`cannot be read (${(error as NodeJS.ErrnoException).code ?? String(error)})`);
  }
  let blocks;
  try {
    blocks = pemBlocks(text, { textOutside: true }).filter((block) => block.label === 'CERTIFICATE');
  } catch (error) {
    throw bad(error instanceof PemError ? error.message : String(error));
  }
  if (blocks.length === 0) throw bad('holds no PEM "CERTIFICATE" block');
  const certificates = blocks.map((block, index) => {
    const certificate = caCertificate(block.der);
    if (typeof certificate === 'string') throw bad(`certificate ${index + 1} of ${blocks.length} ${certificate}`);
    return certificate;
  });
  if (!isDevelopment(config)) {
    const local = localDevelopmentCa();
    const index = certificates.findIndex((certificate, i) => isDevelopmentCa(certificate) || (local && blocks[i]!.der.equals(local)));
    if (index >= 0) throw bad(`certificate ${index + 1} of ${blocks.length} is a development CA (packages/dev-tools/src/dev-ca), which production never trusts; name the bundle of the real JPKI user-authentication CA certificates, or set NODE_ENV=development`);
  }
  return { file, certificates };
}

/** The certificate, or why it cannot be a trust anchor. */
function caCertificate(der: Buffer): pkijs.Certificate | string {
  const asn1 = parseDer(der);
  let certificate: pkijs.Certificate;
  try {
    if (!asn1) throw new Error('not DER');
    certificate = new pkijs.Certificate({ schema: asn1 });
  } catch {
    return 'is not an X.509 certificate';
  }
  const constraints = certificate.extensions?.find((e) => e.extnID === BASIC_CONSTRAINTS)?.parsedValue as pkijs.BasicConstraints | undefined;
  if (!constraints?.cA) return 'is not a CA certificate (no basicConstraints cA=true)';
  return certificate;
}

/** This machine's development CA certificate (DER), if it has one: one made before CAs carried their mark has only this to tell it. */
function localDevelopmentCa(): Buffer | undefined {
  const { certificate } = devCaFiles();
  if (!existsSync(certificate)) return undefined;
  return pemBlocks(readFileSync(certificate, 'latin1'), { textOutside: true })[0]?.der;
}
