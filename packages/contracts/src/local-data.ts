// Where development keeps its local data, which the development tools write and production only
// looks at, to refuse what development left there (an old development secret, this machine's
// development CA).
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const repoRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..', '..');

/**
 * The MariaDB and Redis of `npm start` and `npm test`, the development CA, an old development
 * secret: `.data/` at the repository's root unless MYKEY_DATA_DIR says otherwise; git-ignored.
 */
export const dataDir = path.resolve(process.env.MYKEY_DATA_DIR ?? path.join(repoRoot, '.data'));

/** `<data dir>/dev-ca`: the development CA's folder. */
export const DEV_CA_DIR = path.join(dataDir, 'dev-ca');

export interface DevCaFiles {
  dir: string;
  /** The user-authentication CA certificate (PEM): the trust anchor bundle in development. */
  certificate: string;
  /** Its PKCS#8 private key (PEM, mode 0600). */
  key: string;
  /** A CRL signed by the CA (PEM "X509 CRL"), valid for days ahead. */
  crl: string;
}

/** The files of the development CA kept in `dir` (@mykey/dev-tools' dev-ca/store.ts makes them). */
export function devCaFiles(dir: string = DEV_CA_DIR): DevCaFiles {
  return { dir, certificate: path.join(dir, 'auth-ca.pem'), key: path.join(dir, 'auth-ca.key.pem'), crl: path.join(dir, 'auth-crl.pem') };
}
