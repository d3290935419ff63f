// Telling partners the outcome of their conversions: a signed POST to the partner's webhook
// URL, retried until the partner answers 2xx (docs/partner-api.md#outcomes-and-webhooks), by
// the shared delivery loop (webhooks/delivery.ts). The conversion requests are the outbox: a
// finished one's webhook is pending until delivered.
import { unsealPartnerSecret } from '../partners/credentials.ts';
import type { Outbox } from '../webhooks/delivery.ts';
import { conversionAnswer } from './intake.ts';
import { conversionRepository as repo, type DueWebhook as DueOutcome } from './repository.ts';

export const WEBHOOK_QUEUE = 'conversion-webhooks';

/** The webhook's body: the conversion exactly as GET answers it, named as an event. */
const webhookBody = (due: DueOutcome) => ({ event: 'conversion.finished' as const, ...conversionAnswer(due.conversion) });

/** The conversions' webhooks, signed with each partner's API secret. */
export function conversionOutbox(mykeySecret: Buffer): Outbox {
  return {
    name: 'conversions',
    receiversDue: (db, now, limit) => repo.partnersWithDueWebhooks(db, now, limit),
    async claim(trx, partnerId, now, limit, leaseUntil) {
      return (await repo.claimWebhooks(trx, partnerId, now, limit, leaseUntil)).map((due) => ({
        id: due.conversion.id, receiver: due.partnerId, attempts: due.attempts, url: due.webhookUrl, keyId: due.partnerSlug,
        secret: due.secretSealed && (() => unsealPartnerSecret(mykeySecret, due.partnerId, due.secretSealed!)),
        body: JSON.stringify(webhookBody(due)),
      }));
    },
    delivered: (db, due, now) => repo.webhookDelivered(db, due.id, now),
    failed: (db, due, error, nextAt) => repo.webhookFailed(db, due.id, error, nextAt),
  };
}
