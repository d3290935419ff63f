import type { Knex } from 'knex';
import { readByKey, type Db } from '../db.ts';
import type { CardStatus as CertificateStatus, LinkMethod, MykeyStatus } from '@mykey/contracts/mykeys.ts';

export interface CardBinding { mykeyPk: number; mykeyId: string; mykeyStatus: MykeyStatus; homeMunicipalityCode: string; certificateStatus: CertificateStatus }

export interface Suspension { at: Date; reason: string; staffId: number | null; staffName: string | null }

/** `homeMunicipalityCode`: the town whose staff act on the identity as a whole (docs/security/tenancy.md). */
export interface MykeyRecord { pk: number; mykeyId: string; status: MykeyStatus; issuedAt: Date; homeMunicipalityCode: string; suspension: Suspension | null }

/** One town's block of a MyKey ID from its own services. */
export interface TownBlock { at: Date; reason: string; staffId: number; staffName: string | null }

/** A card as staff may see it: how and when it was linked, never anything of its certificate. */
export interface CardRecord { status: CertificateStatus; linkMethod: LinkMethod; linkedAt: Date; endedAt: Date | null }

type Conn = Db | Knex.Transaction;

interface BindingRow { cert_key: Buffer; id: number; mykey_id: string; mykey_status: MykeyStatus; home_municipality_code: string; certificate_status: CertificateStatus }

const BINDING_COLUMNS = ['c.cert_key', 'm.id', 'm.mykey_id', 'm.status as mykey_status', 'm.home_municipality_code', 'c.status as certificate_status'];

const toBinding = (row: BindingRow): CardBinding => ({
  mykeyPk: Number(row.id), mykeyId: row.mykey_id, mykeyStatus: row.mykey_status, homeMunicipalityCode: row.home_municipality_code, certificateStatus: row.certificate_status,
});

const bindings = (conn: Conn) => conn('mykey_certificates as c').join('mykeys as m', 'm.id', 'c.mykey_pk');

/** A card in a town: whether the town blocked its MyKey ID goes with its binding. */
interface TownKey { certKey: Buffer; town: string }
const townKey = ({ certKey, town }: TownKey) => `${certKey.toString('hex')}:${town}`;

/** The bindings of these cards, each with whether its town blocked the MyKey ID, by townKey. */
async function bindingsInTowns(conn: Conn, keys: readonly TownKey[], { lock = false } = {}): Promise<Map<string, CardBinding & { blockedHere: boolean }>> {
  const towns = [...new Set(keys.map((key) => key.town))];
  const blocked = conn.raw(`(SELECT GROUP_CONCAT(b.municipality_code) FROM mykey_town_blocks AS b WHERE b.mykey_pk = m.id AND b.municipality_code IN (${towns.map(() => '?').join(', ')})) AS blocked_towns`, towns);
  const query = bindings(conn).whereIn('c.cert_key', keys.map((key) => key.certKey));
  const rows: Array<BindingRow & { blocked_towns: string | null }> = await (lock ? query.forUpdate() : query).select([...BINDING_COLUMNS, blocked]);
  const byCard = new Map(rows.map((row) => [Buffer.from(row.cert_key).toString('hex'), row]));
  const found = new Map<string, CardBinding & { blockedHere: boolean }>();
  for (const key of keys) {
    const row = byCard.get(key.certKey.toString('hex'));
    if (row) found.set(townKey(key), { ...toBinding(row), blockedHere: (row.blocked_towns ?? '').split(',').includes(key.town) });
  }
  return found;
}

const bindingInTown = readByKey((conn, keys: readonly TownKey[]) => bindingsInTowns(conn, keys), townKey);

