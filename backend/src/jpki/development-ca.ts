// The mark of a development CA. The development CA (packages/dev-tools/src/dev-ca) copies the real
// J-LIS CA's names, so only this mark tells it apart: a non-critical comment extension, which
// any verifier ignores and `openssl x509 -text` shows, and which production refuses as an anchor.
import type * as pkijs from 'pkijs';
import { DEVELOPMENT_CA_MARK_OID, DEVELOPMENT_CA_MARK_TEXT } from '@mykey/contracts/development-ca.ts';

/** Whether the certificate carries the development CA's mark. */
export function isDevelopmentCa(certificate: pkijs.Certificate): boolean {
  return (certificate.extensions ?? []).some((extension) => extension.extnID === DEVELOPMENT_CA_MARK_OID
    && Buffer.from(extension.extnValue.valueBlock.valueHexView).includes(DEVELOPMENT_CA_MARK_TEXT));
}
