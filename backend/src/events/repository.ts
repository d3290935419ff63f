// Every SQL statement of event_categories, events and grant_records (what each grant was for).
// Which devices serve an event is devices/assignments.ts's (a device serves one thing at a time).
import type { Knex } from 'knex';
import type { Db } from '../db.ts';
import { assignedTo } from '../devices/assignments.ts';
import type { TapPolicy } from '@mykey/contracts/services.ts';

type Conn = Db | Knex.Transaction;

export interface Category { id: number; municipalityCode: string; nameJa: string; nameEn: string }
export interface CategoryFields { nameJa: string; nameEn: string }

export interface Event {
  id: number; municipalityCode: string; categoryId: number; nameJa: string; nameEn: string;
  startsOn: string; endsOn: string; points: number; campaignId: number; tapPolicy: TapPolicy;
}
export type EventFields = Omit<Event, 'id' | 'municipalityCode'>;

const toCategory = (row: Record<string, any>): Category => ({ id: Number(row.id), municipalityCode: row.municipality_code, nameJa: row.name_ja, nameEn: row.name_en });

// Dates as the text they are (YYYY-MM-DD), not as instants of the server's time zone.
const EVENT_COLUMNS = (conn: Conn) => ['e.id', 'e.municipality_code', 'e.category_id', 'e.name_ja', 'e.name_en', 'e.points', 'e.campaign_id', 'e.tap_policy',
  conn.raw("DATE_FORMAT(e.starts_on, '%Y-%m-%d') AS starts_on"), conn.raw("DATE_FORMAT(e.ends_on, '%Y-%m-%d') AS ends_on")];
const toEvent = (row: Record<string, any>): Event => ({
  id: Number(row.id), municipalityCode: row.municipality_code, categoryId: Number(row.category_id), nameJa: row.name_ja, nameEn: row.name_en,
  startsOn: row.starts_on, endsOn: row.ends_on, points: Number(row.points), campaignId: Number(row.campaign_id), tapPolicy: row.tap_policy,
});
const eventColumns = (f: Partial<EventFields>) => ({
  ...(f.categoryId !== undefined && { category_id: f.categoryId }), ...(f.nameJa !== undefined && { name_ja: f.nameJa }), ...(f.nameEn !== undefined && { name_en: f.nameEn }),
  ...(f.startsOn !== undefined && { starts_on: f.startsOn }), ...(f.endsOn !== undefined && { ends_on: f.endsOn }), ...(f.points !== undefined && { points: f.points }),
  ...(f.campaignId !== undefined && { campaign_id: f.campaignId }), ...(f.tapPolicy !== undefined && { tap_policy: f.tapPolicy }),
});

/** What a grant was for, beside its ledger entry: every grant has one (docs/events.md). */
export interface GrantRecord {
  entryId: number; municipalityCode: string; mykeyPk: number; points: number;
  categoryId: number | null; eventId: number | null; labelJa: string | null; labelEn: string | null; postedAt: Date;
}

const toRecord = (row: Record<string, any>): GrantRecord => ({
  entryId: Number(row.entry_id), municipalityCode: row.municipality_code, mykeyPk: Number(row.mykey_pk), points: Number(row.points),
  categoryId: row.category_id === null ? null : Number(row.category_id), eventId: row.event_id === null ? null : Number(row.event_id),
  labelJa: row.label_ja, labelEn: row.label_en, postedAt: row.posted_at,
});

export interface GrantSum { categoryId: number | null; eventId: number | null; grants: number; points: number }

const duplicate = (error: unknown) => (error as { code?: string }).code === 'ER_DUP_ENTRY';

