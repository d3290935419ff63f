// Certificates and MyKey IDs on a development machine: with no trust anchors configured,
// `npm start` and `npm run mykey` use the development CA in .data/dev-ca/ and its CRL, the
// same CA that `npm run card-sim` issues card certificates from; with no MYKEY_SECRET, a
// secret of this machine's own, kept in .data/mykey-secret.
import { randomBytes } from 'node:crypto';
import { existsSync, linkSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { ensureDevCa } from '../../reader-agent/src/dev-ca/store.ts';
import { dataDir } from './paths.ts';

export const LOCAL_MYKEY_SECRET_FILE = path.join(dataDir, 'mykey-secret');

/**
 * Variables to add to `env`: none that are configured, and none in production, which must
 * configure them. The caller's env decides: `npm start` runs the server with NODE_ENV=production
 * but is itself a development tool, so it gets them.
 */
export async function developmentJpkiEnv(env: NodeJS.ProcessEnv = process.env): Promise<Record<string, string>> {
  if (env.NODE_ENV === 'production') return {};
  return { ...(await devCaEnv(env)), ...(env.MYKEY_SECRET ? {} : { MYKEY_SECRET: localMykeySecret() }) };
}

async function devCaEnv(env: NodeJS.ProcessEnv): Promise<Record<string, string>> {
  if (env.JPKI_TRUST_ANCHORS) return {};
  const devCa = await ensureDevCa();
  const crlConfigured = Boolean(env.JPKI_CRL_FILES || env.JPKI_CRL_URLS);
  return { JPKI_TRUST_ANCHORS: devCa.certificate, ...(crlConfigured ? {} : { JPKI_CRL_FILES: devCa.crl }) };
}

/**
 * This machine's MyKey secret (hex), made on first use and kept for good: the MyKey IDs in the
 * local database depend on it, and the server refuses the public development secret in
 * production mode. Made aside and linked into place, so two first users agree on one.
 */
function localMykeySecret(): string {
  if (!existsSync(LOCAL_MYKEY_SECRET_FILE)) {
    mkdirSync(dataDir, { recursive: true });
    const partial = `${LOCAL_MYKEY_SECRET_FILE}.${process.pid}.tmp`;
    writeFileSync(partial, `${randomBytes(32).toString('hex')}\n`, { mode: 0o600 });
    try {
      linkSync(partial, LOCAL_MYKEY_SECRET_FILE);
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error;
    } finally {
      rmSync(partial, { force: true });
    }
  }
  return readFileSync(LOCAL_MYKEY_SECRET_FILE, 'utf8').trim();
}
