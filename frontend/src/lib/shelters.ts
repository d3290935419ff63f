// The municipality console's shelters (docs/shelters.md): open, change and close a shelter,
// assign its desk devices, its roster and the headquarters summary. Residents' check-ins are
// card taps at the desk's reader agent (避難所受付, ShelterDesk.svelte), never the backend from here.
import type { RosterEntry, ShelterRoster, ShelterSummary, ShelterSummaryLine, ShelterTapAnswer, ShelterView } from '@mykey/contracts/shelters.ts';
import { isRecord, request } from './api.ts';

export type { ShelterRoster, ShelterSummary, ShelterTapAnswer, ShelterView };

/** A desk's tap: the backend's answer, or the agent's word that it kept the tap for later (docs/tap-journal.md). */
export type DeskAnswer = ({ kept: false } & ShelterTapAnswer) | { kept: true; purpose: string; tappedAt: string; waiting: number };
export { SHELTER_CAPACITY_MAX, SHELTER_NAME_MAX, SHELTER_PLACE_MAX } from '@mykey/contracts/shelters.ts';

/** What a clerk fills in for a shelter. */
export type ShelterFields = Pick<ShelterView, 'nameJa' | 'nameEn' | 'place' | 'capacity' | 'drill'>;

const isString = (value: unknown): value is string => typeof value === 'string';
const isId = (value: unknown): value is number => typeof value === 'number' && Number.isSafeInteger(value) && value > 0;
const isCount = (value: unknown): value is number => typeof value === 'number' && Number.isSafeInteger(value) && value >= 0;
const isNames = (value: unknown): value is Record<string, unknown> => isRecord(value) && isId(value.id) && isString(value.nameJa) && isString(value.nameEn);

function isShelter(value: unknown): value is ShelterView {
  return isNames(value) && isString(value.place) && isId(value.capacity) && typeof value.drill === 'boolean' && Array.isArray(value.deviceIds)
    && value.deviceIds.every(isId) && isString(value.openedAt) && (value.closedAt === null || isString(value.closedAt));
}

const isEntry = (value: unknown): value is RosterEntry => isRecord(value) && isString(value.mykeyId) && isString(value.since) && isId(value.deviceId);
const isLine = (value: unknown): value is ShelterSummaryLine => isRecord(value) && isNames(value.shelter) && isCount(value.inside) && isId(value.capacity) && isString(value.lastChangeAt);

const parseShelter = (body: unknown) => (isShelter(body) ? body : null);
const parseShelters = (body: unknown) => (isRecord(body) && Array.isArray(body.shelters) && body.shelters.every(isShelter) ? body.shelters : null);
const parseRoster = (body: unknown) => (isRecord(body) && isShelter(body.shelter) && isCount(body.inside) && Array.isArray(body.people) && body.people.every(isEntry)
  ? body as unknown as ShelterRoster : null);
const parseSummary = (body: unknown) => (isRecord(body) && isString(body.at) && Array.isArray(body.shelters) && body.shelters.every(isLine) ? body as unknown as ShelterSummary : null);

const isMessages = (value: unknown) => isRecord(value) && isString(value.ja) && isString(value.en);
const isTapAnswer = (value: Record<string, unknown>) => (value.purpose === 'shelter_check_in' || value.purpose === 'shelter_check_out') && isNames(value.shelter)
  && (value.result === 'checked_in' || value.result === 'already_inside' || value.result === 'checked_out') && isString(value.since)
  && isCount(value.inside) && isId(value.capacity) && isMessages(value.messages);

/** What the desk's agent answered a check-in or check-out tap, or null when it is neither shape. */
export function parseDeskAnswer(body: unknown): DeskAnswer | null {
  if (!isRecord(body)) return null;
  if (body.journaled === true) return isString(body.purpose) && isString(body.tappedAt) && isCount(body.waiting) ? { kept: true, purpose: body.purpose, tappedAt: body.tappedAt, waiting: body.waiting } : null;
  return isTapAnswer(body) ? { kept: false, ...(body as unknown as ShelterTapAnswer) } : null;
}

export function listShelters(): Promise<ShelterView[]> {
  return request('/api/v1/shelters', parseShelters);
}

/** `key` is the caller's, made once per attempt, so a retry after a lost answer opens one shelter. */
export function openShelter(fields: ShelterFields, key: string): Promise<ShelterView> {
  return request('/api/v1/shelters', parseShelter, { method: 'POST', body: fields, idempotencyKey: key });
}

export function updateShelter(id: number, fields: Partial<ShelterFields>, key: string): Promise<ShelterView> {
  return request(`/api/v1/shelters/${id}`, parseShelter, { method: 'PATCH', body: fields, idempotencyKey: key });
}

export function setShelterDevices(id: number, deviceIds: number[], key: string): Promise<ShelterView> {
  return request(`/api/v1/shelters/${id}/devices`, parseShelter, { method: 'PUT', body: { deviceIds }, idempotencyKey: key });
}

export function closeShelter(id: number, key: string): Promise<ShelterView> {
  return request(`/api/v1/shelters/${id}/close`, parseShelter, { method: 'POST', idempotencyKey: key });
}

export function shelterRoster(id: number): Promise<ShelterRoster> {
  return request(`/api/v1/shelters/${id}/roster`, parseRoster);
}

export const rosterCsvPath = (id: number) => `/api/v1/shelters/${id}/roster.csv`;

export function shelterSummary(): Promise<ShelterSummary> {
  return request('/api/v1/shelters/summary', parseSummary);
}