export const eventsRepository = {
  async categories(conn: Conn, municipalityCode: string): Promise<Category[]> {
    return (await conn('event_categories').where({ municipality_code: municipalityCode }).orderBy('id')).map(toCategory);
  },

  /** The category of this town with this id, or (given `name`) this Japanese name. */
  async category(conn: Conn, municipalityCode: string, key: { id: number } | { nameJa: string }): Promise<Category | undefined> {
    const row = await conn('event_categories').where({ municipality_code: municipalityCode, ...('id' in key ? { id: key.id } : { name_ja: key.nameJa }) }).first();
    return row && toCategory(row);
  },

  async categoriesByIds(conn: Conn, ids: number[]): Promise<Map<number, Category>> {
    const rows = ids.length === 0 ? [] : await conn('event_categories').whereIn('id', ids);
    return new Map(rows.map((row: Record<string, any>) => [Number(row.id), toCategory(row)]));
  },

  /** The new category's id, or undefined when the town has one of this Japanese name. */
  async insertCategory(trx: Knex.Transaction, municipalityCode: string, fields: CategoryFields, now: Date): Promise<number | undefined> {
    try {
      const [id] = await trx('event_categories').insert({ municipality_code: municipalityCode, name_ja: fields.nameJa, name_en: fields.nameEn, created_at: now, updated_at: now });
      return Number(id);
    } catch (error) {
      if (duplicate(error)) return undefined;
      throw error;
    }
  },

  /** False when the town has another category of the new Japanese name. */
  async updateCategory(trx: Knex.Transaction, id: number, fields: Partial<CategoryFields>, now: Date): Promise<boolean> {
    try {
      await trx('event_categories').where({ id }).update({ ...(fields.nameJa && { name_ja: fields.nameJa }), ...(fields.nameEn && { name_en: fields.nameEn }), updated_at: now });
      return true;
    } catch (error) {
      if (duplicate(error)) return false;
      throw error;
    }
  },

  async events(conn: Conn, municipalityCode: string): Promise<Event[]> {
    return (await conn('events as e').where({ 'e.municipality_code': municipalityCode }).orderBy([{ column: 'e.starts_on', order: 'desc' }, { column: 'e.id', order: 'desc' }]).select(EVENT_COLUMNS(conn))).map(toEvent);
  },

  async event(conn: Conn, id: number, { lock = false } = {}): Promise<Event | undefined> {
    const query = conn('events as e').where({ 'e.id': id });
    const row = await (lock ? query.forUpdate() : query).first(EVENT_COLUMNS(conn));
    return row && toEvent(row);
  },

  async eventsByIds(conn: Conn, ids: number[]): Promise<Map<number, Event>> {
    const rows = ids.length === 0 ? [] : await conn('events as e').whereIn('e.id', ids).select(EVENT_COLUMNS(conn));
    return new Map(rows.map((row: Record<string, any>) => [Number(row.id), toEvent(row)]));
  },

  /** The town's events held on some day of from..to (Japan dates). */
  async eventsHeldIn(conn: Conn, municipalityCode: string, from: string, to: string): Promise<Event[]> {
    return (await conn('events as e').where({ 'e.municipality_code': municipalityCode }).andWhere('e.starts_on', '<=', to).andWhere('e.ends_on', '>=', from).select(EVENT_COLUMNS(conn))).map(toEvent);
  },

  async insertEvent(trx: Knex.Transaction, municipalityCode: string, fields: EventFields, now: Date): Promise<number> {
    const [id] = await trx('events').insert({ municipality_code: municipalityCode, ...eventColumns(fields), created_at: now, updated_at: now });
    return Number(id);
  },

  async updateEvent(trx: Knex.Transaction, id: number, fields: Partial<EventFields>, now: Date): Promise<void> {
    await trx('events').where({ id }).update({ ...eventColumns(fields), updated_at: now });
  },

  /** The event a device serves, if it serves one. */
  async eventOfDevice(conn: Conn, deviceId: number): Promise<Event | undefined> {
    const row = await assignedTo(conn, 'event').join('events as e', 'e.id', 'da.event_id').where({ 'da.device_id': deviceId }).first(EVENT_COLUMNS(conn));
    return row && toEvent(row);
  },

  async insertRecords(trx: Knex.Transaction, records: GrantRecord[]): Promise<void> {
    if (records.length === 0) return;
    await trx('grant_records').insert(records.map((r) => ({
      entry_id: r.entryId, municipality_code: r.municipalityCode, mykey_pk: r.mykeyPk, points: r.points,
      category_id: r.categoryId, event_id: r.eventId, label_ja: r.labelJa, label_en: r.labelEn, posted_at: r.postedAt,
    })));
  },

  /** The resident's grant at this event, if they were granted there. */
  async recordOfEvent(conn: Conn, eventId: number, mykeyPk: number): Promise<GrantRecord | undefined> {
    const row = await conn('grant_records').where({ event_id: eventId, mykey_pk: mykeyPk }).first();
    return row && toRecord(row);
  },

  async recordsOf(conn: Conn, entryIds: number[]): Promise<Map<number, GrantRecord>> {
    const rows = entryIds.length === 0 ? [] : await conn('grant_records').whereIn('entry_id', entryIds);
    return new Map(rows.map((row: Record<string, any>) => [Number(row.entry_id), toRecord(row)]));
  },

  /** The resident's grants in this town, newest first. */
  async historyOf(conn: Conn, municipalityCode: string, mykeyPk: number, limit: number): Promise<GrantRecord[]> {
    const rows = await conn('grant_records').where({ municipality_code: municipalityCode, mykey_pk: mykeyPk })
      .orderBy([{ column: 'posted_at', order: 'desc' }, { column: 'entry_id', order: 'desc' }]).limit(limit);
    return rows.map(toRecord);
  },

  /** The town's grants posted in [startsAt, endsBefore), counted and summed per category and event. */
  async sums(conn: Conn, municipalityCode: string, startsAt: Date, endsBefore: Date): Promise<GrantSum[]> {
    const rows = await conn('grant_records').where({ municipality_code: municipalityCode }).andWhere('posted_at', '>=', startsAt).andWhere('posted_at', '<', endsBefore)
      .groupBy('category_id', 'event_id').select('category_id', 'event_id').count({ grants: '*' }).sum({ points: 'points' });
    return rows.map((row: Record<string, any>) => ({
      categoryId: row.category_id === null ? null : Number(row.category_id), eventId: row.event_id === null ? null : Number(row.event_id),
      grants: Number(row.grants), points: Number(row.points),
    }));
  },
};
