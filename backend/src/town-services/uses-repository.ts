import type { Knex } from 'knex';
import type { Db } from '../db.ts';

type Conn = Db | Knex.Transaction;

export interface Use { serviceId: number; deviceId: number; membershipId: number; at: Date }
export interface OldUse { id: number; serviceId: number; usedAt: Date }
export interface HourCount { serviceId: number; hour: Date; uses: number }

/**
 * An instant as MySQL's DATE_FORMAT writes it in the connection's time zone, read as the driver
 * reads every timestamp (db.ts: UTC).
 */
const instantOf = (text: string) => new Date(`${text.replace(' ', 'T')}Z`);
const hourOf = (column: string) => `DATE_FORMAT(${column}, '%Y-%m-%d %H:00:00')`;

/**
 * Every SQL statement about the uses of town services: each use as it happened (service_uses),
 * kept for the retention period, and the hourly counts (service_use_counts) the uses past it are
 * folded into (docs/services-figures.md).
 */
export const serviceUsesRepository = {
  /** Uses at devices. Counted into service_use_counts only when the records are purged: a tap writes one row and contends for none. */
  async recordUses(trx: Knex.Transaction, uses: Use[]): Promise<void> {
    await trx('service_uses').insert(uses.map((use) => ({ service_id: use.serviceId, device_id: use.deviceId, membership_id: use.membershipId, used_at: use.at })));
  },

  /**
   * The oldest uses recorded before `before`, at most `limit`, locked until the transaction ends.
   * Uses another transaction holds are skipped, not waited for: two workers fold different uses.
   */
  async lockOldUses(trx: Knex.Transaction, before: Date, limit: number): Promise<OldUse[]> {
    const rows = await trx('service_uses').where('used_at', '<', before).orderBy([{ column: 'used_at' }, { column: 'id' }]).limit(limit)
      .forUpdate().skipLocked().select('id', 'service_id', 'used_at');
    return rows.map((row: { id: number; service_id: number; used_at: Date }) => ({ id: Number(row.id), serviceId: Number(row.service_id), usedAt: row.used_at }));
  },

  /** Adds to the hourly counts (a count not there yet starts at these uses). In key order, so two adders meet in the same order. */
  async addCounts(trx: Knex.Transaction, counts: HourCount[]): Promise<void> {
    if (counts.length === 0) return;
    const sorted = [...counts].sort((a, b) => a.serviceId - b.serviceId || a.hour.getTime() - b.hour.getTime());
    await trx('service_use_counts').insert(sorted.map((c) => ({ service_id: c.serviceId, hour: c.hour, uses: c.uses })))
      .onConflict(['service_id', 'hour']).merge({ uses: trx.raw('service_use_counts.uses + VALUES(uses)') });
  },

  async deleteUses(trx: Knex.Transaction, ids: number[]): Promise<void> {
    if (ids.length > 0) await trx('service_uses').whereIn('id', ids).delete();
  },

  /**
   * The uses of these services per hour in [startsAt, endsBefore): the kept counts and the uses
   * still recorded one by one, added up in one statement, so a purge running meanwhile neither
   * hides a use nor shows it twice. Hours without a use are left out.
   */
  async usesPerHour(conn: Conn, serviceIds: number[], startsAt: Date, endsBefore: Date): Promise<HourCount[]> {
    if (serviceIds.length === 0) return [];
    const counts = conn('service_use_counts').whereIn('service_id', serviceIds).andWhere('hour', '>=', startsAt).andWhere('hour', '<', endsBefore)
      .select('service_id', conn.raw(`${hourOf('hour')} AS hour`), 'uses');
    const uses = conn('service_uses').whereIn('service_id', serviceIds).andWhere('used_at', '>=', startsAt).andWhere('used_at', '<', endsBefore)
      .select('service_id', conn.raw(`${hourOf('used_at')} AS hour`), conn.raw('COUNT(*) AS uses')).groupBy('service_id', 'hour');
    const rows = await conn.select('service_id', 'hour').sum({ uses: 'uses' }).from(conn.raw('(? UNION ALL ?) AS u', [counts, uses]))
      .groupBy('service_id', 'hour').orderBy(['service_id', 'hour']);
    return rows.map((row: { service_id: number; hour: string; uses: string | number }) => ({ serviceId: Number(row.service_id), hour: instantOf(row.hour), uses: Number(row.uses) }));
  },
};
