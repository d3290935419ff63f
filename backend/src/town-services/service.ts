// A municipality's services and the memberships residents link to their MyKey ID. Staff of the
// town register services and the devices serving them, and open a request for a link or an
// unlink; the resident's card signs the request's terms at a device of the service (purposes.ts).
// A tap at the service's device answers the member number and logs a use. docs/services.md.
import { randomBytes } from 'node:crypto';
import type { Knex } from 'knex';
import { appendAudit, recordAudit, towns, type AuditEvent } from '../audit/chain.ts';
import type { Db } from '../db.ts';
import type { EnrolledDevice } from '../devices/repository.ts';
import { devicesRepository } from '../devices/repository.ts';
import { deviceAssignments } from '../devices/assignments.ts';
import { Problem } from '../http/problems.ts';
import { usableCardOf } from '../mykey/service.ts';
import { pseudonymOf } from '../mykey/pseudonym.ts';
import { mykeyRepository } from '../mykey/repository.ts';
import type { SignedInStaff } from '../staff/repository.ts';
import type { Tap, TapPlan } from '../card-taps/purposes.ts';
import type { MembershipTerms } from '@mykey/contracts/challenge-text.ts';
import type { MembershipAction, MembershipRequestView, MembershipView, ServiceTapAnswer, ServiceView } from '@mykey/contracts/services.ts';
import { townServicesRepository as repo, type Membership, type Service, type ServiceFields } from './repository.ts';
import { serviceUsesRepository as usesRepo, type Use } from './uses-repository.ts';
import { recordTapEvents, tapEventOf } from './tap-events.ts';
import type { TapEventRow } from './tap-event-repository.ts';

type Conn = Db | Knex.Transaction;

/** How long a clerk's request waits for the card: long enough for a PIN and a second try. */
const REQUEST_SECONDS = 300;

export const staffActor = (staff: SignedInStaff): AuditEvent['actor'] => ({ kind: 'staff', id: String(staff.id) });
const deviceActor = (device: EnrolledDevice): AuditEvent['actor'] => ({ kind: 'device', id: String(device.id) });
export const names = (service: Service) => ({ id: service.id, nameJa: service.nameJa, nameEn: service.nameEn });

const serviceView = (service: Service, deviceIds: number[]): ServiceView => ({
  ...names(service), kind: service.kind, tapPolicy: service.tapPolicy, deviceIds, createdAt: service.createdAt.toISOString(),
  webhookUrl: service.webhookUrl, apiSecretIssuedAt: service.apiSecretIssuedAt?.toISOString() ?? null,
});

/** A membership as the service sees it: the resident under the service's own pseudonym. */
export const membershipView = (secret: Buffer, m: Membership, mykeyId: string): MembershipView => ({
  id: m.id, serviceId: m.serviceId, memberNumber: m.memberNumber, pseudonym: pseudonymOf(secret, mykeyId, { kind: 'service', id: m.serviceId }), linkedAt: m.linkedAt.toISOString(),
});

/** The MyKey ID a membership hangs off, as mykey/ knows it. */
export const mykeyIdOf = async (conn: Conn, m: Membership): Promise<string> => (await mykeyRepository.byPks(conn, [m.mykeyPk])).get(m.mykeyPk)!.mykeyId;

/** A service of the staff member's town; another town's is as good as unknown. */
export async function ownService(conn: Conn, staff: SignedInStaff, id: number, options: { lock?: boolean } = {}): Promise<Service> {
  const service = await repo.service(conn, id, options);
  if (!service || service.municipalityCode !== staff.municipalityCode) throw new Problem('service_not_found');
  return service;
}

export async function viewOf(conn: Conn, service: Service): Promise<ServiceView> {
  return serviceView(service, (await deviceAssignments.devicesOf(conn, 'service', [service.id])).get(service.id)!);
}

export async function listServices(db: Db, staff: SignedInStaff): Promise<ServiceView[]> {
  const services = await repo.list(db, staff.municipalityCode);
  const devices = await deviceAssignments.devicesOf(db, 'service', services.map((s) => s.id));
  return services.map((service) => serviceView(service, devices.get(service.id)!));
}

