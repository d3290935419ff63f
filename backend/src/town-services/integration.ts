// A service's own system (a library's): the town's staff set where its tap events go and issue
// its API secret; the system then asks for the last tap at one of its counters, signing as the
// partner API's callers do. docs/services-integration.md.
import type { Knex } from 'knex';
import { appendAudit, towns } from '../audit/chain.ts';
import type { Db } from '../db.ts';
import { Problem } from '../http/problems.ts';
import { newPartnerSecret, sealApiSecret, unsealApiSecret } from '../partners/credentials.ts';
import type { SignerLookup } from '../partners/middleware.ts';
import type { SignedInStaff } from '../staff/repository.ts';
import type { LastTapView, ServiceApiSecret, ServiceView } from '@mykey/contracts/services.ts';
import { townServicesRepository as repo, type Service } from './repository.ts';
import { membershipView, mykeyIdOf, ownService, staffActor, viewOf } from './service.ts';
import { serviceKeyId, serviceSecretOwner } from './tap-events.ts';
import { tapEventRepository } from './tap-event-repository.ts';

/** How long after a tap the service's system may still ask for it: a counter's next step follows at once. */
export const LAST_TAP_WINDOW_MS = 5 * 60_000;

const SERVICE_KEY_ID = /^service-([1-9][0-9]{0,15})$/;

/**
 * Where the service's tap events go; null stops them, and drops those not yet delivered (they
 * have nowhere to go). The URL is checked by the route against the partners' webhook rules.
 */
export async function setWebhook(trx: Knex.Transaction, staff: SignedInStaff, id: number, url: string | null, now: Date): Promise<ServiceView> {
  const service = await ownService(trx, staff, id, { lock: true });
  await repo.setWebhookUrl(trx, id, url, now);
  const dropped = url === null ? await tapEventRepository.dropPending(trx, id) : 0;
  await appendAudit(trx, {
    action: url === null ? 'service.webhook_removed' : 'service.webhook_set', actor: staffActor(staff), subject: `service:${id}`,
    details: { ...(url !== null && { origin: new URL(url).origin }), ...(dropped > 0 && { droppedEvents: dropped }), hadWebhook: service.webhookUrl !== null, ...towns(staff.municipalityCode) },
  });
  return viewOf(trx, (await repo.service(trx, id))!);
}

/** What the idempotent answer of an issue keeps: the secret sealed as stored, never in clear. */
export interface IssuedSecret { keyId: string; sealedSecret: string; issuedAt: string }

/** A new API secret for the service; the old one stops working at once. Audited, without the secret. */
export async function issueApiSecret(trx: Knex.Transaction, mykeySecret: Buffer, staff: SignedInStaff, id: number, now: Date): Promise<IssuedSecret> {
  const service = await ownService(trx, staff, id, { lock: true });
  const sealed = sealApiSecret(mykeySecret, serviceSecretOwner(id), newPartnerSecret());
  await repo.storeApiSecret(trx, id, sealed, now);
  await appendAudit(trx, {
    action: service.apiSecretIssuedAt ? 'service.secret_rotated' : 'service.secret_issued', actor: staffActor(staff), subject: `service:${id}`,
    details: { ...towns(staff.municipalityCode) },
  });
  return { keyId: serviceKeyId(id), sealedSecret: sealed.toString('base64'), issuedAt: now.toISOString() };
}

/** The issued secret in clear, for the one who issued it (a replay under the same Idempotency-Key too). */
export function openIssued(mykeySecret: Buffer, issued: IssuedSecret): ServiceApiSecret {
  const serviceId = Number(SERVICE_KEY_ID.exec(issued.keyId)![1]);
  return { keyId: issued.keyId, apiSecret: unsealApiSecret(mykeySecret, serviceSecretOwner(serviceId), Buffer.from(issued.sealedSecret, 'base64')), issuedAt: issued.issuedAt };
}

/** The service a key id names, with its API secret; undefined for anything else, a service without a secret included. */
export const serviceSigner = (db: Db, mykeySecret: Buffer): SignerLookup<Service> => async (keyId) => {
  const id = Number(SERVICE_KEY_ID.exec(keyId)?.[1]);
  if (!Number.isSafeInteger(id)) return undefined;
  const found = await repo.apiSecretOf(db, id);
  return found && { signer: found.service, apiSecret: unsealApiSecret(mykeySecret, serviceSecretOwner(id), found.sealed), active: true };
};

/**
 * The last tap of a member at this device for this service, within LAST_TAP_WINDOW_MS. A device
 * of another service (another town's too), an unknown one and one without a recent tap answer
 * alike: no_recent_tap.
 */
export async function lastTap(db: Db, mykeySecret: Buffer, service: Service, deviceId: number | undefined, now: Date): Promise<LastTapView> {
  const use = deviceId === undefined ? undefined : await repo.lastUse(db, service.id, deviceId, new Date(now.getTime() - LAST_TAP_WINDOW_MS));
  if (!use) throw new Problem('no_recent_tap');
  const { memberNumber, pseudonym } = membershipView(mykeySecret, use.membership, await mykeyIdOf(db, use.membership));
  return { memberNumber, pseudonym, usedAt: use.usedAt.toISOString(), device: { id: deviceId! } };
}
