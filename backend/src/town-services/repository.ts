import type { Knex } from 'knex';
import { readByKey, type Db } from '../db.ts';
import { assignedTo } from '../devices/assignments.ts';
import type { MembershipAction, ServiceKind, TapPolicy } from '@mykey/contracts/services.ts';

type Conn = Db | Knex.Transaction;

export interface Service {
  id: number; municipalityCode: string; kind: ServiceKind; nameJa: string; nameEn: string; tapPolicy: TapPolicy; createdAt: Date;
  /** Where the service's own system takes tap events, and when its API secret was issued (docs/services-integration.md). */
  webhookUrl: string | null; apiSecretIssuedAt: Date | null;
}
export interface ServiceFields { kind: ServiceKind; nameJa: string; nameEn: string; tapPolicy: TapPolicy }
export interface Membership { id: number; serviceId: number; mykeyPk: number; memberNumber: string; linkedAt: Date }
export interface MembershipRequest { id: string; serviceId: number; action: MembershipAction; memberNumber: string; status: 'open' | 'done'; expiresAt: Date }

interface ServiceRow { id: number; municipality_code: string; kind: ServiceKind; name_ja: string; name_en: string; tap_policy: TapPolicy; created_at: Date; webhook_url: string | null; api_secret_issued_at: Date | null }
const SERVICE_COLUMNS = ['s.id', 's.municipality_code', 's.kind', 's.name_ja', 's.name_en', 's.tap_policy', 's.created_at', 's.webhook_url', 's.api_secret_issued_at'];
const toService = (row: ServiceRow): Service => ({
  id: Number(row.id), municipalityCode: row.municipality_code, kind: row.kind, nameJa: row.name_ja, nameEn: row.name_en, tapPolicy: row.tap_policy, createdAt: row.created_at,
  webhookUrl: row.webhook_url ?? null, apiSecretIssuedAt: row.api_secret_issued_at ?? null,
});
const serviceColumns = (fields: Partial<ServiceFields>) => ({
  ...(fields.kind && { kind: fields.kind }), ...(fields.nameJa && { name_ja: fields.nameJa }),
  ...(fields.nameEn && { name_en: fields.nameEn }), ...(fields.tapPolicy && { tap_policy: fields.tapPolicy }),
});

interface MembershipRow { id: number; service_id: number; mykey_pk: number; member_number: string; linked_at: Date }
const MEMBERSHIP_COLUMNS = ['ms.id', 'ms.service_id', 'ms.mykey_pk', 'ms.member_number', 'ms.linked_at'];
const toMembership = (row: MembershipRow): Membership => ({
  id: Number(row.id), serviceId: Number(row.service_id), mykeyPk: Number(row.mykey_pk), memberNumber: row.member_number, linkedAt: row.linked_at,
});
const memberships = (conn: Conn) => conn('memberships as ms');

/** A service and a resident (by their MyKey ID's key), who have one membership at most. */
export interface MembershipKey { serviceId: number; mykeyPk: number }
const membershipKey = ({ serviceId, mykeyPk }: MembershipKey) => `${Number(serviceId)}:${Number(mykeyPk)}`;

