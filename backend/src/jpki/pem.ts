// PEM (RFC 7468) as operators hand it to us: certificate files, CA bundles, CRL files. Strict
// about what is inside a block; outside the blocks, a bundle may carry explanatory text
// (openssl writes "subject=…" lines there) but a single certificate file may not.

export interface PemBlock { label: string; der: Buffer }

export class PemError extends Error {}

const BLOCK = /-----BEGIN ([^\r\n-]*)-----([\s\S]*?)-----END ([^\r\n-]*)-----/g;

/** Canonical base64 (no whitespace): checked without a repeating regex group, which megabytes of CRL would overflow. */
function isBase64(text: string): boolean {
  return text.length > 0 && text.length % 4 === 0 && !/[^A-Za-z0-9+/=]/.test(text) && /^[^=]*={0,2}$/.test(text);
}

/** Whether the bytes are PEM text rather than DER: certificates and CRLs in DER start with a SEQUENCE (0x30). */
export function looksLikePem(bytes: Uint8Array): boolean {
  return bytes[0] !== 0x30 && Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).includes('-----BEGIN ');
}

/** Every block of the text; throws PemError on a broken block or, unless allowed, on text outside the blocks. */
export function pemBlocks(text: string, options: { textOutside: boolean }): PemBlock[] {
  const blocks: PemBlock[] = [];
  let outside = '';
  let end = 0;
  for (const match of text.matchAll(BLOCK)) {
    outside += text.slice(end, match.index);
    end = match.index + match[0].length;
    const [, label, body, endLabel] = match as unknown as [string, string, string, string];
    if (label !== endLabel) throw new PemError(`PEM block "${label}" ends as "${endLabel}"`);
    const base64 = body.replace(/\s+/g, '');
    if (!isBase64(base64)) throw new PemError(`PEM block "${label}" is not valid base64`);
    blocks.push({ label, der: Buffer.from(base64, 'base64') });
  }
  outside += text.slice(end);
  if (/-----(BEGIN|END) /.test(outside)) throw new PemError('an unterminated PEM block');
  if (!options.textOutside && outside.trim() !== '') throw new PemError('text outside the PEM block');
  return blocks;
}

/** Exactly one block with this label, and nothing else but whitespace. */
export function singlePem(text: string, label: string): Buffer {
  const blocks = pemBlocks(text, { textOutside: false });
  if (blocks.length !== 1) throw new PemError(`expected one PEM block, found ${blocks.length}`);
  if (blocks[0]!.label !== label) throw new PemError(`expected a PEM "${label}", found "${blocks[0]!.label}"`);
  return blocks[0]!.der;
}
