// Certificates and MyKey IDs on a development machine: in development (NODE_ENV=development or
// test), with no trust anchors configured, `npm start`, `npm run mykey` and `npm test` hand the
// server, the worker and the commands the development CA in .data/dev-ca/ (and its CRL), the same
// CA that `npm run card-sim` issues card certificates from. The backend itself knows no
// development CA: it trusts what JPKI_TRUST_ANCHORS names.
import { isDevelopment, localMykeySecretHex } from '@mykey/backend/config.ts';
import { ensureDevCa } from '@mykey/dev-tools/dev-ca/store.ts';

/** Variables to add to `env`: none that are configured, and none unless `env` is development. */
export async function developmentJpkiEnv(env: NodeJS.ProcessEnv = process.env): Promise<Record<string, string>> {
  if (!isDevelopment(env)) return {};
  return { ...(await devCaEnv(env)), ...(env.MYKEY_SECRET ? {} : localMykeySecret()) };
}

/**
 * The development CA (made on first use) as the trust anchors, unless `env` names its own; with its
 * CRL unless `env` configures CRL sources or `crl` is false.
 */
export async function devCaEnv(env: NodeJS.ProcessEnv, { crl = true } = {}): Promise<Record<string, string>> {
  if (env.JPKI_TRUST_ANCHORS) return {};
  const devCa = await ensureDevCa();
  const crlConfigured = Boolean(env.JPKI_CRL_FILES || env.JPKI_CRL_URLS);
  return { JPKI_TRUST_ANCHORS: devCa.certificate, ...(crlConfigured || !crl ? {} : { JPKI_CRL_FILES: devCa.crl }) };
}

/**
 * The MyKey secret an earlier `npm start` made for this machine (it ran the server as production
 * then), which the IDs in its local database depend on; none is made any more: development falls
 * back on the public development secret (backend/src/config.ts).
 */
function localMykeySecret(): Record<string, string> {
  const local = localMykeySecretHex();
  return local === undefined ? {} : { MYKEY_SECRET: local };
}

/**
 * The environment of an operator's command on the database: against `npm start`'s own local
 * database (no DATABASE_URL) it is development unless NODE_ENV says otherwise; against a
 * configured database, whatever NODE_ENV says (unset: production).
 */
export async function databaseCommandEnv(env: NodeJS.ProcessEnv = process.env): Promise<NodeJS.ProcessEnv> {
  const settled = env.NODE_ENV || env.DATABASE_URL ? env : { ...env, NODE_ENV: 'development' };
  return { ...settled, ...(await developmentJpkiEnv(settled)) };
}
