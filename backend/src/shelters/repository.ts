import type { Knex } from 'knex';
import type { Db } from '../db.ts';
import { assignedTo } from '../devices/assignments.ts';

type Conn = Db | Knex.Transaction;

export interface ShelterFields { nameJa: string; nameEn: string; place: string; capacity: number; drill: boolean }
export interface Shelter extends ShelterFields { id: number; municipalityCode: string; openedAt: Date; closedAt: Date | null }
export interface Stay { id: number; shelterId: number; mykeyPk: number; inAt: Date; inDeviceId: number }
export type OutBy = 'tap' | 'move' | 'close';

interface ShelterRow { id: number; municipality_code: string; name_ja: string; name_en: string; place: string; capacity: number; drill: number | boolean; opened_at: Date; closed_at: Date | null }
const SHELTER_COLUMNS = ['sh.id', 'sh.municipality_code', 'sh.name_ja', 'sh.name_en', 'sh.place', 'sh.capacity', 'sh.drill', 'sh.opened_at', 'sh.closed_at'];
const toShelter = (row: ShelterRow): Shelter => ({
  id: Number(row.id), municipalityCode: row.municipality_code, nameJa: row.name_ja, nameEn: row.name_en, place: row.place,
  capacity: Number(row.capacity), drill: Boolean(row.drill), openedAt: row.opened_at, closedAt: row.closed_at ?? null,
});
const shelterColumns = (fields: Partial<ShelterFields>) => ({
  ...(fields.nameJa !== undefined && { name_ja: fields.nameJa }), ...(fields.nameEn !== undefined && { name_en: fields.nameEn }),
  ...(fields.place !== undefined && { place: fields.place }), ...(fields.capacity !== undefined && { capacity: fields.capacity }),
  ...(fields.drill !== undefined && { drill: fields.drill }),
});

interface StayRow { id: number; shelter_id: number; mykey_pk: number; in_at: Date; in_device_id: number }
const STAY_COLUMNS = ['st.id', 'st.shelter_id', 'st.mykey_pk', 'st.in_at', 'st.in_device_id'];
const toStay = (row: StayRow): Stay => ({ id: Number(row.id), shelterId: Number(row.shelter_id), mykeyPk: Number(row.mykey_pk), inAt: row.in_at, inDeviceId: Number(row.in_device_id) });

