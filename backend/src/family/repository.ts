import type { Knex } from 'knex';
import type { Db } from '../db.ts';

type Conn = Db | Knex.Transaction;

export type FamilyAction = 'offer' | 'accept';
export interface FamilyRequest {
  id: string; municipalityCode: string; deviceId: number; action: FamilyAction; code: string; label: string;
  pairingId: number | null; status: 'open' | 'done'; expiresAt: Date;
}
export interface Pairing {
  id: number; municipalityCode: string; code: string; offererMykeyPk: number; offererLabel: string; acceptBy: Date;
  accepterMykeyPk: number | null; accepterLabel: string | null; linkedAt: Date | null; endedAt: Date | null;
}

interface RequestRow { id: string; municipality_code: string; device_id: number; action: FamilyAction; code: string; label: string; pairing_id: number | null; status: 'open' | 'done'; expires_at: Date }
const toRequest = (row: RequestRow): FamilyRequest => ({
  id: row.id, municipalityCode: row.municipality_code, deviceId: Number(row.device_id), action: row.action, code: row.code, label: row.label,
  pairingId: row.pairing_id === null ? null : Number(row.pairing_id), status: row.status, expiresAt: row.expires_at,
});

interface PairingRow {
  id: number; municipality_code: string; code: string; offerer_mykey_pk: number; offerer_label: string; accept_by: Date;
  accepter_mykey_pk: number | null; accepter_label: string | null; linked_at: Date | null; ended_at: Date | null;
}
const PAIRING_COLUMNS = ['id', 'municipality_code', 'code', 'offerer_mykey_pk', 'offerer_label', 'accept_by', 'accepter_mykey_pk', 'accepter_label', 'linked_at', 'ended_at'];
const toPairing = (row: PairingRow): Pairing => ({
  id: Number(row.id), municipalityCode: row.municipality_code, code: row.code, offererMykeyPk: Number(row.offerer_mykey_pk), offererLabel: row.offerer_label,
  acceptBy: row.accept_by, accepterMykeyPk: row.accepter_mykey_pk === null ? null : Number(row.accepter_mykey_pk), accepterLabel: row.accepter_label,
  linkedAt: row.linked_at, endedAt: row.ended_at,
});

/** Every SQL statement about family requests and pairings. */
export const familyRepository = {
  /** Whether an offer request ever had this code. */
  async offerCodeTaken(conn: Conn, code: string): Promise<boolean> {
    return (await conn('family_requests').where({ offer_code: code }).first('id')) !== undefined;
  },

  async insertRequest(trx: Knex.Transaction, row: Omit<FamilyRequest, 'status'> & { createdAt: Date }): Promise<void> {
    await trx('family_requests').insert({
      id: row.id, municipality_code: row.municipalityCode, device_id: row.deviceId, action: row.action, code: row.code, offer_code: row.action === 'offer' ? row.code : null, label: row.label,
      pairing_id: row.pairingId, status: 'open', created_at: row.createdAt, expires_at: row.expiresAt,
    });
  },

  async request(conn: Conn, id: string, { lock = false } = {}): Promise<FamilyRequest | undefined> {
    const query = conn('family_requests').where({ id });
    if (lock) query.forUpdate();
    const row = await query.first('id', 'municipality_code', 'device_id', 'action', 'code', 'label', 'pairing_id', 'status', 'expires_at');
    return row && toRequest(row as RequestRow);
  },

  async markRequestDone(trx: Knex.Transaction, id: string): Promise<void> {
    await trx('family_requests').where({ id }).update({ status: 'done' });
  },

  async insertOffer(trx: Knex.Transaction, row: { municipalityCode: string; code: string; mykeyPk: number; label: string; at: Date; acceptBy: Date }): Promise<void> {
    await trx('family_pairings').insert({ municipality_code: row.municipalityCode, code: row.code, offerer_mykey_pk: row.mykeyPk, offerer_label: row.label, offered_at: row.at, accept_by: row.acceptBy });
  },

  async pairingByCode(conn: Conn, code: string, { lock = false } = {}): Promise<Pairing | undefined> {
    const query = conn('family_pairings').where({ code });
    if (lock) query.forUpdate();
    const row = await query.first(PAIRING_COLUMNS);
    return row && toPairing(row as PairingRow);
  },

  async pairing(conn: Conn, id: number, { lock = false } = {}): Promise<Pairing | undefined> {
    const query = conn('family_pairings').where({ id });
    if (lock) query.forUpdate();
    const row = await query.first(PAIRING_COLUMNS);
    return row && toPairing(row as PairingRow);
  },

  async link(trx: Knex.Transaction, id: number, mykeyPk: number, label: string, at: Date): Promise<void> {
    await trx('family_pairings').where({ id }).update({ accepter_mykey_pk: mykeyPk, accepter_label: label, linked_at: at });
  },

  /** The resident's pairings not ended: linked ones, and offers still waiting (past their time too). */
  async currentOf(conn: Conn, mykeyPk: number, { lock = false } = {}): Promise<Pairing[]> {
    const query = conn('family_pairings').whereNull('ended_at')
      .where((q) => q.where({ offerer_mykey_pk: mykeyPk }).orWhere({ accepter_mykey_pk: mykeyPk })).orderBy('id');
    if (lock) query.forUpdate();
    return ((await query.select(PAIRING_COLUMNS)) as PairingRow[]).map(toPairing);
  },

  async end(trx: Knex.Transaction, ids: number[], at: Date): Promise<void> {
    if (ids.length > 0) await trx('family_pairings').whereIn('id', ids).whereNull('ended_at').update({ ended_at: at });
  },
};
