// Signed webhooks, whoever they go to (a partner's conversion outcomes, a service's taps): a
// POST signed with the receiver's API secret (@mykey/contracts/partner-signature.ts), retried
// with capped exponential backoff until the receiver answers 2xx. Each feature keeps its own
// outbox (what is due, in its own table) and hands this loop an Outbox to claim from and to
// record outcomes in. A claim leases rows, so workers never send the same webhook at once, and
// a worker that dies mid-delivery only delays it until the lease runs out.
import type { Knex } from 'knex';
import { retryTransient, type Db } from '../db.ts';
import type { Logger } from '../log.ts';
import { partnerKey, signedHeaders } from '@mykey/contracts/partner-signature.ts';
import { webhookUrlProblem } from '../partners/webhook-url.ts';

export interface WebhookSettings {
  /** A delivery not answered within this is a failure (and retried). */
  timeoutMs: number;
  /** The wait after the first failure; each further failure doubles it, up to retryMaxMs. */
  retryBaseMs: number;
  retryMaxMs: number;
  /** Deliveries in flight per receiver (a partner, a service) and per process: a slow receiver uses its own slots only. */
  perPartner: number;
  /** Whether plain http may go beyond loopback (partners/webhook-url.ts): development only. */
  allowPlainHttp: boolean;
}

/** One webhook claimed for sending. */
export interface DueWebhook {
  /** The outbox row. */
  id: number;
  /** Who receives it: a partner's or a service's id, in its outbox's terms. */
  receiver: number;
  /** Failed attempts so far. */
  attempts: number;
  url: string | null;
  /** The X-MyKey-Partner value the receiver knows its key by. */
  keyId: string;
  /** The receiver's API secret, opened only when sending; null when it has none. */
  secret: (() => string) | null;
  /** The JSON body, the same bytes on every attempt. */
  body: string;
}

/** A feature's webhooks as the delivery loop sees them. */
export interface Outbox {
  /** For the logs. */
  name: string;
  /** Receivers with webhooks due at `now` (a plain read: claiming decides). */
  receiversDue(db: Db, now: Date, limit: number): Promise<number[]>;
  /** Leases up to `limit` of a receiver's due webhooks until `leaseUntil`; rows another claim holds are skipped. */
  claim(trx: Knex.Transaction, receiver: number, now: Date, limit: number, leaseUntil: Date): Promise<DueWebhook[]>;
  delivered(db: Db, due: DueWebhook, now: Date): Promise<void>;
  failed(db: Db, due: DueWebhook, error: string, nextAt: Date): Promise<void>;
}

// Exported for the tests too: they check the backoff schedule without waiting through it.
/** The wait before attempt `failures + 1`, after `failures` failed ones: base, 2×base, 4×base, … up to the cap. */
export function retryDelay(failures: number, settings: Pick<WebhookSettings, 'retryBaseMs' | 'retryMaxMs'>): number {
  return Math.min(settings.retryBaseMs * 2 ** Math.min(failures - 1, 40), settings.retryMaxMs);
}

/**
 * Sends one webhook; answers undefined when the receiver took it (2xx), else why not. Redirects
 * are not followed: a webhook URL is exactly where the receiver's events may go. A URL the
 * rules refuse (plain http in production, a URL stored before the rule) is never sent to.
 */
async function sendWebhook(due: DueWebhook, settings: Pick<WebhookSettings, 'timeoutMs' | 'allowPlainHttp'>): Promise<string | undefined> {
  const { timeoutMs } = settings;
  if (!due.url) return 'no webhook URL';
  if (!due.secret) return 'no API secret to sign with';
  const refused = webhookUrlProblem(due.url, settings.allowPlainHttp);
  if (refused) return `not sent: ${refused}`;
  const url = new URL(due.url);
  try {
    const response = await fetch(url, {
      method: 'POST', body: due.body, redirect: 'manual', signal: AbortSignal.timeout(timeoutMs),
      headers: { 'content-type': 'application/json', ...signedHeaders(due.keyId, partnerKey(due.secret()), 'POST', url.pathname + url.search, due.body) },
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
 * The deliverer of one outbox in one worker process. Each tick claims what is due, a few per
 * receiver, and starts sending without waiting: the tick is over at once, and a receiver that
 * answers slowly holds only its own slots. `drain` waits for deliveries in flight (at shutdown).
 */
export function webhookDeliverer(db: Db, log: Logger, outbox: Outbox, settings: WebhookSettings, clock = () => new Date()) {
  const inFlight = new Map<number, number>();
  const running = new Set<Promise<void>>();
  // A lease outlives the delivery it covers, so a row is sent again only after its sender died.
  const leaseMs = settings.timeoutMs + 30_000;

  async function deliver(due: DueWebhook): Promise<void> {
    const error = await sendWebhook(due, settings);
    const now = clock();
    if (error === undefined) {
      await outbox.delivered(db, due, now);
    } else {
      const delay = retryDelay(due.attempts + 1, settings);
      await outbox.failed(db, due, error, new Date(now.getTime() + delay));
      log.info({ outbox: outbox.name, id: due.id, receiver: due.receiver, attempts: due.attempts + 1, error, retryInMs: delay }, 'webhook not delivered; retrying later');
    }
  }

  function track(receiver: number, work: Promise<void>): void {
    inFlight.set(receiver, (inFlight.get(receiver) ?? 0) + 1);
    const done = work.catch((error) => log.error({ err: error, outbox: outbox.name, receiver }, 'recording a webhook delivery failed; the lease runs out and it is sent again'))
      .finally(() => {
        inFlight.set(receiver, inFlight.get(receiver)! - 1);
        running.delete(done);
      });
    running.add(done);
  }

  return {
    /** Claims and starts the deliveries due at `now`; answers how many it started. */
    async tick(now = clock()): Promise<number> {
      let started = 0;
      for (const receiver of await outbox.receiversDue(db, now, 1000)) {
        const free = settings.perPartner - (inFlight.get(receiver) ?? 0);
        if (free <= 0) continue;
        // A claim moves leased rows in the index another claimer skips through, so two claims can deadlock: taken again.
        const claimed = await retryTransient(() => db.transaction((trx) => outbox.claim(trx, receiver, now, free, new Date(now.getTime() + leaseMs))));
        for (const due of claimed) {
          track(receiver, deliver(due));
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
