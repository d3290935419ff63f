// A town's events and the administrative points a resident earns by tapping in at one
// (docs/events.md). Staff keep the town's event categories and its events — each paid from one
// of the town's campaigns and served by some of its devices —; a tap at an event's device on
// the event's day(s) grants its points once per resident and event, as a ledger grant from the
// campaign, recorded with the event and its category (records.ts).
import type { Knex } from 'knex';
import { appendAudit, towns } from '../audit/chain.ts';
import type { Db } from '../db.ts';
import { devicesRepository } from '../devices/repository.ts';
import { deviceAssignments } from '../devices/assignments.ts';
import { Problem } from '../http/problems.ts';
import { grantPoints, residentPoints } from '../ledger/ledger.ts';
import { ledgerRepository } from '../ledger/repository.ts';
import { tokyoDate } from '../ledger/rules.ts';
import { usableCardOf } from '../mykey/service.ts';
import type { SignedInStaff } from '../staff/repository.ts';
import type { Tap } from '../card-taps/purposes.ts';
import { staffActor } from '../town-services/service.ts';
import { categoryRef, ownCategory, recordGrant, recordView } from './records.ts';
import type { EventCategoryView, EventTapAnswer, EventView } from '@mykey/contracts/events.ts';
import { eventsRepository as repo, type CategoryFields, type Event, type EventFields } from './repository.ts';

type Conn = Db | Knex.Transaction;

export const eventNames = (event: Event) => ({ id: event.id, nameJa: event.nameJa, nameEn: event.nameEn });

// --- categories ------------------------------------------------------------------------------

export async function listCategories(db: Db, staff: SignedInStaff): Promise<EventCategoryView[]> {
  return (await repo.categories(db, staff.municipalityCode)).map(categoryRef);
}

export async function createCategory(trx: Knex.Transaction, staff: SignedInStaff, fields: CategoryFields, now: Date): Promise<EventCategoryView> {
  const id = await repo.insertCategory(trx, staff.municipalityCode, fields, now);
  if (id === undefined) throw new Problem('event_category_name_taken');
  await appendAudit(trx, { action: 'event_category.created', actor: staffActor(staff), subject: `event-category:${id}`, details: { ...towns(staff.municipalityCode) } });
  return categoryRef((await ownCategory(trx, staff.municipalityCode, id))!);
}

/** Renames a category; grants recorded before keep the name they were granted under. */
export async function renameCategory(trx: Knex.Transaction, staff: SignedInStaff, id: number, fields: Partial<CategoryFields>, now: Date): Promise<EventCategoryView> {
  await ownCategory(trx, staff.municipalityCode, id);
  if (!(await repo.updateCategory(trx, id, fields, now))) throw new Problem('event_category_name_taken');
  await appendAudit(trx, { action: 'event_category.renamed', actor: staffActor(staff), subject: `event-category:${id}`, details: { fields: Object.keys(fields).sort(), ...towns(staff.municipalityCode) } });
  return categoryRef((await ownCategory(trx, staff.municipalityCode, id))!);
}

// --- events ----------------------------------------------------------------------------------

/** An event of the staff member's town; another town's is as good as unknown. */
async function ownEvent(conn: Conn, staff: SignedInStaff, id: number, options: { lock?: boolean } = {}): Promise<Event> {
  const event = await repo.event(conn, id, options);
  if (!event || event.municipalityCode !== staff.municipalityCode) throw new Problem('event_not_found');
  return event;
}

