// Telling partners the outcome of their conversions: a signed POST to the partner's webhook
// URL, retried with capped exponential backoff until the partner answers 2xx
// (docs/partner-api.md#outcomes-and-webhooks). The database says what is due; a claim leases
// rows, so workers never send the same webhook at once, and a worker that dies mid-delivery
// only delays it until the lease runs out.
import { retryTransient, type Db } from '../db.ts';
import type { Logger } from '../log.ts';
import { unsealPartnerSecret } from '../partners/credentials.ts';
import { partnerKey, signedHeaders } from '@mykey/contracts/partner-signature.ts';
import { webhookUrlProblem } from '../partners/webhook-url.ts';
import { conversionAnswer } from './intake.ts';
import { conversionRepository as repo, type DueWebhook } from './repository.ts';

export const WEBHOOK_QUEUE = 'conversion-webhooks';

export interface WebhookSettings {
  /** A delivery not answered within this is a failure (and retried). */
  timeoutMs: number;
  /** The wait after the first failure; each further failure doubles it, up to retryMaxMs. */
  retryBaseMs: number;
  retryMaxMs: number;
  /** Deliveries in flight per partner and per process: a slow partner uses its own slots only. */
  perPartner: number;
  /** Whether plain http may go beyond loopback (partners/webhook-url.ts): development only. */
  allowPlainHttp: boolean;
}

/** The webhook's body: the conversion exactly as GET answers it, named as an event. */
const webhookBody = (due: DueWebhook) => ({ event: 'conversion.finished' as const, ...conversionAnswer(due.conversion) });

// Exported for the tests too: they check the backoff schedule without waiting through it.
/** The wait before attempt `failures + 1`, after `failures` failed ones: base, 2×base, 4×base, … up to the cap. */
export function retryDelay(failures: number, settings: Pick<WebhookSettings, 'retryBaseMs' | 'retryMaxMs'>): number {
  return Math.min(settings.retryBaseMs * 2 ** Math.min(failures - 1, 40), settings.retryMaxMs);
}

/**
 * Sends one webhook; answers undefined when the partner took it (2xx), else why not. Redirects
 * are not followed: a partner's webhook URL is exactly where its outcomes may go. A URL the
 * rules refuse (plain http in production, a URL stored before the rule) is never sent to.
 */
async function sendWebhook(due: DueWebhook, mykeySecret: Buffer, settings: Pick<WebhookSettings, 'timeoutMs' | 'allowPlainHttp'>): Promise<string | undefined> {
  const { timeoutMs } = settings;
  if (!due.webhookUrl) return 'the partner has no webhook URL';
  if (!due.secretSealed) return 'the partner has no API secret to sign with';
  const refused = webhookUrlProblem(due.webhookUrl, settings.allowPlainHttp);
  if (refused) return `not sent: ${refused}`;
  const url = new URL(due.webhookUrl);
  const body = JSON.stringify(webhookBody(due));
  const secret = partnerKey(unsealPartnerSecret(mykeySecret, due.partnerId, due.secretSealed));
  try {
    const response = await fetch(url, {
      method: 'POST', body, redirect: 'manual', signal: AbortSignal.timeout(timeoutMs),
      headers: { 'content-type': 'application/json', ...signedHeaders(due.partnerSlug, secret, 'POST', url.pathname + url.search, body) },
    });
    await response.body?.cancel();
    if (response.status >= 200 && response.status < 300) return undefined;
    return response.status >= 300 && response.status < 400 ? `HTTP ${response.status} (redirects are not followed)` : `HTTP ${response.status}`;
  } catch (error) {
    const name = (error as Error).name;
    if (name === 'TimeoutError' || name === 'AbortError') return `no answer within ${timeoutMs} ms`;
    const cause = (error as { cause?: { code?: string; message?: string } }).cause;
    return `connection failed: ${cause?.code ?? cause?.message ?? (error as Error).message}`;
  }
}

/**
 * The deliverer of one worker process. Each tick claims what is due, a few per partner, and
 * starts sending without waiting: the tick is over at once, and a partner that answers slowly
 * holds only its own slots. `drain` waits for deliveries in flight (at shutdown).
 */
export function webhookDeliverer(db: Db, log: Logger, mykeySecret: Buffer, settings: WebhookSettings, clock = () => new Date()) {
  const inFlight = new Map<number, number>();
  const running = new Set<Promise<void>>();
  // A lease outlives the delivery it covers, so a row is sent again only after its sender died.
  const leaseMs = settings.timeoutMs + 30_000;

  async function deliver(due: DueWebhook): Promise<void> {
    const error = await sendWebhook(due, mykeySecret, settings);
    const now = clock();
    if (error === undefined) {
      await repo.webhookDelivered(db, due.conversion.id, now);
    } else {
      const delay = retryDelay(due.attempts + 1, settings);
      await repo.webhookFailed(db, due.conversion.id, error, new Date(now.getTime() + delay));
      log.info({ conversionId: due.conversion.id, partnerId: due.partnerId, attempts: due.attempts + 1, error, retryInMs: delay }, 'webhook not delivered; retrying later');
    }
  }

  function track(partnerId: number, work: Promise<void>): void {
    inFlight.set(partnerId, (inFlight.get(partnerId) ?? 0) + 1);
    const done = work.catch((error) => log.error({ err: error, partnerId }, 'recording a webhook delivery failed; the lease runs out and it is sent again'))
      .finally(() => {
        inFlight.set(partnerId, inFlight.get(partnerId)! - 1);
        running.delete(done);
      });
    running.add(done);
  }

  return {
    /** Claims and starts the deliveries due at `now`; answers how many it started. */
    async tick(now = clock()): Promise<number> {
      let started = 0;
      for (const partnerId of await repo.partnersWithDueWebhooks(db, now, 1000)) {
        const free = settings.perPartner - (inFlight.get(partnerId) ?? 0);
        if (free <= 0) continue;
        const claimed = await retryTransient(() => db.transaction((trx) => repo.claimWebhooks(trx, partnerId, now, free, new Date(now.getTime() + leaseMs))));
        for (const due of claimed) {
          track(partnerId, deliver(due));
          started++;
        }
      }
      return started;
    },
    async drain(): Promise<void> {
      while (running.size > 0) await Promise.allSettled([...running]);
    },
  };
}
