// Getting a CRL's bytes from where the configuration says: a file, or an http(s) URL. A CRL
// server is an outside party and may be slow, broken or hostile, so every fetch has a time
// limit, a size limit and a redirect limit, and every failure is a CrlError with a stable code.
import { open } from 'node:fs/promises';
import type { JpkiConfig } from '../config.ts';
import { looksLikePem, PemError, singlePem } from './pem.ts';
import { CrlError, MAX_CRL_BYTES } from './revocation.ts';

export interface CrlSource { kind: 'file' | 'url'; location: string }

export interface CrlFetchLimits {
  /** For the whole fetch, redirects and body included. */
  timeoutMs: number;
  maxBytes: number;
  maxRedirects: number;
}

export const CRL_FETCH_LIMITS: CrlFetchLimits = { timeoutMs: 20_000, maxBytes: MAX_CRL_BYTES, maxRedirects: 3 };

export function crlSources(config: Pick<JpkiConfig, 'JPKI_CRL_FILES' | 'JPKI_CRL_URLS'>): CrlSource[] {
  return [
    ...config.JPKI_CRL_FILES.map((location) => ({ kind: 'file' as const, location })),
    ...config.JPKI_CRL_URLS.map((location) => ({ kind: 'url' as const, location })),
  ];
}

/** The CRL's DER (PEM "X509 CRL" unwrapped). Its signature is not checked here: RevocationList.add does. */
export async function readCrlSource(source: CrlSource, limits: CrlFetchLimits = CRL_FETCH_LIMITS): Promise<Buffer> {
  const bytes = source.kind === 'file' ? await readFileLimited(source.location, limits.maxBytes) : await fetchLimited(source.location, limits);
  if (!looksLikePem(bytes)) return bytes;
  try {
    return singlePem(bytes.toString('latin1'), 'X509 CRL');
  } catch (error) {
    throw new CrlError('crl_malformed', error instanceof PemError ? error.message : String(error));
  }
}

async function readFileLimited(path: string, maxBytes: number): Promise<Buffer> {
  let file;
  try {
    file = await open(path, 'r');
  } catch (error) {
    throw new CrlError('crl_unreadable', `cannot open ${path} (${(error as NodeJS.ErrnoException).code ?? String(error)})`);
  }
  try {
    const stat = await file.stat();
    if (!stat.isFile()) throw new CrlError('crl_unreadable', `${path} is not a regular file`);
    if (stat.size > maxBytes) throw new CrlError('crl_too_large', `${path} is ${stat.size} bytes; the limit is ${maxBytes}`);
    return await file.readFile();
  } finally {
    await file.close();
  }
}

const REDIRECTS = new Set([301, 302, 303, 307, 308]);

async function fetchLimited(url: string, limits: CrlFetchLimits): Promise<Buffer> {
  const signal = AbortSignal.timeout(limits.timeoutMs);
  let target = new URL(url);
  for (let redirects = 0; ; redirects++) {
    const response = await fetch(target, { redirect: 'manual', signal, headers: { accept: 'application/pkix-crl, */*' } })
      .catch((error: unknown) => { throw fetchFailure(error, signal, limits); });
    if (REDIRECTS.has(response.status)) {
      await response.body?.cancel();
      if (redirects >= limits.maxRedirects) throw new CrlError('crl_too_many_redirects', `more than ${limits.maxRedirects} redirects from ${url}`);
      target = redirectTarget(target, response.headers.get('location'));
      continue;
    }
    if (!response.ok) {
      await response.body?.cancel();
      throw new CrlError('crl_http_status', `${target.href} answered HTTP ${response.status}`);
    }
    return readBodyLimited(response, signal, limits);
  }
}

function redirectTarget(from: URL, location: string | null): URL {
  if (!location || !URL.canParse(location, from)) throw new CrlError('crl_http_status', `${from.href} redirected without a usable Location`);
  const next = new URL(location, from);
  if (next.protocol !== 'http:' && next.protocol !== 'https:') throw new CrlError('crl_fetch_failed', `${from.href} redirected to ${next.protocol} (only http and https are followed)`);
  return next;
}

async function readBodyLimited(response: Response, signal: AbortSignal, limits: CrlFetchLimits): Promise<Buffer> {
  const declared = Number(response.headers.get('content-length'));
  if (declared > limits.maxBytes) {
    await response.body?.cancel();
    throw new CrlError('crl_too_large', `${response.url} announces ${declared} bytes; the limit is ${limits.maxBytes}`);
  }
  const chunks: Uint8Array[] = [];
  let total = 0;
  try {
    for await (const chunk of response.body ?? []) {
      total += chunk.length;
      // Checked while reading: a server may send more than it announced, or announce nothing.
      // Leaving the loop by throwing cancels the stream.
      if (total > limits.maxBytes) throw new CrlError('crl_too_large', `${response.url} sent more than ${limits.maxBytes} bytes`);
      chunks.push(chunk);
    }
  } catch (error) {
    throw fetchFailure(error, signal, limits);
  }
  return Buffer.concat(chunks);
}

function fetchFailure(error: unknown, signal: AbortSignal, limits: CrlFetchLimits): CrlError {
  if (error instanceof CrlError) return error;
  if (signal.aborted) return new CrlError('crl_timeout', `no complete answer within ${limits.timeoutMs} ms`);
  const cause = error instanceof Error && error.cause instanceof Error ? `: ${error.cause.message}` : '';
  return new CrlError('crl_fetch_failed', `${error instanceof Error ? error.message : String(error)}${cause}`);
}
