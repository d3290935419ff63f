// Certificate-verification test material: files in a private directory, a CRL server that can
// misbehave (a real HTTP server on loopback), and certificates the dev CA's profile does not
// produce (weak keys, odd key usage, extra extensions, huge serials).
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type RequestListener } from 'node:http';
import { once } from 'node:events';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as asn1js from 'asn1js';
import * as pkijs from 'pkijs';
import type { CertificateAuthority } from '@mykey/dev-tools/dev-ca/index.ts';
import type { Cleanup } from './env.ts';

/** Writes the files into a fresh directory (removed at the end) and returns their paths by name. */
export function writeFiles<K extends string>(cleanup: Cleanup, files: Record<K, string | Uint8Array>): Record<K, string> {
  const dir = mkdtempSync(join(tmpdir(), 'mykey-jpki-'));
  cleanup(() => rmSync(dir, { recursive: true, force: true }));
  return Object.fromEntries(Object.entries<string | Uint8Array>(files).map(([name, content]) => {
    writeFileSync(join(dir, name), content);
    return [name, join(dir, name)];
  })) as Record<K, string>;
}

/** A real HTTP server on loopback whose behaviour each test sets; returns its base URL. */
export async function httpServer(cleanup: Cleanup, handler: RequestListener): Promise<string> {
  const server = createServer(handler).listen(0, '127.0.0.1');
  await once(server, 'listening');
  cleanup(async () => {
    server.closeAllConnections();
    await new Promise((resolve) => server.close(resolve));
  });
  return `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
}

export interface CustomCertificate {
  /** RSA modulus size (default 2048). */
  bits?: number;
  /** The key-usage byte, not zero (default 0x80: digitalSignature alone); DER leaves its trailing zero bits unused. */
  keyUsage?: number;
  extensions?: pkijs.Extension[];
  /** Serial number content octets (default 07). */
  serial?: Uint8Array;
}

const DAY = 86_400_000;

/** A card holder's certificate from `ca` with the given deviations from the JPKI profile. */
export async function mintCustom(ca: CertificateAuthority, custom: CustomCertificate = {}): Promise<Uint8Array> {
  const keys = await crypto.subtle.generateKey({ name: 'RSASSA-PKCS1-v1_5', modulusLength: custom.bits ?? 2048, publicExponent: new Uint8Array([1, 0, 1]), hash: 'SHA-256' }, true, ['sign', 'verify']);
  const certificate = new pkijs.Certificate();
  certificate.version = 2;
  certificate.serialNumber = new asn1js.Integer({ valueHex: custom.serial ?? new Uint8Array([7]) });
  certificate.issuer = ca.certificate.subject;
  certificate.subject = ca.certificate.subject;
  certificate.notBefore.value = new Date(Date.now() - DAY);
  certificate.notAfter.value = new Date(Date.now() + 365 * DAY);
  const usage = custom.keyUsage ?? 0x80;
  const bitString = new asn1js.BitString({ valueHex: new Uint8Array([usage]).buffer, unusedBits: 31 - Math.clz32(usage & -usage) });
  certificate.extensions = [new pkijs.Extension({ extnID: '2.5.29.15', critical: true, extnValue: bitString.toBER() }), ...(custom.extensions ?? [])];
  await certificate.subjectPublicKeyInfo.importKey(keys.publicKey);
  await certificate.sign(ca.privateKey, 'SHA-256');
  return new Uint8Array(certificate.toSchema(true).toBER());
}
