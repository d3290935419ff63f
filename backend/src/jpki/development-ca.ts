// The mark of a development CA. The development CA (packages/dev-tools/src/dev-ca) copies the real
// J-LIS CA's names, so only this mark tells it apart: a non-critical comment extension, which
// any verifier ignores and `openssl x509 -text` shows, and which production refuses as an anchor.
import path from 'node:path';
import type * as pkijs from 'pkijs';
import { DEVELOPMENT_CA_MARK_OID, DEVELOPMENT_CA_MARK_TEXT } from '@mykey/contracts/development-ca.ts';
import { dataDir } from '../data-dir.ts';

/** `<data dir>/dev-ca`, i.e. `.data/dev-ca/` unless MYKEY_DATA_DIR says otherwise. */
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

/** Whether the certificate carries the development CA's mark. */
export function isDevelopmentCa(certificate: pkijs.Certificate): boolean {
  return (certificate.extensions ?? []).some((extension) => extension.extnID === DEVELOPMENT_CA_MARK_OID
    && Buffer.from(extension.extnValue.valueBlock.valueHexView).includes(DEVELOPMENT_CA_MARK_TEXT));
}