async function viewsOf(conn: Conn, events: Event[], now: Date): Promise<EventView[]> {
  if (events.length === 0) return [];
  const devices = await deviceAssignments.devicesOf(conn, 'event', events.map((e) => e.id));
  const categories = await repo.categoriesByIds(conn, [...new Set(events.map((e) => e.categoryId))]);
  const campaigns = new Map((await ledgerRepository.campaignsWithBudget(conn, events[0]!.municipalityCode, now)).map((c) => [c.id, c]));
  return events.map((event) => {
    const campaign = campaigns.get(event.campaignId)!;
    return {
      ...eventNames(event), category: categoryRef(categories.get(event.categoryId)!), startsOn: event.startsOn, endsOn: event.endsOn, points: event.points,
      campaign: { id: campaign.id, slug: campaign.slug, name: campaign.name }, tapPolicy: event.tapPolicy, deviceIds: devices.get(event.id)!,
    };
  });
}

const viewOf = async (conn: Conn, event: Event, now: Date) => (await viewsOf(conn, [event], now))[0]!;

export async function listEvents(db: Db, staff: SignedInStaff, now: Date): Promise<EventView[]> {
  return viewsOf(db, await repo.events(db, staff.municipalityCode), now);
}

export async function eventOf(db: Db, staff: SignedInStaff, id: number, now: Date): Promise<EventView> {
  return viewOf(db, await ownEvent(db, staff, id), now);
}

/**
 * The rules an event's fields keep, checked on the whole event after any change: its category
 * and campaign are the town's, and the campaign runs on every day of the event.
 */
async function checkEvent(conn: Conn, staff: SignedInStaff, fields: EventFields, now: Date): Promise<void> {
  await ownCategory(conn, staff.municipalityCode, fields.categoryId);
  const campaign = await ledgerRepository.campaignWithBudget(conn, staff.municipalityCode, String(fields.campaignId), now);
  if (!campaign) throw new Problem('campaign_not_found');
  if (fields.startsOn < campaign.startsOn || fields.endsOn > campaign.endsOn) {
    throw new Problem('event_campaign_not_running', `the event is ${fields.startsOn} to ${fields.endsOn}; campaign ${campaign.id} runs ${campaign.startsOn} to ${campaign.endsOn}`);
  }
}

const fieldsOf = ({ categoryId, nameJa, nameEn, startsOn, endsOn, points, campaignId, tapPolicy }: Event): EventFields => ({ categoryId, nameJa, nameEn, startsOn, endsOn, points, campaignId, tapPolicy });

const auditDetails = (event: EventFields) => ({ categoryId: event.categoryId, campaignId: event.campaignId, points: event.points, startsOn: event.startsOn, endsOn: event.endsOn, tapPolicy: event.tapPolicy });

export async function createEvent(trx: Knex.Transaction, staff: SignedInStaff, fields: EventFields, now: Date): Promise<EventView> {
  await checkEvent(trx, staff, fields, now);
  const id = await repo.insertEvent(trx, staff.municipalityCode, fields, now);
  await appendAudit(trx, { action: 'event.created', actor: staffActor(staff), subject: `event:${id}`, details: { ...auditDetails(fields), ...towns(staff.municipalityCode) } });
  return viewOf(trx, (await repo.event(trx, id))!, now);
}

/** Changes an event; points already granted stay as granted, later taps get the new points. */
export async function updateEvent(trx: Knex.Transaction, staff: SignedInStaff, id: number, fields: Partial<EventFields>, now: Date): Promise<EventView> {
  const current = await ownEvent(trx, staff, id, { lock: true });
  const next: EventFields = { ...fieldsOf(current), ...fields };
  if (next.startsOn > next.endsOn) throw new Problem('request_invalid', `endsOn ${next.endsOn} is before startsOn ${next.startsOn}`);
  await checkEvent(trx, staff, next, now);
  await repo.updateEvent(trx, id, fields, now);
  await appendAudit(trx, { action: 'event.updated', actor: staffActor(staff), subject: `event:${id}`, details: { fields: Object.keys(fields).sort(), ...auditDetails(next), ...towns(staff.municipalityCode) } });
  return viewOf(trx, (await repo.event(trx, id))!, now);
}

