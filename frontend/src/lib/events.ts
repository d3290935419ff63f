// The municipality console's events and administrative points (docs/events.md): the town's
// categories, its events and the devices serving each, the points granted per category and per
// event, and at an event's reception, what the reader agent passes on from a tap.
import type { EventCategoryView, EventFigures, EventTapAnswer, EventView, GrantRecordView, Named } from '@mykey/contracts/events.ts';
import { TAP_POLICIES, type TapPolicy } from '@mykey/contracts/services.ts';
import { isRecord, request } from './api.ts';

export type { EventCategoryView, EventFigures, EventTapAnswer, Named };
export { SERVICE_NAME_MAX as EVENT_NAME_MAX } from '@mykey/contracts/services.ts';

/** An event as the console keeps it: the backend's, with its category's and campaign's ids beside them, as a form edits them. */
export type EventItem = EventView & { categoryId: number; campaignId: number };

/** What a clerk fills in for an event. */
export type EventFields = Pick<EventItem, 'nameJa' | 'nameEn' | 'categoryId' | 'startsOn' | 'endsOn' | 'points' | 'campaignId' | 'tapPolicy'>;

const isString = (value: unknown): value is string => typeof value === 'string';
const isId = (value: unknown): value is number => typeof value === 'number' && Number.isSafeInteger(value) && value > 0;
const isCount = (value: unknown): value is number => typeof value === 'number' && Number.isSafeInteger(value) && value >= 0;
const isPolicy = (value: unknown): value is TapPolicy => TAP_POLICIES.some((policy) => policy === value);
const isNamed = (value: unknown): value is Named => isRecord(value) && isId(value.id) && isString(value.nameJa) && isString(value.nameEn);
const isLabel = (value: unknown) => value === null || (isRecord(value) && isString(value.ja) && isString(value.en));

function isEvent(value: unknown): value is EventView {
  if (!isNamed(value)) return false;
  const event = value as unknown as Record<string, unknown>;
  return isNamed(event.category) && isRecord(event.campaign) && isId(event.campaign.id) && isString(event.startsOn) && isString(event.endsOn)
    && isId(event.points) && isPolicy(event.tapPolicy) && Array.isArray(event.deviceIds) && event.deviceIds.every(isId);
}

const itemOf = (event: EventView): EventItem => ({ ...event, categoryId: event.category.id, campaignId: event.campaign.id });
const parseCategory = (body: unknown) => (isNamed(body) ? body : null);
const parseCategories = (body: unknown) => (isRecord(body) && Array.isArray(body.categories) && body.categories.every(isNamed) ? body.categories : null);
const parseEvent = (body: unknown) => (isEvent(body) ? itemOf(body) : null);
const parseEvents = (body: unknown) => (isRecord(body) && Array.isArray(body.events) && body.events.every(isEvent) ? body.events.map(itemOf) : null);

function isGrantRecord(value: unknown): value is GrantRecordView {
  return isRecord(value) && isId(value.entryId) && isString(value.postedAt) && isId(value.points) && isLabel(value.label);
}

const isFigure = (value: Record<string, unknown>) => isCount(value.grants) && isCount(value.points);
const parseFigures = (body: unknown) => (isRecord(body) && isRecord(body.period) && Array.isArray(body.categories) && Array.isArray(body.events) && isRecord(body.total)
  && body.categories.every((line) => isRecord(line) && (line.category === null || isNamed(line.category)) && isFigure(line))
  && body.events.every((line) => isRecord(line) && isNamed(line.event) && isFigure(line)) ? body as unknown as EventFigures : null);

/** A tap's answer at an event's reception (with the PIN or without), as the agent passes it on. */
export function parseEventTap(body: unknown): EventTapAnswer | null {
  return isRecord(body) && body.purpose === 'event_attendance' && typeof body.alreadyGranted === 'boolean' && isNamed(body.event)
    && isGrantRecord(body.grant) && isCount(body.balanceAfter) ? body as unknown as EventTapAnswer : null;
}

export function listCategories(): Promise<EventCategoryView[]> {
  return request('/api/v1/event-categories', parseCategories);
}

/** `key` is the caller's, made once per attempt, so a retry after a lost answer adds one category. */
export function createCategory(names: Pick<Named, 'nameJa' | 'nameEn'>, key: string): Promise<EventCategoryView> {
  return request('/api/v1/event-categories', parseCategory, { method: 'POST', body: names, idempotencyKey: key });
}

export function renameCategory(id: number, names: Partial<Pick<Named, 'nameJa' | 'nameEn'>>, key: string): Promise<EventCategoryView> {
  return request(`/api/v1/event-categories/${id}`, parseCategory, { method: 'PATCH', body: names, idempotencyKey: key });
}

export function listEvents(): Promise<EventItem[]> {
  return request('/api/v1/events', parseEvents);
}

export function createEvent(fields: EventFields, key: string): Promise<EventItem> {
  return request('/api/v1/events', parseEvent, { method: 'POST', body: fields, idempotencyKey: key });
}

export function updateEvent(id: number, fields: Partial<EventFields>, key: string): Promise<EventItem> {
  return request(`/api/v1/events/${id}`, parseEvent, { method: 'PATCH', body: fields, idempotencyKey: key });
}

export function setEventDevices(id: number, deviceIds: number[], key: string): Promise<EventItem> {
  return request(`/api/v1/events/${id}/devices`, parseEvent, { method: 'PUT', body: { deviceIds }, idempotencyKey: key });
}

const period = (from: string, to: string) => `from=${encodeURIComponent(from)}&to=${encodeURIComponent(to)}`;

export function loadEventFigures(from: string, to: string): Promise<EventFigures> {
  return request(`/api/v1/event-figures?${period(from, to)}`, parseFigures);
}

export const eventFiguresCsvPath = (from: string, to: string) => `/api/v1/event-figures.csv?${period(from, to)}`;
