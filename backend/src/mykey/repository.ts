import type { Knex } from 'knex';
import type { Db } from '../db.ts';

export type MykeyStatus = 'active' | 'suspended';
export type CertificateStatus = 'active' | 'replaced' | 'revoked';
export type LinkMethod = 'issued' | 'both_cards' | 'linkage_file' | 'counter';

export interface CardBinding { mykeyPk: number; mykeyId: string; mykeyStatus: MykeyStatus; certificateStatus: CertificateStatus }

type Conn = Db | Knex.Transaction;

/** Every SQL statement about MyKey IDs and the cards linked to them. */
export const mykeyRepository = {
  async bindingOf(conn: Conn, certKey: Buffer): Promise<CardBinding | undefined> {
    const row = await conn('mykey_certificates as c').join('mykeys as m', 'm.id', 'c.mykey_pk')
      .where('c.cert_key', certKey).first('m.id', 'm.mykey_id', 'm.status as mykey_status', 'c.status as certificate_status');
    return row && { mykeyPk: Number(row.id), mykeyId: row.mykey_id, mykeyStatus: row.mykey_status, certificateStatus: row.certificate_status };
  },

  /** Inserts a MyKey ID; false if another card already holds that ID. */
  async insertMykey(trx: Knex.Transaction, mykeyId: string): Promise<number | undefined> {
    try {
      const [id] = await trx('mykeys').insert({ mykey_id: mykeyId });
      return Number(id);
    } catch (error) {
      if ((error as { code?: string }).code === 'ER_DUP_ENTRY') return undefined;
      throw error;
    }
  },

  async linkCertificate(trx: Knex.Transaction, certKey: Buffer, mykeyPk: number, method: LinkMethod): Promise<void> {
    await trx('mykey_certificates').insert({ cert_key: certKey, mykey_pk: mykeyPk, link_method: method });
  },
};