/** Every SQL statement about shelters, the devices serving them and the stays taps record. */
export const sheltersRepository = {
  /** The town's shelters, the open ones (newest first) before the closed ones. */
  async list(conn: Conn, municipalityCode: string, { openOnly = false } = {}): Promise<Shelter[]> {
    const query = conn('shelters as sh').where({ 'sh.municipality_code': municipalityCode });
    if (openOnly) query.whereNull('sh.closed_at');
    const rows = await query.orderByRaw('sh.closed_at IS NOT NULL, sh.id DESC').select(SHELTER_COLUMNS);
    return (rows as ShelterRow[]).map(toShelter);
  },

  /** lock: for a change of the shelter. */
  async shelter(conn: Conn, id: number, { lock = false } = {}): Promise<Shelter | undefined> {
    const query = conn('shelters as sh').where({ 'sh.id': id });
    if (lock) query.forUpdate();
    const row = await query.first(SHELTER_COLUMNS);
    return row && toShelter(row as ShelterRow);
  },

  async insert(trx: Knex.Transaction, municipalityCode: string, fields: ShelterFields, now: Date): Promise<number> {
    const [id] = await trx('shelters').insert({ municipality_code: municipalityCode, ...shelterColumns(fields), opened_at: now, updated_at: now });
    return id!;
  },

  async update(trx: Knex.Transaction, id: number, fields: Partial<ShelterFields>, now: Date): Promise<void> {
    await trx('shelters').where({ id }).update({ ...shelterColumns(fields), updated_at: now });
  },

  async close(trx: Knex.Transaction, id: number, now: Date): Promise<void> {
    await trx('shelters').where({ id }).update({ closed_at: now, updated_at: now });
  },

  /** The shelter this device serves, if any, locked in share mode: its closing waits for the tap's transaction. */
  async shelterOfDevice(trx: Knex.Transaction, deviceId: number): Promise<Shelter | undefined> {
    const row = await assignedTo(trx, 'shelter').join('shelters as sh', 'sh.id', 'da.shelter_id').where({ 'da.device_id': deviceId }).forShare().first(SHELTER_COLUMNS);
    return row && toShelter(row as ShelterRow);
  },

  /** The resident's open stay, wherever it is, locked until the transaction ends. */
  async openStayOf(trx: Knex.Transaction, mykeyPk: number): Promise<Stay | undefined> {
    const row = await trx('shelter_stays as st').where({ 'st.inside_mykey_pk': mykeyPk }).forUpdate().first(STAY_COLUMNS);
    return row && toStay(row as StayRow);
  },

  async checkIn(trx: Knex.Transaction, row: { shelterId: number; mykeyPk: number; at: Date; deviceId: number }): Promise<void> {
    await trx('shelter_stays').insert({ shelter_id: row.shelterId, mykey_pk: row.mykeyPk, in_at: row.at, in_device_id: row.deviceId });
  },

  async checkOut(trx: Knex.Transaction, stayId: number, at: Date, by: OutBy, deviceId: number | null): Promise<void> {
    await trx('shelter_stays').where({ id: stayId }).whereNull('out_at').update({ out_at: at, out_by: by, out_device_id: deviceId });
  },

  /** Everyone inside the shelter is out at its closing. */
  async checkOutAll(trx: Knex.Transaction, shelterId: number, at: Date): Promise<number> {
    return trx('shelter_stays').where({ shelter_id: shelterId }).whereNull('out_at').update({ out_at: at, out_by: 'close' });
  },

  /** Who is inside, earliest first: their MyKey ID, since when, at which device. */
  async inside(conn: Conn, shelterId: number): Promise<Array<{ mykeyId: string; since: Date; deviceId: number }>> {
    const rows = await conn('shelter_stays as st').join('mykeys as m', 'm.id', 'st.mykey_pk').where({ 'st.shelter_id': shelterId }).whereNull('st.out_at')
      .orderBy([{ column: 'st.in_at' }, { column: 'st.id' }]).select('m.mykey_id', 'st.in_at', 'st.in_device_id');
    return rows.map((row: { mykey_id: string; in_at: Date; in_device_id: number }) => ({ mykeyId: row.mykey_id, since: row.in_at, deviceId: Number(row.in_device_id) }));
  },

  /** Where each of these residents is inside now, with the shelter (for family who consented: family/). */
  async insideOf(conn: Conn, mykeyPks: number[]): Promise<Array<{ mykeyPk: number; since: Date; shelter: Shelter }>> {
    const rows = mykeyPks.length === 0 ? [] : await conn('shelter_stays as st').join('shelters as sh', 'sh.id', 'st.shelter_id').whereIn('st.inside_mykey_pk', mykeyPks)
      .select('st.mykey_pk', 'st.in_at', ...SHELTER_COLUMNS);
    return (rows as Array<ShelterRow & { mykey_pk: number; in_at: Date }>).map((row) => ({ mykeyPk: Number(row.mykey_pk), since: row.in_at, shelter: toShelter(row) }));
  },

  /** How many are inside each of these shelters, and their latest check-in or check-out. */
  async counts(conn: Conn, shelterIds: number[]): Promise<Map<number, { inside: number; lastChangeAt: Date }>> {
    const rows = shelterIds.length === 0 ? [] : await conn('shelter_stays').whereIn('shelter_id', shelterIds).groupBy('shelter_id')
      .select('shelter_id', conn.raw('SUM(out_at IS NULL) AS inside')).max({ last_in: 'in_at', last_out: 'out_at' });
    return new Map((rows as Array<{ shelter_id: number; inside: string | number; last_in: Date; last_out: Date | null }>).map((row) =>
      [Number(row.shelter_id), { inside: Number(row.inside), lastChangeAt: row.last_out && row.last_out > row.last_in ? row.last_out : row.last_in }]));
  },

  /**
   * The stays of shelters closed before `before`, at most `limit`, deleted; how many. Deleted by
   * their ids, found through the shelters' closing index, so two workers at once delete each row once.
   */
  async deleteStaysClosedBefore(trx: Knex.Transaction, before: Date, limit: number): Promise<number> {
    const ids = (await trx('shelter_stays as st').join('shelters as sh', 'sh.id', 'st.shelter_id').where('sh.closed_at', '<', before)
      .orderBy('st.id').limit(limit).forUpdate().skipLocked().select('st.id')).map((row: { id: number }) => Number(row.id));
    if (ids.length > 0) await trx('shelter_stays').whereIn('id', ids).delete();
    return ids.length;
  },
};