export async function serviceOf(db: Db, staff: SignedInStaff, id: number): Promise<ServiceView> {
  return viewOf(db, await ownService(db, staff, id));
}

export async function createService(trx: Knex.Transaction, staff: SignedInStaff, fields: ServiceFields, now: Date): Promise<ServiceView> {
  const id = await repo.insert(trx, staff.municipalityCode, fields, now);
  if (id === undefined) throw new Problem('service_name_taken');
  await appendAudit(trx, { action: 'service.created', actor: staffActor(staff), subject: `service:${id}`, details: { kind: fields.kind, tapPolicy: fields.tapPolicy, ...towns(staff.municipalityCode) } });
  return viewOf(trx, (await repo.service(trx, id))!);
}

export async function updateService(trx: Knex.Transaction, staff: SignedInStaff, id: number, fields: Partial<ServiceFields>, now: Date): Promise<ServiceView> {
  await ownService(trx, staff, id, { lock: true });
  if (!(await repo.update(trx, id, fields, now))) throw new Problem('service_name_taken');
  await appendAudit(trx, { action: 'service.updated', actor: staffActor(staff), subject: `service:${id}`, details: { fields: Object.keys(fields).sort(), ...(fields.tapPolicy && { tapPolicy: fields.tapPolicy }), ...towns(staff.municipalityCode) } });
  return viewOf(trx, (await repo.service(trx, id))!);
}

/** The service is served by exactly these active devices of the town; one serving another service moves here. */
export async function setServiceDevices(trx: Knex.Transaction, staff: SignedInStaff, id: number, deviceIds: number[]): Promise<ServiceView> {
  const service = await ownService(trx, staff, id, { lock: true });
  const unique = [...new Set(deviceIds)].sort((a, b) => a - b);
  const active = await devicesRepository.lockActiveOf(trx, unique, staff.organization);
  // Which one is not said: another town's device must answer as one that never was.
  if (unique.some((deviceId) => !active.has(deviceId))) throw new Problem('device_not_found');
  await deviceAssignments.assign(trx, 'service', id, unique);
  await appendAudit(trx, { action: 'service.devices_set', actor: staffActor(staff), subject: `service:${id}`, details: { deviceIds: unique, ...towns(staff.municipalityCode) } });
  return viewOf(trx, service);
}

/**
 * A clerk's request to link (or unlink) a member number, shown to the resident before the card
 * signs it. What can be told before the tap is told now: a number linked to someone else, or
 * (to unlink) one linked to no one.
 */
export async function openRequest(trx: Knex.Transaction, staff: SignedInStaff, serviceId: number, action: MembershipAction, memberNumber: string, now: Date): Promise<MembershipRequestView> {
  const service = await ownService(trx, staff, serviceId);
  const linked = await repo.membershipByNumber(trx, serviceId, memberNumber);
  if (action === 'link' && linked) throw new Problem('membership_number_taken');
  if (action === 'unlink' && !linked) throw new Problem('membership_not_found');
  const id = `mr_${randomBytes(16).toString('base64url')}`;
  const expiresAt = new Date(now.getTime() + REQUEST_SECONDS * 1000);
  await repo.insertRequest(trx, { id, serviceId, action, memberNumber, staffId: staff.id, createdAt: now, expiresAt });
  return { requestId: id, action, service: names(service), memberNumber, expiresAt: expiresAt.toISOString() };
}

/** The service a device serves, or device_not_for_service. */
async function servedBy(conn: Conn, device: EnrolledDevice): Promise<Service> {
  const service = await repo.serviceOfDevice(conn, device.id);
  if (!service) throw new Problem('device_not_for_service');
  return service;
}

/**
 * The terms a link or unlink challenge binds: the open request of this action for the service
 * this device serves. Another service's request (another town's too) is as good as unknown.
 */
export async function requestTerms(conn: Conn, device: EnrolledDevice, action: MembershipAction, requestId: string, now: Date): Promise<MembershipTerms> {
  const service = await servedBy(conn, device);
  const request = await repo.request(conn, requestId);
  if (!request || request.action !== action || request.serviceId !== service.id) throw new Problem('membership_request_not_found');
  if (request.status !== 'open' || request.expiresAt <= now) throw new Problem('membership_request_not_open');
  return { requestId, serviceId: service.id, serviceName: service.nameJa, memberNumber: request.memberNumber };
}

