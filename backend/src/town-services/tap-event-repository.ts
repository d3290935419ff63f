// Every SQL statement of service_webhook_events: the outbox of tap events waiting for a
// service's own system to take them (tap-events.ts). A row is deleted once delivered.
import type { Knex } from 'knex';
import type { Db } from '../db.ts';

type Conn = Db | Knex.Transaction;

const ERROR_MAX = 500;

/** A claimed event, with what signing and sending it needs. */
export interface DueTapEvent { id: number; serviceId: number; body: string; attempts: number; webhookUrl: string | null; secretSealed: Buffer | null }

/** An event to store, due at once. */
export interface TapEventRow { eventId: string; serviceId: number; body: string; at: Date }

export const tapEventRepository = {
  /** Events due at once. */
  async insert(trx: Knex.Transaction, events: TapEventRow[]): Promise<void> {
    await trx('service_webhook_events').insert(events.map((event) => ({ event_id: event.eventId, service_id: event.serviceId, body: event.body, next_at: event.at, created_at: event.at })));
  },

  /** Services with events due at `now` (a plain read: claiming decides). */
  async servicesDue(conn: Conn, now: Date, limit: number): Promise<number[]> {
    const rows = await conn('service_webhook_events').where('next_at', '<=', now).distinct('service_id').limit(limit);
    return rows.map((row: { service_id: number }) => Number(row.service_id));
  },

  /**
   * Claims up to `limit` of a service's due events, oldest first: rows no one else holds are
   * leased until `leaseUntil` (their next attempt moves there), so no other worker sends them meanwhile.
   */
  async claim(trx: Knex.Transaction, serviceId: number, now: Date, limit: number, leaseUntil: Date): Promise<DueTapEvent[]> {
    const rows = await trx('service_webhook_events').where({ service_id: serviceId }).andWhere('next_at', '<=', now)
      .orderBy('next_at').orderBy('id').limit(limit).forUpdate().skipLocked().select('id');
    const ids = rows.map((row: { id: number }) => Number(row.id));
    if (ids.length === 0) return [];
    await trx('service_webhook_events').whereIn('id', ids).update({ next_at: leaseUntil });
    const due = await trx('service_webhook_events as e').join('services as s', 's.id', 'e.service_id').whereIn('e.id', ids).orderBy('e.id')
      .select('e.id', 'e.service_id', 'e.body', 'e.attempts', 's.webhook_url', 's.api_secret_sealed');
    return due.map((row) => ({
      id: Number(row.id), serviceId: Number(row.service_id), body: row.body, attempts: Number(row.attempts),
      webhookUrl: row.webhook_url ?? null, secretSealed: row.api_secret_sealed ? Buffer.from(row.api_secret_sealed) : null,
    }));
  },

  async delivered(conn: Conn, id: number): Promise<void> {
    await conn('service_webhook_events').where({ id }).delete();
  },

  async failed(conn: Conn, id: number, error: string, nextAt: Date): Promise<void> {
    await conn('service_webhook_events').where({ id }).update({ next_at: nextAt, last_error: error.slice(0, ERROR_MAX), attempts: conn.raw('attempts + 1') });
  },

  /** Drops a service's undelivered events (its webhook was removed: they have nowhere to go). */
  async dropPending(trx: Knex.Transaction, serviceId: number): Promise<number> {
    return trx('service_webhook_events').where({ service_id: serviceId }).delete();
  },
};