/** Every SQL statement about town services, the devices serving them, memberships and their requests (their uses: uses-repository.ts). */
export const townServicesRepository = {
  async list(conn: Conn, municipalityCode: string): Promise<Service[]> {
    const rows = await conn('services as s').where({ 's.municipality_code': municipalityCode }).orderBy('s.id').select(SERVICE_COLUMNS);
    return (rows as ServiceRow[]).map(toService);
  },

  async service(conn: Conn, id: number, { lock = false } = {}): Promise<Service | undefined> {
    const query = conn('services as s').where({ 's.id': id });
    const row = await (lock ? query.forUpdate() : query).first(SERVICE_COLUMNS);
    return row && toService(row as ServiceRow);
  },

  /** The service a device serves, if any; reads at the same moment are one statement (db.ts). */
  serviceOfDevice: readByKey(async (conn, deviceIds: readonly number[]) => {
    const rows = await assignedTo(conn, 'service').join('services as s', 's.id', 'da.service_id').whereIn('da.device_id', deviceIds).select('da.device_id', ...SERVICE_COLUMNS);
    return new Map((rows as Array<ServiceRow & { device_id: number }>).map((row) => [String(row.device_id), toService(row)]));
  }, String),

  /** A new service's id, or undefined when the town already has one of this Japanese name. */
  async insert(trx: Knex.Transaction, municipalityCode: string, fields: ServiceFields, now: Date): Promise<number | undefined> {
    try {
      const [id] = await trx('services').insert({ municipality_code: municipalityCode, ...serviceColumns(fields), created_at: now, updated_at: now });
      return id!;
    } catch (error) {
      if ((error as { code?: string }).code === 'ER_DUP_ENTRY') return undefined;
      throw error;
    }
  },

  /** False when the town already has another service of the new Japanese name. */
  async update(trx: Knex.Transaction, id: number, fields: Partial<ServiceFields>, now: Date): Promise<boolean> {
    try {
      await trx('services').where({ id }).update({ ...serviceColumns(fields), updated_at: now });
      return true;
    } catch (error) {
      if ((error as { code?: string }).code === 'ER_DUP_ENTRY') return false;
      throw error;
    }
  },

  /** The service's webhook URL; null: none. */
  async setWebhookUrl(trx: Knex.Transaction, id: number, url: string | null, now: Date): Promise<void> {
    await trx('services').where({ id }).update({ webhook_url: url, updated_at: now });
  },

  /** The service's new API secret, sealed; the old one stops working at once. */
  async storeApiSecret(trx: Knex.Transaction, id: number, sealed: Buffer, issuedAt: Date): Promise<void> {
    await trx('services').where({ id }).update({ api_secret_sealed: sealed, api_secret_issued_at: issuedAt, updated_at: issuedAt });
  },

  /** The service and its sealed API secret, when it has one. */
  async apiSecretOf(conn: Conn, id: number): Promise<{ service: Service; sealed: Buffer } | undefined> {
    const row = await conn('services as s').where({ 's.id': id }).whereNotNull('s.api_secret_sealed').first([...SERVICE_COLUMNS, 's.api_secret_sealed']);
    return row && { service: toService(row as ServiceRow), sealed: Buffer.from(row.api_secret_sealed) };
  },

  /** The service's newest use at the device since `since` by a membership still linked (through the uses' device index). */
  async lastUse(conn: Conn, serviceId: number, deviceId: number, since: Date): Promise<{ membership: Membership; usedAt: Date } | undefined> {
    const row = await memberships(conn).join('service_uses as u', 'u.membership_id', 'ms.id')
      .where({ 'u.device_id': deviceId, 'u.service_id': serviceId }).andWhere('u.used_at', '>=', since)
      .orderBy([{ column: 'u.used_at', order: 'desc' }, { column: 'u.id', order: 'desc' }]).first([...MEMBERSHIP_COLUMNS, 'u.used_at']);
    return row && { membership: toMembership(row as MembershipRow), usedAt: row.used_at };
  },

  /** A resident's membership of a service; reads at the same moment are one statement (db.ts). */
  membershipOf: readByKey(async (conn, keys: readonly MembershipKey[]) => {
    const rows = await memberships(conn).whereIn(['ms.service_id', 'ms.mykey_pk'], keys.map((key) => [key.serviceId, key.mykeyPk])).select(MEMBERSHIP_COLUMNS);
    return new Map((rows as MembershipRow[]).map((row) => [membershipKey({ serviceId: row.service_id, mykeyPk: row.mykey_pk }), toMembership(row)]));
  }, membershipKey),

  async membershipByNumber(conn: Conn, serviceId: number, memberNumber: string): Promise<Membership | undefined> {
    const row = await memberships(conn).where({ 'ms.service_id': serviceId, 'ms.member_number': memberNumber }).first(MEMBERSHIP_COLUMNS);
    return row && toMembership(row as MembershipRow);
  },

  /** Every membership of a resident (by their MyKey ID's key), with its service's names and town, oldest link first. */
  async membershipsOf(conn: Conn, mykeyPk: number): Promise<Array<Membership & { service: Pick<Service, 'nameJa' | 'nameEn' | 'municipalityCode'> }>> {
    const rows = await memberships(conn).join('services as s', 's.id', 'ms.service_id').where({ 'ms.mykey_pk': mykeyPk })
      .orderBy([{ column: 'ms.linked_at' }, { column: 'ms.id' }]).select([...MEMBERSHIP_COLUMNS, 's.name_ja', 's.name_en', 's.municipality_code']);
    return (rows as Array<MembershipRow & Pick<ServiceRow, 'name_ja' | 'name_en' | 'municipality_code'>>).map((row) => ({
      ...toMembership(row), service: { nameJa: row.name_ja, nameEn: row.name_en, municipalityCode: row.municipality_code },
    }));
  },

  /** A resident's own membership of this id; another's is as good as none. */
  async membershipOfResident(conn: Conn, mykeyPk: number, id: number, { lock = false } = {}): Promise<Membership | undefined> {
    const query = memberships(conn).where({ 'ms.id': id, 'ms.mykey_pk': mykeyPk });
    const row = await (lock ? query.forUpdate() : query).first(MEMBERSHIP_COLUMNS);
    return row && toMembership(row as MembershipRow);
  },

  async membership(conn: Conn, serviceId: number, id: number, { lock = false } = {}): Promise<Membership | undefined> {
    const query = memberships(conn).where({ 'ms.service_id': serviceId, 'ms.id': id });
    const row = await (lock ? query.forUpdate() : query).first(MEMBERSHIP_COLUMNS);
    return row && toMembership(row as MembershipRow);
  },

  /** The new membership's id; undefined when the number or the MyKey ID is linked at this service already (a concurrent link). */
  async insertMembership(trx: Knex.Transaction, row: { serviceId: number; mykeyPk: number; memberNumber: string; linkedAt: Date; deviceId: number }): Promise<number | undefined> {
    try {
      const [id] = await trx('memberships').insert({ service_id: row.serviceId, mykey_pk: row.mykeyPk, member_number: row.memberNumber, linked_at: row.linkedAt, linked_at_device_id: row.deviceId });
      return id!;
    } catch (error) {
      if ((error as { code?: string }).code === 'ER_DUP_ENTRY') return undefined;
      throw error;
    }
  },

  async deleteMembership(trx: Knex.Transaction, id: number): Promise<void> {
    await trx('memberships').where({ id }).delete();
  },

  async insertRequest(trx: Knex.Transaction, row: { id: string; serviceId: number; action: MembershipAction; memberNumber: string; staffId: number; createdAt: Date; expiresAt: Date }): Promise<void> {
    await trx('membership_requests').insert({
      id: row.id, service_id: row.serviceId, action: row.action, member_number: row.memberNumber, staff_id: row.staffId, created_at: row.createdAt, expires_at: row.expiresAt,
    });
  },

  async request(conn: Conn, id: string, { lock = false } = {}): Promise<MembershipRequest | undefined> {
    const query = conn('membership_requests').where({ id });
    const row = await (lock ? query.forUpdate() : query).first('id', 'service_id', 'action', 'member_number', 'status', 'expires_at');
    return row && { id: row.id, serviceId: Number(row.service_id), action: row.action, memberNumber: row.member_number, status: row.status, expiresAt: row.expires_at };
  },

  async markRequestDone(trx: Knex.Transaction, id: string): Promise<void> {
    await trx('membership_requests').where({ id }).update({ status: 'done' });
  },
};
