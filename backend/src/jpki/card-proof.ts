// Checks that a card proved possession of its key for a challenge: the certificate is one we
// accept for the purpose, and its key signed the challenge's canonical text.
import { createPublicKey, verify } from 'node:crypto';
import { Problem } from '../http/problems.ts';
import { parseCertificate, type AcceptedCertificate, type CertificateErrorCode } from './certificates.ts';
import { serialHex } from './der.ts';
import { canonicalChallenge, type Challenge, type ChallengePurpose } from './challenges.ts';
import type { CertificateVerifier } from './verifier.ts';

/** Linking a new card to a MyKey ID moves everything the ID holds, so it is value-moving. */
const VALUE_MOVING: Record<ChallengePurpose, boolean> = { login: false, relink: true, counter_relink: true };

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

export async function verifyCardProof(
  verifier: CertificateVerifier, challenge: Challenge, certificateDer: Buffer, signature: Buffer, now: Date,
): Promise<AcceptedCertificate> {
  const verdict = await verifier.verify(certificateDer, { valueMoving: VALUE_MOVING[challenge.purpose], now });
  if (!verdict.ok) throw refusal(certificateDer, verdict.code, verdict.detail);
  const spki = Buffer.from(verdict.certificate.subjectPublicKeyInfo.toSchema().toBER());
  const key = createPublicKey({ key: spki, format: 'der', type: 'spki' });
  let valid = false;
  try {
    valid = verify('sha256', canonicalChallenge(challenge), key, signature);
  } catch {
    // A signature of the wrong size cannot even be checked: it is simply not valid.
  }
  if (!valid) throw new Problem('signature_invalid');
  return verdict;
}