/** Every SQL statement about MyKey IDs and the cards linked to them. */
export const mykeyRepository = {
  /**
   * The bindings of these cards, by the hex of their key; cards never seen are absent. `lock`
   * holds the cards' and their MyKey IDs' rows until the transaction ends.
   */
  async bindingsOf(conn: Conn, certKeys: Buffer[], { lock = false } = {}): Promise<Map<string, CardBinding>> {
    if (certKeys.length === 0) return new Map();
    const query = bindings(conn).whereIn('c.cert_key', certKeys);
    const rows: BindingRow[] = await (lock ? query.forUpdate() : query).select(BINDING_COLUMNS);
    return new Map(rows.map((row) => [Buffer.from(row.cert_key).toString('hex'), toBinding(row)]));
  },

  /**
   * A card's binding and whether `municipalityCode` has blocked its MyKey ID from its services,
   * in one read (a tap's or a payment's path counts its statements); reads at the same moment
   * are one statement (db.ts). `lock` holds the card's and its MyKey ID's rows until the
   * transaction ends; not the block's, which a locking read does not lock in a subquery.
   */
  async bindingIn(conn: Conn, certKey: Buffer, municipalityCode: string, { lock = false } = {}): Promise<(CardBinding & { blockedHere: boolean }) | undefined> {
    const key = { certKey, town: municipalityCode };
    return lock ? (await bindingsInTowns(conn, [key], { lock })).get(townKey(key)) : bindingInTown(conn, key);
  },

  /**
   * The primary key and status of each of these MyKey IDs that exists. `lock` share-locks them
   * until the transaction ends, so a suspension cannot commit between the caller's check and its use.
   */
  async statuses(conn: Conn, mykeyIds: string[], { lock = false } = {}): Promise<Map<string, { pk: number; status: MykeyStatus }>> {
    if (mykeyIds.length === 0) return new Map();
    const query = conn('mykeys').whereIn('mykey_id', [...new Set(mykeyIds)]);
    const rows = await (lock ? query.forShare() : query).select('id', 'mykey_id', 'status');
    return new Map(rows.map((row) => [row.mykey_id as string, { pk: Number(row.id), status: row.status }]));
  },

  /** The MyKey ID and status of each of these primary keys. */
  async byPks(conn: Conn, mykeyPks: number[]): Promise<Map<number, { mykeyId: string; status: MykeyStatus }>> {
    const rows = await conn('mykeys').whereIn('id', [...new Set(mykeyPks)]).select('id', 'mykey_id', 'status');
    return new Map(rows.map((row) => [Number(row.id), { mykeyId: row.mykey_id as string, status: row.status }]));
  },

  /** The MyKey ID of this primary key and its home town. */
  async home(conn: Conn, mykeyPk: number): Promise<{ mykeyId: string; homeMunicipalityCode: string }> {
    const row = await conn('mykeys').where({ id: mykeyPk }).first('mykey_id', 'home_municipality_code');
    return { mykeyId: row.mykey_id, homeMunicipalityCode: row.home_municipality_code };
  },

  /** Inserts a MyKey ID with its home town; undefined if another card already holds that ID. */
  async insertMykey(trx: Knex.Transaction, mykeyId: string, homeMunicipalityCode: string, issuedAt: Date): Promise<number | undefined> {
    try {
      const [id] = await trx('mykeys').insert({ mykey_id: mykeyId, home_municipality_code: homeMunicipalityCode, created_at: issuedAt });
      return Number(id);
    } catch (error) {
      if ((error as { code?: string }).code === 'ER_DUP_ENTRY') return undefined;
      throw error;
    }
  },

  /** A MyKey ID with its suspension; `lock` holds its row until the transaction ends. */
  async findMykey(conn: Conn, mykeyId: string, { lock = false } = {}): Promise<MykeyRecord | undefined> {
    const query = conn('mykeys as m').leftJoin('staff_accounts as s', 's.id', 'm.suspended_by_staff_id').where('m.mykey_id', mykeyId);
    const row = await (lock ? query.forUpdate() : query).first(
      'm.id', 'm.mykey_id', 'm.status', 'm.created_at', 'm.home_municipality_code', 'm.suspended_at', 'm.suspension_reason', 'm.suspended_by_staff_id', 's.display_name');
    if (!row) return undefined;
    return {
      pk: Number(row.id), mykeyId: row.mykey_id, status: row.status, issuedAt: row.created_at, homeMunicipalityCode: row.home_municipality_code,
      suspension: row.status === 'suspended'
        ? { at: row.suspended_at, reason: row.suspension_reason, staffId: row.suspended_by_staff_id === null ? null : Number(row.suspended_by_staff_id), staffName: row.display_name ?? null }
        : null,
    };
  },

  async linkCertificate(trx: Knex.Transaction, certKey: Buffer, mykeyPk: number, method: LinkMethod, linkedAt?: Date): Promise<void> {
    await trx('mykey_certificates').insert({ cert_key: certKey, mykey_pk: mykeyPk, link_method: method, ...(linkedAt && { linked_at: linkedAt }) });
  },

  /** Ends the cards a MyKey ID logs in with, because a newer card takes their place. */
  async replaceActiveCertificates(trx: Knex.Transaction, mykeyPk: number, endedAt: Date): Promise<void> {
    await trx('mykey_certificates').where({ mykey_pk: mykeyPk, status: 'active' }).update({ status: 'replaced', ended_at: endedAt });
  },

  async markRevoked(trx: Knex.Transaction, certKey: Buffer, endedAt: Date): Promise<void> {
    await trx('mykey_certificates').where({ cert_key: certKey, status: 'active' }).update({ status: 'revoked', ended_at: endedAt });
  },

  async certificatesOf(conn: Conn, mykeyPk: number): Promise<CardRecord[]> {
    const rows = await conn('mykey_certificates').where({ mykey_pk: mykeyPk }).orderBy('linked_at')
      .select('status', 'link_method', 'linked_at', 'ended_at');
    return rows.map((row) => ({ status: row.status, linkMethod: row.link_method, linkedAt: row.linked_at, endedAt: row.ended_at }));
  },

  async suspend(trx: Knex.Transaction, mykeyPk: number, staffId: number, reason: string, at: Date): Promise<void> {
    await trx('mykeys').where({ id: mykeyPk }).update({ status: 'suspended', suspended_at: at, suspended_by_staff_id: staffId, suspension_reason: reason });
  },

  /** The suspension's record stays in the audit log; the row keeps only what holds now. */
  async reinstate(trx: Knex.Transaction, mykeyPk: number): Promise<void> {
    await trx('mykeys').where({ id: mykeyPk }).update({ status: 'active', suspended_at: null, suspended_by_staff_id: null, suspension_reason: null });
  },

  async moveHome(trx: Knex.Transaction, mykeyPk: number, municipalityCode: string): Promise<void> {
    await trx('mykeys').where({ id: mykeyPk }).update({ home_municipality_code: municipalityCode });
  },

  /** The town's block of a MyKey ID, if it has one; `lock` holds it (or the gap where it would be) until the transaction ends. */
  async townBlock(conn: Conn, mykeyPk: number, municipalityCode: string, { lock = false } = {}): Promise<TownBlock | undefined> {
    const query = conn('mykey_town_blocks as b').leftJoin('staff_accounts as s', 's.id', 'b.blocked_by_staff_id')
      .where({ 'b.mykey_pk': mykeyPk, 'b.municipality_code': municipalityCode });
    const row = await (lock ? query.forUpdate() : query).first('b.blocked_at', 'b.reason', 'b.blocked_by_staff_id', 's.display_name');
    return row && { at: row.blocked_at, reason: row.reason, staffId: Number(row.blocked_by_staff_id), staffName: row.display_name ?? null };
  },

  /** Which of these MyKey IDs the town has blocked from its services. */
  async blockedIn(conn: Conn, municipalityCode: string, mykeyIds: string[]): Promise<Set<string>> {
    if (mykeyIds.length === 0) return new Set();
    const rows = await conn('mykey_town_blocks as b').join('mykeys as m', 'm.id', 'b.mykey_pk')
      .where('b.municipality_code', municipalityCode).whereIn('m.mykey_id', [...new Set(mykeyIds)]).pluck('m.mykey_id');
    return new Set(rows);
  },

  async insertTownBlock(trx: Knex.Transaction, mykeyPk: number, municipalityCode: string, staffId: number, reason: string, at: Date): Promise<void> {
    await trx('mykey_town_blocks').insert({ mykey_pk: mykeyPk, municipality_code: municipalityCode, blocked_by_staff_id: staffId, reason, blocked_at: at });
  },

  /** The block's record stays in the audit log, as a suspension's does. */
  async deleteTownBlock(trx: Knex.Transaction, mykeyPk: number, municipalityCode: string): Promise<void> {
    await trx('mykey_town_blocks').where({ mykey_pk: mykeyPk, municipality_code: municipalityCode }).delete();
  },
};
