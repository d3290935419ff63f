// The device rule (docs/architecture.md#a-device-serves-one-thing-at-a-time): a device serves one thing at a time,
// the last it was given to — a service, an event or a shelter. device_assignments holds it, a
// row per device naming exactly one of them (a CHECK), so giving a device to one thing takes it
// off whatever it served. Every write of the table is here; a feature reads the devices of its
// own things with devicesOf, and the thing a device serves by joining its own table to
// assignedTo.
import type { Knex } from 'knex';
import type { Db } from '../db.ts';

type Conn = Db | Knex.Transaction;

export type Assignee = 'service' | 'event' | 'shelter';

const COLUMN: Readonly<Record<Assignee, string>> = { service: 'service_id', event: 'event_id', shelter: 'shelter_id' };
const NOTHING = { service_id: null, event_id: null, shelter_id: null };

/** The assignments to things of this kind, as `da`, for a join on `da.<kind>_id` (`da.device_id` is the device). */
export function assignedTo(conn: Conn, kind: Assignee): Knex.QueryBuilder {
  return conn('device_assignments as da').whereNotNull(`da.${COLUMN[kind]}`);
}

export const deviceAssignments = {
  /**
   * The thing is served by exactly these devices; a device serving anything else moves here.
   * Rows are deleted and written by their keys only, so no gap is locked and two assignments at
   * once do not deadlock.
   */
  async assign(trx: Knex.Transaction, kind: Assignee, id: number, deviceIds: number[]): Promise<void> {
    const column = COLUMN[kind];
    const current = (await trx('device_assignments').where({ [column]: id }).select('device_id')).map((row: { device_id: number }) => Number(row.device_id));
    const leaving = current.filter((deviceId) => !deviceIds.includes(deviceId));
    if (leaving.length > 0) await trx('device_assignments').whereIn('device_id', leaving).andWhere({ [column]: id }).delete();
    if (deviceIds.length === 0) return;
    await trx('device_assignments').insert(deviceIds.map((deviceId) => ({ device_id: deviceId, ...NOTHING, [column]: id })))
      .onConflict('device_id').merge(Object.keys(NOTHING));
  },

  /** The ids of the devices serving each of these things, in order. */
  async devicesOf(conn: Conn, kind: Assignee, ids: number[]): Promise<Map<number, number[]>> {
    const column = COLUMN[kind];
    const rows = ids.length === 0 ? [] : await conn('device_assignments').whereIn(column, ids).orderBy('device_id').select(`${column} as owner`, 'device_id');
    const byOwner = new Map(ids.map((id) => [id, [] as number[]]));
    for (const row of rows as Array<{ owner: number; device_id: number }>) byOwner.get(Number(row.owner))!.push(Number(row.device_id));
    return byOwner;
  },
};