/** The signed request, still open, used up now; and the card's MyKey ID, usable in the device's town. */
async function signedRequest(trx: Knex.Transaction, tap: Tap<MembershipTerms>) {
  const { requestId } = tap.terms!;
  const request = await repo.request(trx, requestId, { lock: true });
  if (!request || request.status !== 'open' || request.expiresAt <= tap.now) throw new Problem('membership_request_not_open');
  const card = await usableCardOf(trx, tap.card.certKey, tap.device.municipalityCode, { lock: true });
  if (!card) throw new Problem('service_card_unknown');
  await repo.markRequestDone(trx, requestId);
  return { request, card, service: (await repo.service(trx, request.serviceId))! };
}

/** The card signed a link: the member number joins its MyKey ID at the service. */
export async function link(trx: Knex.Transaction, secret: Buffer, tap: Tap<MembershipTerms>): Promise<object> {
  const { request, card, service } = await signedRequest(trx, tap);
  const own = await repo.membershipOf(trx, { serviceId: service.id, mykeyPk: card.mykeyPk });
  if (own) throw new Problem('membership_exists', undefined, { memberNumber: own.memberNumber });
  const id = await repo.insertMembership(trx, { serviceId: service.id, mykeyPk: card.mykeyPk, memberNumber: request.memberNumber, linkedAt: tap.now, deviceId: tap.device.id });
  if (id === undefined) throw new Problem('membership_number_taken');
  await appendAudit(trx, {
    action: 'membership.linked', actor: deviceActor(tap.device), subject: card.mykeyId,
    details: { service: service.id, membership: id, requestId: request.id, ...towns(service.municipalityCode) }, texts: { memberNumber: request.memberNumber },
  });
  const membership = (await repo.membership(trx, service.id, id))!;
  return { service: names(service), membership: membershipView(secret, membership, card.mykeyId) };
}

/** The card signed an unlink: its own membership of that number leaves its MyKey ID. */
export async function unlinkByCard(trx: Knex.Transaction, tap: Tap<MembershipTerms>): Promise<object> {
  const { request, card, service } = await signedRequest(trx, tap);
  const membership = await repo.membershipByNumber(trx, service.id, request.memberNumber);
  if (!membership) throw new Problem('membership_not_found');
  if (membership.mykeyPk !== card.mykeyPk) throw new Problem('membership_not_this_card');
  return { service: names(service), ...await unlink(trx, service, membership, card.mykeyId, { actor: deviceActor(tap.device), details: { by: 'resident', requestId: request.id } }) };
}

/** Who unlinked, as the event records it: the actor, `by` whom and how (the details), any words, and the towns it happened in besides the service's. */
interface Unlinking { actor: AuditEvent['actor']; details: Record<string, unknown>; texts?: Record<string, string>; alsoIn?: string }

/**
 * The one way a membership leaves its MyKey ID, whoever unlinks it (the card at the service's
 * counter, the service's staff, the resident on their own page): on record as membership.unlinked
 * in the service's town. The member number stays the service's.
 */
async function unlink(trx: Knex.Transaction, service: Service, membership: Membership, mykeyId: string, by: Unlinking): Promise<{ unlinked: { memberNumber: string } }> {
  await repo.deleteMembership(trx, membership.id);
  await appendAudit(trx, {
    action: 'membership.unlinked', actor: by.actor, subject: mykeyId,
    details: { service: service.id, membership: membership.id, ...by.details, ...towns(service.municipalityCode, ...(by.alsoIn ? [by.alsoIn] : [])) },
    texts: { memberNumber: membership.memberNumber, ...by.texts },
  });
  return { unlinked: { memberNumber: membership.memberNumber } };
}

const NOT_LINKED = {
  ja: 'このカードは、この施設の利用者カードとまだつながっていません。窓口で利用者番号を伝え、カードと暗証番号でつないでください。',
  en: 'This card is not linked to a membership of this service yet. Give your member number at the counter and link it with your card and PIN.',
};

/** What a look-up that found a member stores: the use, and the event for the service's system if it has one. */
export interface LookupRows { use: Use; event: TapEventRow | undefined }

