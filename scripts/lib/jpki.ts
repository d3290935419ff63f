// Certificate verification in development: with no trust anchors configured, `npm start` and
// `npm run mykey` use the development CA in .data/dev-ca/ and its CRL, the same CA that
// `npm run card-sim` issues card certificates from.
import { ensureDevCa } from '../../reader-agent/src/dev-ca/store.ts';

/** Variables to add to `env`: none when anchors are configured (or in production, which must configure them). */
export async function developmentJpkiEnv(env: NodeJS.ProcessEnv = process.env): Promise<Record<string, string>> {
  if (env.JPKI_TRUST_ANCHORS || env.NODE_ENV === 'production') return {};
  const devCa = await ensureDevCa();
  const crlConfigured = Boolean(env.JPKI_CRL_FILES || env.JPKI_CRL_URLS);
  return { JPKI_TRUST_ANCHORS: devCa.certificate, ...(crlConfigured ? {} : { JPKI_CRL_FILES: devCa.crl }) };
}
