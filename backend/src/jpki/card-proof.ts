// Checks that a card proved possession of its key for a challenge: the certificate is one we
// accept for the purpose, and its key signed the challenge's canonical text.
import { createPublicKey, verify, type KeyObject } from 'node:crypto';
import type * as asn1js from 'asn1js';
import * as pkijs from 'pkijs';
import { Problem } from '../http/problems.ts';
import { parseCertificate, type AcceptedCertificate, type CertificateErrorCode } from './certificates.ts';
import { serialHex } from './der.ts';
import { canonicalChallenge, type Challenge, type ChallengePurpose } from './challenges.ts';
import type { CertificateVerifier } from './verifier.ts';

/**
 * Linking a new card to a MyKey ID moves everything the ID holds, a payment moves points, and a
 * home move hands the identity to another town's staff: all are value-moving.
 */
const VALUE_MOVING: Record<ChallengePurpose, boolean> = { login: false, relink: true, counter_relink: true, payment: true, home_move: true };

/** A card refused because its certificate is revoked: who it was, so its link can be ended. */
export class RevokedCard extends Problem {
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

export async function verifyCardProof(
  verifier: CertificateVerifier, challenge: Challenge, certificateDer: Buffer, signature: Buffer, now: Date,
): Promise<AcceptedCertificate> {
  const verdict = await verifier.verify(certificateDer, { valueMoving: VALUE_MOVING[challenge.purpose], now });
  if (!verdict.ok) throw refusal(certificateDer, verdict.code, verdict.detail);
  const key = publicKeyOf(verdict.certificate);
  let valid = false;
  try {
    valid = verify('sha256', canonicalChallenge(challenge), key, signature);
  } catch {
    // A signature of the wrong size cannot even be checked: it is simply not valid.
  }
  if (!valid) throw new Problem('signature_invalid');
  return verdict;
}
