// What goes onto the simulated card: loaded from PEM files, or minted by the dev CA.
import { createPrivateKey, createPublicKey, X509Certificate, type KeyObject } from 'node:crypto';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { createCa, fromPem, issueCertificate, loadCa, type CertificateAuthority } from '@mykey/dev-tools/dev-ca/index.ts';
import type { JpkiCardContents } from './card.ts';

export interface IdentityOptions {
  authPin: string;
  signPin: string;
  myNumber: string;
  /** PEM of the user-authentication certificate and its private key. */
  certPem?: string;
  keyPem?: string;
  /** PEM of the CA certificate for file 000B; with caKeyPem and no cert, a fresh cert is issued from it. */
  caPem?: string;
  caKeyPem?: string;
}

export interface CardIdentity {
  contents: JpkiCardContents;
  authCertificatePem: string;
  authPrivateKeyPem: string;
  authCaPem: string;
  serialNumberHex: string;
  subject: string;
  /** Warnings worth showing the person who started the simulator. */
  notes: string[];
}

interface AuthMaterial {
  certPem: string;
  keyPem: string;
  caPem: string;
  notes: string[];
}

export async function buildIdentity(options: IdentityOptions): Promise<CardIdentity> {
  const auth = await authMaterial(options);
  const authKey = createPrivateKey(auth.keyPem);
  const authCert = new X509Certificate(auth.certPem);
  assertKeyMatches(authCert, authKey);
  // The signing side is not used by the platform, but a real card has it and OpenSC reads it.
  const signCa = await createCa({ kind: 'sign' });
  const signHolder = await issueCertificate(signCa);
  return {
    contents: {
      authCertificate: authCert.raw,
      authPrivateKey: authKey,
      authCaCertificate: fromPem(auth.caPem),
      signCertificate: signHolder.certificateDer,
      signPrivateKey: createPrivateKey(signHolder.privateKeyPem),
      signCaCertificate: signCa.certificateDer,
      authPin: options.authPin,
      signPin: options.signPin,
      myNumber: options.myNumber,
    },
    authCertificatePem: auth.certPem,
    authPrivateKeyPem: auth.keyPem,
    authCaPem: auth.caPem,
    serialNumberHex: authCert.serialNumber.toUpperCase(),
    subject: authCert.subject.replace(/\n/g, ', '),
    notes: auth.notes,
  };
}

async function authMaterial(o: IdentityOptions): Promise<AuthMaterial> {
  if (Boolean(o.certPem) !== Boolean(o.keyPem)) throw new Error('--cert and --key go together');
  if (o.certPem && o.keyPem) return loadedMaterial(o.certPem, o.keyPem, o.caPem);
  const ca = await issuingCa(o);
  const holder = await issueCertificate(ca);
  return { certPem: holder.certificatePem, keyPem: holder.privateKeyPem, caPem: ca.certificatePem, notes: [] };
}

async function loadedMaterial(certPem: string, keyPem: string, caPem?: string): Promise<AuthMaterial> {
  if (caPem) return { certPem, keyPem, caPem, notes: [] };
  const standIn = await createCa({ kind: 'auth' });
  const note = 'no --ca given: file 000B holds a fresh development CA that did not issue the loaded certificate';
  return { certPem, keyPem, caPem: standIn.certificatePem, notes: [note] };
}

async function issuingCa(o: IdentityOptions): Promise<CertificateAuthority> {
  if (o.caPem && o.caKeyPem) return loadCa(o.caPem, o.caKeyPem);
  if (o.caPem) throw new Error('--ca without --cert needs --ca-key, to issue a certificate from that CA');
  return createCa({ kind: 'auth' });
}

function assertKeyMatches(cert: X509Certificate, key: KeyObject): void {
  const fromKey = createPublicKey(key).export({ type: 'spki', format: 'der' });
  const fromCert = cert.publicKey.export({ type: 'spki', format: 'der' });
  if (!fromKey.equals(fromCert)) throw new Error('the private key (--key) does not belong to the certificate (--cert)');
}

/** Writes the user-authentication certificate, its key and the CA as PEM files into dir. */
export function saveIdentity(identity: CardIdentity, dir: string): void {
  mkdirSync(dir, { recursive: true });
  writeFileSync(join(dir, 'auth-cert.pem'), identity.authCertificatePem);
  writeFileSync(join(dir, 'auth-key.pem'), identity.authPrivateKeyPem, { mode: 0o600 });
  writeFileSync(join(dir, 'auth-ca.pem'), identity.authCaPem);
}
