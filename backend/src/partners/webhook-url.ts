// Where a partner's webhooks may go. A webhook carries a resident's conversion outcome and our
// signature over it: over plain http anyone on the path reads it, so production sends only to
// https. Plain http is allowed to a loopback address (the partner simulator of the tests and a
// development machine) and, anywhere, only when the development setting is on.
import { isIP } from 'node:net';

const MAX_LENGTH = 2048;

/** Whether plain http webhooks may go beyond loopback: only with NODE_ENV=development set explicitly (unset is production). */
export function plainHttpWebhooksAllowed(nodeEnv: string | undefined): boolean {
  return nodeEnv === 'development';
}

function loopback(hostname: string): boolean {
  const host = hostname.replace(/^\[(.*)\]$/, '$1').toLowerCase();
  if (host === 'localhost') return true;
  if (isIP(host) === 4) return host.startsWith('127.');
  return host === '::1';
}

/** Why this webhook URL may not be used, or undefined when it may. */
export function webhookUrlProblem(value: string, allowPlainHttp: boolean): string | undefined {
  if (value.length > MAX_LENGTH) return `a webhook URL is at most ${MAX_LENGTH} characters`;
  let url: URL;
  try {
    url = new URL(value);
  } catch {
    return 'the webhook URL is not a URL';
  }
  if (url.protocol === 'https:') return undefined;
  if (url.protocol !== 'http:') return `the webhook URL's scheme ${url.protocol} is not https`;
  if (allowPlainHttp || loopback(url.hostname)) return undefined;
  return 'a plain http:// webhook URL is refused in production (use https://; http is allowed only to a loopback address, or with NODE_ENV=development)';
}
