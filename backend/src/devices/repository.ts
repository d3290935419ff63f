import type { Knex } from 'knex';
import { readByKey, type Db } from '../db.ts';
import type { Device, DeviceStatus } from '@mykey/contracts/device.ts';
import type { ShopStatus } from '@mykey/contracts/shops.ts';
import { withOrganizationNames } from '../organizations/repository.ts';
import { organizationColumns, organizationOf, type OrganizationColumns, type OrganizationRef } from '../staff/organization.ts';

/** The device behind a request, as requireDevice finds it; `municipalityCode` is the town it serves (a shop's device, its shop's town). */
export interface EnrolledDevice { id: number; organization: OrganizationRef; municipalityCode: string }

/** An enrolled device as its token finds it: with when it was last seen, and a shop's device its shop's status. */
export interface ActiveDevice extends EnrolledDevice { lastSeenAt: Date | null; shopStatus: ShopStatus | null }

interface DeviceRow extends OrganizationColumns {
  id: number;
  name: string;
  status: DeviceStatus;
  enrolled_at: Date;
  last_seen_at: Date | null;
  revoked_at: Date | null;
}

/** A used-up code with its organization's names (withOrganizationNames). */
export interface ClaimedCode extends OrganizationColumns {
  id: number;
  issued_by_staff_id: number;
  device_name: string;
  org_name_ja: string;
  org_name_en: string;
}

const DEVICE_COLUMNS = ['id', 'name', 'status', 'enrolled_at', 'last_seen_at', 'revoked_at'];

function toDevice(row: DeviceRow): Device {
  return {
    id: row.id,
    name: row.name,
    status: row.status,
    enrolledAt: row.enrolled_at.toISOString(),
    lastSeenAt: row.last_seen_at?.toISOString() ?? null,
    revokedAt: row.revoked_at?.toISOString() ?? null,
  };
}

type Conn = Db | Knex.Transaction;

const inOrganization = (organization: OrganizationRef) => {
  const columns = organizationColumns(organization);
  return columns.merchant_id !== null ? { merchant_id: columns.merchant_id } : { municipality_code: columns.municipality_code };
};

