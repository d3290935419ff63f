// A service's own system (a library's) learns of each tap that found a member through a signed
// webhook (docs/services-integration.md). The tap only writes the event to the outbox, in its
// own transaction: nothing outside is waited for at the counter, and an event exists exactly
// when its tap committed. The worker delivers it (webhooks/delivery.ts), with retries, under an
// eventId that stays the same on every attempt so the receiver can drop a second copy.
import { randomBytes } from 'node:crypto';
import type { Knex } from 'knex';
import { unsealApiSecret } from '../partners/credentials.ts';
import type { Outbox } from '../webhooks/delivery.ts';
import type { Service } from './repository.ts';
import { tapEventRepository as repo, type TapEventRow } from './tap-event-repository.ts';

export const SERVICE_WEBHOOK_QUEUE = 'service-webhooks';

/** The key id a service signs and is signed for with (X-MyKey-Partner). */
export const serviceKeyId = (serviceId: number) => `service-${serviceId}`;

/** What a service's API secret is sealed for. */
export const serviceSecretOwner = (serviceId: number) => `service:${serviceId}`;

/** The event's body: what the counter was answered, without the MyKey ID (never given to a service). */
export interface MemberTapped {
  type: 'member.tapped';
  eventId: string;
  service: { id: number; nameJa: string; nameEn: string };
  device: { id: number };
  memberNumber: string;
  pseudonym: string;
  usedAt: string;
}

/**
 * The tap's event for the service's system, when it has one to tell: a webhook URL and an API
 * secret to sign with. Stored in the tap's transaction.
 */
export function tapEventOf(service: Service, tap: Omit<MemberTapped, 'type' | 'eventId'>, now: Date): TapEventRow | undefined {
  if (!service.webhookUrl || !service.apiSecretIssuedAt) return undefined;
  const eventId = `evt_${randomBytes(16).toString('base64url')}`;
  const event: MemberTapped = { type: 'member.tapped', eventId, ...tap };
  return { eventId, serviceId: service.id, body: JSON.stringify(event), at: now };
}

/** The events of several taps, in their transaction. */
export async function recordTapEvents(trx: Knex.Transaction, events: TapEventRow[]): Promise<void> {
  if (events.length > 0) await repo.insert(trx, events);
}

/** The services' tap events, signed with each service's API secret. */
export function tapEventOutbox(mykeySecret: Buffer): Outbox {
  return {
    name: 'service-taps',
    receiversDue: (db, now, limit) => repo.servicesDue(db, now, limit),
    async claim(trx, serviceId, now, limit, leaseUntil) {
      return (await repo.claim(trx, serviceId, now, limit, leaseUntil)).map((due) => ({
        id: due.id, receiver: due.serviceId, attempts: due.attempts, url: due.webhookUrl, keyId: serviceKeyId(due.serviceId), body: due.body,
        secret: due.secretSealed && (() => unsealApiSecret(mykeySecret, serviceSecretOwner(due.serviceId), due.secretSealed!)),
      }));
    },
    delivered: (db, due) => repo.delivered(db, due.id),
    failed: (db, due, error, nextAt) => repo.failed(db, due.id, error, nextAt),
  };
}
