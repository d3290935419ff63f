// The resident's own page as a browser beside a town's device uses it (docs/resident.md): the
// card signs resident_page at the device, the browser hands the proof in and keeps the cookie.
import type { IssuedCertificate } from '@mykey/dev-tools/dev-ca/index.ts';
import { cardSession, type Device, type Reply } from './identity.ts';

/** A browser's calls with the cookie the page's opening set; `headers` beside it (an Idempotency-Key). */
export function browser(base: string) {
  let cookie = '';
  const call = async (method: string, path: string, body?: unknown, headers: Record<string, string> = {}): Promise<Reply & { headers: Headers; text: string }> => {
    const response = await fetch(`${base}${path}`, { method, headers: { cookie, ...headers, ...(body === undefined ? {} : { 'Content-Type': 'application/json' }) }, body: body === undefined ? undefined : JSON.stringify(body) });
    const set = response.headers.get('set-cookie');
    if (set) cookie = set.split(';')[0]!;
    // The bytes as sent: text() would drop a CSV's byte-order mark.
    const text = new TextDecoder('utf-8', { ignoreBOM: true }).decode(await response.arrayBuffer());
    const json = response.headers.get('content-type')?.includes('json') ? JSON.parse(text) : undefined;
    return { status: response.status, body: json, headers: response.headers, text };
  };
  return { call, get cookie() { return cookie; }, set cookie(value: string) { cookie = value; } };
}

/** The card signs resident_page at `device` (PIN): the card session's reply. */
export const signPage = (device: Device, card: IssuedCertificate) => cardSession(device, card, 'resident_page');

/** The page opened: the card signs at `device`, a fresh browser hands the proof in. */
export async function openPage(base: string, device: Device, card: IssuedCertificate) {
  const signed = await signPage(device, card);
  if (signed.status !== 201) throw new Error(JSON.stringify(signed.body));
  const page = browser(base);
  const opened = await page.call('POST', '/api/v1/resident/sessions', { proof: signed.body.challengeId });
  if (opened.status !== 201) throw new Error(JSON.stringify(opened.body));
  return { page, opened };
}