/** Every SQL statement about devices and their enrollment codes. */
export const devicesRepository = {
  async insertCode(conn: Conn, row: { codeHash: Buffer; organization: OrganizationRef; staffId: number; deviceName: string; issuedAt: Date; expiresAt: Date }): Promise<number> {
    const [id] = await conn('device_enrollment_codes').insert({
      code_hash: row.codeHash, ...organizationColumns(row.organization), issued_by_staff_id: row.staffId,
      device_name: row.deviceName, issued_at: row.issuedAt, expires_at: row.expiresAt,
    });
    return id!;
  },

  /** Marks an unused, unexpired code used; of two concurrent claims only one changes the row. */
  async claimCode(conn: Conn, codeHash: Buffer, now: Date): Promise<ClaimedCode | undefined> {
    const claimed = await conn('device_enrollment_codes')
      .where({ code_hash: codeHash }).whereNull('used_at').andWhere('expires_at', '>', now)
      .update({ used_at: now });
    if (claimed !== 1) return undefined;
    return withOrganizationNames(conn, conn('device_enrollment_codes as c'), 'c').where({ 'c.code_hash': codeHash })
      .first('c.id', 'c.issued_by_staff_id', 'c.device_name', 'c.merchant_id', 'c.municipality_code');
  },

  async linkCode(conn: Conn, codeId: number, deviceId: number): Promise<void> {
    await conn('device_enrollment_codes').where({ id: codeId }).update({ device_id: deviceId });
  },

  async insertDevice(conn: Conn, row: { organization: OrganizationRef; name: string; tokenHash: Buffer; enrolledAt: Date; staffId: number }): Promise<number> {
    const [id] = await conn('devices').insert({
      ...organizationColumns(row.organization), name: row.name, token_hash: row.tokenHash,
      enrolled_at: row.enrolledAt, enrolled_by_staff_id: row.staffId,
    });
    return id!;
  },

  async list(conn: Conn, organization: OrganizationRef): Promise<Device[]> {
    const rows = await conn('devices').where(inOrganization(organization))
      .orderByRaw("status = 'active' DESC").orderBy('enrolled_at', 'desc').orderBy('id', 'desc')
      .select(DEVICE_COLUMNS);
    return (rows as DeviceRow[]).map(toDevice);
  },

  /** The device if it belongs to the organization, locked until the transaction ends. */
  async lockInOrganization(conn: Conn, id: number, organization: OrganizationRef): Promise<Device | undefined> {
    const row = await conn('devices').where({ id, ...inOrganization(organization) }).forUpdate().first(DEVICE_COLUMNS);
    return row && toDevice(row as DeviceRow);
  },

  /** Which of `ids` are active devices of the organization, locked until the transaction ends (a revocation waits). */
  async lockActiveOf(conn: Conn, ids: number[], organization: OrganizationRef): Promise<Set<number>> {
    if (ids.length === 0) return new Set();
    const rows = await conn('devices').whereIn('id', ids).andWhere({ status: 'active', ...inOrganization(organization) }).orderBy('id').forUpdate().select('id');
    return new Set(rows.map((row: { id: number }) => Number(row.id)));
  },

  /** The town of an active device of a town (not a shop's); undefined for any other. */
  async activeTownDeviceOf(conn: Conn, id: number): Promise<string | undefined> {
    const row = await conn('devices').where({ id, status: 'active' }).whereNull('merchant_id').first('municipality_code');
    return row?.municipality_code ?? undefined;
  },

  async markRevoked(conn: Conn, id: number, staffId: number, now: Date): Promise<void> {
    await conn('devices').where({ id }).update({ status: 'revoked', revoked_at: now, revoked_by_staff_id: staffId });
  },

  /** The active device holding the token of this hash; reads at the same moment are one statement (db.ts). */
  activeByTokenHash: readByKey(async (conn, tokenHashes: readonly Buffer[]) => {
    const rows = await conn('devices as d').leftJoin('merchants as me', 'me.id', 'd.merchant_id')
      .whereIn('d.token_hash', tokenHashes).where({ 'd.status': 'active' })
      .select('d.id', 'd.token_hash', 'd.merchant_id', 'd.municipality_code', 'd.last_seen_at', 'me.status as shop_status', conn.raw('COALESCE(d.municipality_code, me.municipality_code) AS town'));
    return new Map(rows.map((row) => [Buffer.from(row.token_hash).toString('hex'),
      { id: row.id, organization: organizationOf(row), municipalityCode: row.town, lastSeenAt: row.last_seen_at as Date | null, shopStatus: row.shop_status ?? null } satisfies ActiveDevice]));
  }, (tokenHash) => tokenHash.toString('hex')),

  /** The journal key the device registered (SPKI DER), locked until the transaction ends with `lock`. */
  async journalKey(conn: Conn, id: number, { lock = false } = {}): Promise<Buffer | undefined> {
    const query = conn('devices').where({ id }).whereNotNull('journal_public_key');
    const row = await (lock ? query.forUpdate() : query).first('journal_public_key');
    return row ? Buffer.from(row.journal_public_key) : undefined;
  },

  async setJournalKey(trx: Knex.Transaction, id: number, spki: Buffer, now: Date): Promise<void> {
    await trx('devices').where({ id }).update({ journal_public_key: spki, journal_key_registered_at: now });
  },

  /** Records that the device was seen, unless another request did so since `staleBefore`. */
  async touch(conn: Conn, id: number, now: Date, staleBefore: Date): Promise<void> {
    await conn('devices').where({ id })
      .andWhere((q) => q.whereNull('last_seen_at').orWhere('last_seen_at', '<', staleBefore))
      .update({ last_seen_at: now });
  },
};