/** The event is served by exactly these active devices of the town; each leaves whatever it served before (a device serves one thing). */
export async function setEventDevices(trx: Knex.Transaction, staff: SignedInStaff, id: number, deviceIds: number[], now: Date): Promise<EventView> {
  const event = await ownEvent(trx, staff, id, { lock: true });
  const unique = [...new Set(deviceIds)].sort((a, b) => a - b);
  const active = await devicesRepository.lockActiveOf(trx, unique, staff.organization);
  // Which one is not said: another town's device must answer as one that never was.
  if (unique.some((deviceId) => !active.has(deviceId))) throw new Problem('device_not_found');
  await deviceAssignments.assign(trx, 'event', id, unique);
  await appendAudit(trx, { action: 'event.devices_set', actor: staffActor(staff), subject: `event:${id}`, details: { deviceIds: unique, ...towns(staff.municipalityCode) } });
  return viewOf(trx, event, now);
}

// --- a tap at the event ----------------------------------------------------------------------

/** The reference of a resident's grant at an event: one per event and MyKey ID, whatever retries. */
const eventGrantReference = (eventId: number, mykeyPk: number) => `event:${eventId}:${mykeyPk}`;

/**
 * A resident taps at an event's device: on the event's day(s), its points from its campaign,
 * once. A second tap answers the first grant. Everything refused is refused before anything is
 * written, and the caller's transaction (the card session's or tap's) rolls back on a problem.
 */
export async function attend(trx: Knex.Transaction, tap: Tap): Promise<EventTapAnswer> {
  const event = await repo.eventOfDevice(trx, tap.device.id);
  if (!event) throw new Problem('device_not_for_event');
  if (tap.card.proof === 'tap' && event.tapPolicy !== 'tap') throw new Problem('card_tap_not_allowed');
  const today = tokyoDate(tap.now);
  if (today < event.startsOn || today > event.endsOn) throw new Problem('event_not_open', `today is ${today}; the event is ${event.startsOn} to ${event.endsOn}`);
  // Locked: a suspension waits for this grant, or this grant sees it.
  const card = await usableCardOf(trx, tap.card.certKey, tap.device.municipalityCode, { lock: true });
  if (!card) throw new Problem('card_not_registered');
  const earlier = await repo.recordOfEvent(trx, event.id, card.mykeyPk);
  if (earlier) return answer(trx, event, card.mykeyId, earlier, true, tap.now);
  const posted = await grantPoints(trx, { reference: eventGrantReference(event.id, card.mykeyPk), campaignId: event.campaignId, mykeyId: card.mykeyId, points: event.points, now: tap.now });
  if (posted.replayed) {
    // A twin tap committed first: its record is there now.
    return answer(trx, event, card.mykeyId, (await repo.recordOfEvent(trx, event.id, card.mykeyPk))!, true, tap.now);
  }
  const category = (await repo.categoriesByIds(trx, [event.categoryId])).get(event.categoryId)!;
  await recordGrant(trx, [{ entryId: posted.entryId, municipalityCode: event.municipalityCode, mykeyPk: card.mykeyPk, points: event.points, postedAt: tap.now, for: { category, event } }]);
  await appendAudit(trx, {
    action: 'points.granted_at_event', actor: { kind: 'device', id: String(tap.device.id) }, subject: card.mykeyId,
    details: { eventId: event.id, campaignId: event.campaignId, entryId: posted.entryId, points: event.points, ...towns(event.municipalityCode) },
  });
  return answer(trx, event, card.mykeyId, (await repo.recordOfEvent(trx, event.id, card.mykeyPk))!, false, tap.now);
}

async function answer(trx: Knex.Transaction, event: Event, mykeyId: string, record: Parameters<typeof recordView>[0], alreadyGranted: boolean, now: Date): Promise<EventTapAnswer> {
  const { balance } = await residentPoints(trx, event.municipalityCode, mykeyId, now);
  return { purpose: 'event_attendance', alreadyGranted, event: eventNames(event), grant: recordView(record), balanceAfter: balance };
}

