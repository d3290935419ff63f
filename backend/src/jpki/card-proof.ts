// Checks a card: that its certificate is one we accept (under the trust anchors, not revoked),
// and, for a PIN proof, that its key signed the challenge's canonical text.
import { verify } from 'node:crypto';
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
  if ('code' in certificate) return new Problem(code, detail);
  return new RevokedCard(certificate.issuerDer, serialHex(certificate.serial), detail);
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
  let valid = false;
  try {
    valid = verify('sha256', text, verdict.publicKey, signature);
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
