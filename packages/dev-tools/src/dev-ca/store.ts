// The development CA kept on disk, so that `npm start` trusts it and `npm run card-sim`
// issues card certificates from it: a simulated card then logs in to the local platform
// with no flags. Made once; its CRL is renewed whenever it comes close to going stale.
// Several processes may call this at once (parallel tests, npm start and card-sim), so every
// write lands by an atomic rename.
import { existsSync, mkdirSync, mkdtempSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { basename, dirname, join } from 'node:path';
import * as pkijs from 'pkijs';
import { DEV_CA_DIR, devCaFiles, type DevCaFiles } from '@mykey/contracts/local-data.ts';
import { createCa, fromPem, issueCrl, loadCa, type CertificateAuthority, type RevocationReason, type RevokedEntry } from './index.ts';

// Where the files live is a contract (@mykey/contracts/local-data.ts): production looks there, to refuse this CA.
export { DEV_CA_DIR, devCaFiles, type DevCaFiles };

/** How long a fresh development CRL is valid, and how close to its end it is renewed. */
const CRL_VALIDITY_MS = 7 * 86_400_000;
const CRL_RENEW_WITHIN_MS = 86_400_000;

/** Creates the development CA in `dir` if it is not there yet, renews a stale CRL, and returns the paths. */
export async function ensureDevCa(dir: string = DEV_CA_DIR, now = new Date()): Promise<DevCaFiles> {
  const files = devCaFiles(dir);
  if (!existsSync(files.certificate)) await createInPlace(files);
  const ca = await loadCa(readFileSync(files.certificate, 'utf8'), readFileSync(files.key, 'utf8'));
  const current = existsSync(files.crl) ? readCrl(files.crl) : undefined;
  if (!current || !current.nextUpdate || current.nextUpdate.getTime() - now.getTime() < CRL_RENEW_WITHIN_MS) {
    await renewCrl(ca, files.crl, current, now);
  }
  return files;
}

/** Mints the CA in a private directory and renames it into place; a racer that lost uses the winner's. */
async function createInPlace(files: DevCaFiles): Promise<void> {
  mkdirSync(dirname(files.dir), { recursive: true });
  const staging = mkdtempSync(join(dirname(files.dir), `.${basename(files.dir)}-`));
  const ca = await createCa({ kind: 'auth' });
  const staged = devCaFiles(staging);
  writeFileSync(staged.certificate, ca.certificatePem);
  writeFileSync(staged.key, ca.privateKeyPem, { mode: 0o600 });
  try {
    // rename(2) replaces an empty directory but fails on one that has files: first one wins.
    renameSync(staging, files.dir);
  } catch (error) {
    rmSync(staging, { recursive: true, force: true });
    if (!existsSync(files.certificate)) throw new Error(`${files.dir} exists but holds no auth-ca.pem; move it away to get a fresh development CA`, { cause: error });
  }
}

interface CrlOnDisk { thisUpdate: Date; nextUpdate: Date | undefined; crlNumber: number; revoked: RevokedEntry[] }

const REASONS: Record<number, RevocationReason> = { 0: 'unspecified', 1: 'keyCompromise', 3: 'affiliationChanged', 4: 'superseded', 5: 'cessationOfOperation' };
const CRL_NUMBER = '2.5.29.20';
const CRL_REASON = '2.5.29.21';

function readCrl(file: string): CrlOnDisk | undefined {
  try {
    const crl = pkijs.CertificateRevocationList.fromBER(new Uint8Array(fromPem(readFileSync(file, 'utf8'))));
    const number = crl.crlExtensions?.extensions.find((e) => e.extnID === CRL_NUMBER)?.parsedValue as { valueBlock: { valueDec: number } } | undefined;
    return {
      thisUpdate: crl.thisUpdate.value,
      nextUpdate: crl.nextUpdate?.value,
      crlNumber: number?.valueBlock.valueDec ?? 0,
      revoked: (crl.revokedCertificates ?? []).map((entry) => {
        const reason = entry.crlEntryExtensions?.extensions.find((e) => e.extnID === CRL_REASON)?.parsedValue as { valueBlock: { valueDec: number } } | undefined;
        return {
          serialNumberHex: Buffer.from(entry.userCertificate.valueBlock.valueHexView).toString('hex'),
          revocationDate: entry.revocationDate.value,
          reason: reason ? REASONS[reason.valueBlock.valueDec] : undefined,
        };
      }),
    };
  } catch {
    // An unreadable CRL is simply replaced; the CA itself is what must not change.
    return undefined;
  }
}

/** A fresh CRL that keeps every revocation of the one it replaces (a dev card revoked by hand stays revoked). */
async function renewCrl(ca: CertificateAuthority, file: string, previous: CrlOnDisk | undefined, now: Date): Promise<void> {
  // Whole seconds, and strictly after the previous one, so the platform sees it as newer.
  const thisUpdate = new Date(Math.max(Math.floor(now.getTime() / 1000) * 1000, (previous?.thisUpdate.getTime() ?? 0) + 1000));
  const crl = await issueCrl(ca, {
    revoked: previous?.revoked ?? [],
    thisUpdate,
    nextUpdate: new Date(thisUpdate.getTime() + CRL_VALIDITY_MS),
    crlNumber: (previous?.crlNumber ?? 0) + 1,
  });
  const staging = `${file}.${process.pid}.${Math.random().toString(36).slice(2)}`;
  writeFileSync(staging, crl.pem);
  renameSync(staging, file);
}