/** A tap at a service's counter or gate: the member number for that service, and a use to log; or how to link. */
export async function planLookup(conn: Conn, secret: Buffer, tap: Tap): Promise<TapPlan<LookupRows>> {
  // The card is read beside the device's service (one round trip less at the gate); a problem
  // of the service's is still the one reported.
  const reading = usableCardOf(conn, tap.card.certKey, tap.device.municipalityCode);
  reading.catch(() => {});
  const service = await servedBy(conn, tap.device);
  if (tap.card.proof === 'tap' && service.tapPolicy !== 'tap') throw new Problem('card_tap_not_allowed');
  const card = await reading;
  if (!card) throw new Problem('service_card_unknown');
  const membership = await repo.membershipOf(conn, { serviceId: service.id, mykeyPk: card.mykeyPk });
  if (!membership) return { answer: { purpose: 'service_lookup', linked: false, service: names(service), messages: NOT_LINKED } satisfies ServiceTapAnswer, rows: undefined };
  const { memberNumber, pseudonym } = membershipView(secret, membership, card.mykeyId);
  const usedAt = tap.now.toISOString();
  return {
    answer: { purpose: 'service_lookup', linked: true, service: names(service), memberNumber, pseudonym, usedAt } satisfies ServiceTapAnswer,
    rows: {
      use: { serviceId: service.id, deviceId: tap.device.id, membershipId: membership.id, at: tap.now },
      event: tapEventOf(service, { service: names(service), device: { id: tap.device.id }, memberNumber, pseudonym, usedAt }, tap.now),
    },
  };
}

/** The uses and events of several look-ups, in one transaction. */
export async function insertLookups(trx: Knex.Transaction, rows: LookupRows[]): Promise<void> {
  await usesRepo.recordUses(trx, rows.map((row) => row.use));
  await recordTapEvents(trx, rows.flatMap((row) => (row.event ? [row.event] : [])));
}

/**
 * The membership of a member number, for the service's staff. The look is on record about the
 * resident (their page shows it), as a look at a MyKey ID is; the member number stays out of it.
 */
export async function membershipByNumber(db: Db, secret: Buffer, staff: SignedInStaff, serviceId: number, memberNumber: string): Promise<MembershipView> {
  await ownService(db, staff, serviceId);
  const membership = await repo.membershipByNumber(db, serviceId, memberNumber);
  if (!membership) throw new Problem('membership_not_found');
  const mykeyId = await mykeyIdOf(db, membership);
  await recordAudit(db, { action: 'membership.viewed', actor: staffActor(staff), subject: mykeyId, details: { service: serviceId, membership: membership.id, ...towns(staff.municipalityCode) } });
  return membershipView(secret, membership, mykeyId);
}

/** The service's staff unlink a membership, with a reason for the audit log. */
export async function unlinkByStaff(trx: Knex.Transaction, staff: SignedInStaff, serviceId: number, membershipId: number, reason: string): Promise<{ unlinked: { memberNumber: string } }> {
  const service = await ownService(trx, staff, serviceId);
  const membership = await repo.membership(trx, serviceId, membershipId, { lock: true });
  if (!membership) throw new Problem('membership_not_found');
  return unlink(trx, service, membership, await mykeyIdOf(trx, membership), { actor: staffActor(staff), details: { by: 'staff' }, texts: { reason } });
}

/**
 * The resident unlinks their own membership on their page, opened with card and PIN at the
 * kiosk `deviceId` of `town` (the device is the actor, as for every act of the card; docs/resident.md).
 * Another resident's membership is as good as none.
 */
export async function unlinkByResident(trx: Knex.Transaction, resident: { mykeyPk: number; mykeyId: string }, kiosk: { deviceId: number; town: string }, membershipId: number) {
  const membership = await repo.membershipOfResident(trx, resident.mykeyPk, membershipId, { lock: true });
  if (!membership) throw new Problem('membership_not_found');
  const service = (await repo.service(trx, membership.serviceId))!;
  const done = await unlink(trx, service, membership, resident.mykeyId, {
    actor: { kind: 'device', id: String(kiosk.deviceId) }, details: { by: 'resident', via: 'resident_page' }, alsoIn: kiosk.town,
  });
  return { service: names(service), ...done };
}
