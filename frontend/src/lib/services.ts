// The municipality console's town services (docs/services.md): the services and the devices
// serving them, and at a counter, the memberships residents link to their MyKey ID. The card's
// part of a lookup, a link or an unlink goes through the reader agent (reader-agent.svelte.ts),
// never here; what the agent passes on from the backend is read here.
import {
  MEMBER_NUMBER,
  normalizeMemberNumber,
  SERVICE_KINDS,
  TAP_POLICIES,
  type MembershipAction,
  type MembershipRequestView,
  type MembershipView,
  type ServiceApiSecret,
  type ServiceKind,
  type ServiceTapAnswer,
  type ServiceView,
  type TapPolicy,
} from '@mykey/contracts/services.ts';
import { isRecord, request } from './api.ts';

export type { MembershipRequestView, MembershipView, ServiceApiSecret, ServiceKind, ServiceTapAnswer, ServiceView, TapPolicy };
export { SERVICE_KINDS, TAP_POLICIES };
export { SERVICE_NAME_MAX } from '@mykey/contracts/services.ts';

/** What a service is called everywhere the console names one. */
export type ServiceNames = Pick<ServiceView, 'id' | 'nameJa' | 'nameEn'>;

/** What a clerk fills in for a service. */
export type ServiceFields = Pick<ServiceView, 'kind' | 'nameJa' | 'nameEn' | 'tapPolicy'>;

const isString = (value: unknown): value is string => typeof value === 'string';
const isId = (value: unknown): value is number => typeof value === 'number' && Number.isSafeInteger(value) && value > 0;
const isKind = (value: unknown): value is ServiceKind => SERVICE_KINDS.some((kind) => kind === value);
const isPolicy = (value: unknown): value is TapPolicy => TAP_POLICIES.some((policy) => policy === value);
const isStringOrNull = (value: unknown) => value === null || isString(value);

function isNames(value: unknown): value is ServiceNames & Record<string, unknown> {
  return isRecord(value) && isId(value.id) && isString(value.nameJa) && isString(value.nameEn);
}

function isService(value: unknown): value is ServiceView {
  return isNames(value) && isKind(value.kind) && isPolicy(value.tapPolicy) && Array.isArray(value.deviceIds)
    && value.deviceIds.every(isId) && isString(value.createdAt) && isStringOrNull(value.webhookUrl) && isStringOrNull(value.apiSecretIssuedAt);
}

const parseApiSecret = (body: unknown) => (isRecord(body) && isString(body.keyId) && isString(body.apiSecret) && isString(body.issuedAt) ? body as unknown as ServiceApiSecret : null);

function isMembership(value: unknown): value is MembershipView {
  return isRecord(value) && isId(value.id) && isId(value.serviceId) && isString(value.memberNumber) && isString(value.pseudonym) && isString(value.linkedAt);
}

const parseService = (body: unknown) => (isService(body) ? body : null);
const parseServices = (body: unknown) => (isRecord(body) && Array.isArray(body.services) && body.services.every(isService) ? body.services : null);
const parseMembership = (body: unknown) => (isMembership(body) ? body : null);

function parseRequest(body: unknown): MembershipRequestView | null {
  if (!isRecord(body) || !isString(body.requestId) || (body.action !== 'link' && body.action !== 'unlink')) return null;
  return isNames(body.service) && isString(body.memberNumber) && isString(body.expiresAt) ? (body as unknown as MembershipRequestView) : null;
}

/** The member number unlinked, from the staff's unlink or the resident's (as the agent passes it on). */
export function parseUnlinked(body: unknown): string | null {
  return isRecord(body) && isRecord(body.unlinked) && isString(body.unlinked.memberNumber) ? body.unlinked.memberNumber : null;
}

/** The membership a card's signature linked, as the agent passes the backend's answer on. */
export function parseLinked(body: unknown): { service: ServiceNames; membership: MembershipView } | null {
  return isRecord(body) && isNames(body.service) && isMembership(body.membership) ? { service: body.service, membership: body.membership } : null;
}

/** A tap's answer at the counter (with the PIN or without), as the agent passes it on. */
export function parseTapAnswer(body: unknown): ServiceTapAnswer | null {
  if (!isRecord(body) || body.purpose !== 'service_lookup' || !isNames(body.service)) return null;
  if (body.linked === true) return isString(body.memberNumber) && isString(body.pseudonym) && isString(body.usedAt) ? (body as unknown as ServiceTapAnswer) : null;
  return body.linked === false && isRecord(body.messages) && isString(body.messages.ja) && isString(body.messages.en) ? (body as unknown as ServiceTapAnswer) : null;
}

/** A typed or scanned member number in the spelling the backend stores, or null when it cannot be one. */
export function memberNumberOf(typed: string): string | null {
  const number = normalizeMemberNumber(typed);
  return MEMBER_NUMBER.test(number) ? number : null;
}

export function listServices(): Promise<ServiceView[]> {
  return request('/api/v1/services', parseServices);
}

/** `key` is the caller's, made once per attempt, so a retry after a lost answer registers one service. */
export function createService(fields: ServiceFields, key: string): Promise<ServiceView> {
  return request('/api/v1/services', parseService, { method: 'POST', body: fields, idempotencyKey: key });
}

export function updateService(id: number, fields: Partial<ServiceFields>, key: string): Promise<ServiceView> {
  return request(`/api/v1/services/${id}`, parseService, { method: 'PATCH', body: fields, idempotencyKey: key });
}

export function setServiceDevices(id: number, deviceIds: number[], key: string): Promise<ServiceView> {
  return request(`/api/v1/services/${id}/devices`, parseService, { method: 'PUT', body: { deviceIds }, idempotencyKey: key });
}

/** Where tap events go to the service's own system; null stops them (docs/services-integration.md). */
export function setServiceWebhook(id: number, url: string | null, key: string): Promise<ServiceView> {
  return request(`/api/v1/services/${id}/webhook`, parseService, { method: 'PUT', body: { url }, idempotencyKey: key });
}

/** A new API secret for the service's own system, replacing any before it; the answer is the only time it is shown. */
export function issueServiceApiSecret(id: number, key: string): Promise<ServiceApiSecret> {
  return request(`/api/v1/services/${id}/api-secret`, parseApiSecret, { method: 'POST', idempotencyKey: key });
}

/** What the resident is shown, and their card then signs. */
export function openMembershipRequest(serviceId: number, action: MembershipAction, memberNumber: string, key: string): Promise<MembershipRequestView> {
  return request(`/api/v1/services/${serviceId}/membership-requests`, parseRequest, { method: 'POST', body: { action, memberNumber }, idempotencyKey: key });
}

export function findMembership(serviceId: number, memberNumber: string): Promise<MembershipView> {
  return request(`/api/v1/services/${serviceId}/memberships?memberNumber=${encodeURIComponent(memberNumber)}`, parseMembership);
}

export function unlinkMembership(serviceId: number, membershipId: number, reason: string, key: string): Promise<string> {
  return request(`/api/v1/services/${serviceId}/memberships/${membershipId}/unlink`, parseUnlinked, { method: 'POST', body: { reason }, idempotencyKey: key });
}

const counterKey = 'mykey.counterService';

/** The service this PC's counter serves, as its clerk chose it in this browser; null when none was chosen. */
export function counterService(): number | null {
  try {
    const stored = Number(localStorage.getItem(counterKey));
    return isId(stored) ? stored : null;
  } catch {
    return null;
  }
}

export function saveCounterService(id: number): void {
  try {
    localStorage.setItem(counterKey, String(id));
  } catch {
    // Storage refused (a private mode): the clerk chooses again after a reload.
  }
}
