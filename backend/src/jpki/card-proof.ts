// Checks a card: that its certificate is one we accept (under the trust anchors, not revoked),
// and, for a PIN proof, that its key signed the challenge's canonical text.
import { createPublicKey, verify, type KeyObject } from 'node:crypto';
import type * as asn1js from 'asn1js';
import * as pkijs from 'pkijs';
import { Problem } from '../http/problems.ts';
import { parseCertificate, type AcceptedCertificate, type CertificateErrorCode } from './certificates.ts';
import { serialHex } from './der.ts';
import type { CertificateVerifier } from './verifier.ts';

/** A card, by the fields of its certificate that name it. */
export interface CardIdentity { issuerDer: Buffer; serialHex: string }

/** A card refused because its certificate is revoked: who it was, so its link can be ended. */
export class RevokedCard extends Problem implements CardIdentity {
  constructor(readonly issuerDer: Buffer, readonly serialHex: string, detail: string) {
    super('certificate_revoked', detail);
  }
}

function refusal(certificateDer: Buffer, code: CertificateErrorCode, detail: string): Problem {
  if (code !== 'certificate_revoked') return new Problem(code, detail);
  const certificate = parseCertificate(certificateDer);
  if (!('serialNumber' in certificate)) return new Problem(code, detail);
  return new RevokedCard(Buffer.from(certificate.issuer.toSchema().toBER()), serialHex(certificate.serialNumber), detail);
}

/** An ASN.1 INTEGER as JWK wants it: unsigned big-endian, no leading zero bytes, base64url. */
function jwkInteger(value: asn1js.Integer): string {
  const bytes = Buffer.from(value.valueBlock.valueHexView);
  const first = bytes.findIndex((byte) => byte !== 0);
  return bytes.subarray(first === -1 ? bytes.length - 1 : first).toString('base64url');
}

/**
 * The keys built so far, by the parsed certificate the verifier's cache hands out again for a
 * card seen before; a certificate the cache drops takes its key with it.
 */
const keys = new WeakMap<pkijs.Certificate, KeyObject>();

/**
 * The certificate's key for node:crypto, built from the modulus and exponent pkijs already
 * parsed: OpenSSL 3 decodes the same key from its SPKI DER some 15 times slower, longer than
 * the signature check itself (docs/benchmarks.md).
 */
function publicKeyOf(certificate: pkijs.Certificate): KeyObject {
  const kept = keys.get(certificate);
  if (kept) return kept;
  const key = certificate.subjectPublicKeyInfo.parsedKey;
  // verifyUserCertificate accepts RSA keys only.
  if (!(key instanceof pkijs.RSAPublicKey)) throw new Error('an accepted card certificate without an RSA key');
  const built = createPublicKey({ key: { kty: 'RSA', n: jwkInteger(key.modulus), e: jwkInteger(key.publicExponent) }, format: 'jwk' });
  keys.set(certificate, built);
  return built;
}

/** The certificate, if accepted now; a value-moving use is refused under `fail-closed` when revocation cannot be checked. */
async function acceptedCertificate(verifier: CertificateVerifier, certificateDer: Buffer, valueMoving: boolean, now: Date) {
  const verdict = await verifier.verify(certificateDer, { valueMoving, now });
  if (!verdict.ok) throw refusal(certificateDer, verdict.code, verdict.detail);
  return verdict;
}

/** A card that signed `text` (the challenge's canonical text) with the key of an accepted certificate. */
export async function verifyCardProof(
  verifier: CertificateVerifier, text: Buffer, certificateDer: Buffer, signature: Buffer, { valueMoving, now }: { valueMoving: boolean; now: Date },
): Promise<AcceptedCertificate> {
  const verdict = await acceptedCertificate(verifier, certificateDer, valueMoving, now);
  const key = publicKeyOf(verdict.certificate);
  let valid = false;
  try {
    valid = verify('sha256', text, key, signature);
  } catch {
    // A signature of the wrong size cannot even be checked: it is simply not valid.
  }
  if (!valid) throw new Problem('signature_invalid');
  return verdict;
}

/**
 * A certificate a device read from a card without its PIN: nothing proves the card is here but
 * the device's word, so it is accepted only when its revocation was checked, whatever the policy
 * — unless the purpose takes its taps without (`revocationRequired: false`: a shelter's check-in,
 * where a revocation list days old in a disaster must keep no one out).
 */
export async function verifyTappedCertificate(verifier: CertificateVerifier, certificateDer: Buffer, now: Date, { revocationRequired = true } = {}): Promise<AcceptedCertificate> {
  const verdict = await acceptedCertificate(verifier, certificateDer, revocationRequired, now);
  if (revocationRequired && !verdict.revocationChecked) throw new Problem('certificate_revocation_unknown');
  return verdict;
}
