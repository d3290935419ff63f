// The Idempotency-Key answers (idempotency.ts): one row per (scope, key), claimed before the
// effect runs and holding its answer once it has.
import type { Knex } from 'knex';
import type { Db } from '../db.ts';

type Conn = Db | Knex.Transaction;

export interface IdempotencyRow { request_hash: Buffer; status_code: number; response: unknown }

interface Key { scope: string; key: string }

export const idempotencyRepository = {
  async find(conn: Conn, { scope, key }: Key): Promise<IdempotencyRow | undefined> {
    return conn('idempotency_keys').where({ scope, idempotency_key: key }).first();
  },

  /** Throws the database's duplicate-key error when the key is taken; a twin's insert waits here for the owner's commit. */
  async claim(trx: Knex.Transaction, { scope, key }: Key, requestHash: Buffer): Promise<void> {
    await trx('idempotency_keys').insert({ scope, idempotency_key: key, request_hash: requestHash, status_code: 0, response: 'null' });
  },

  /** Keys claimed and answered at once, for calls whose answer was decided before their transaction (group commit). */
  async insertAnswered(trx: Knex.Transaction, rows: Array<Key & { requestHash: Buffer; status: number; responseJson: string }>): Promise<void> {
    await trx('idempotency_keys').insert(rows.map((row) => ({
      scope: row.scope, idempotency_key: row.key, request_hash: row.requestHash, status_code: row.status, response: row.responseJson,
    })));
  },

  /** Counts a replay of the stored answer: the write that makes a replay wait for the answer to be durable (idempotency.ts). */
  async countReplay(trx: Knex.Transaction, { scope, key }: Key): Promise<void> {
    await trx('idempotency_keys').where({ scope, idempotency_key: key }).increment('replays', 1);
  },

  async storeAnswer(trx: Knex.Transaction, { scope, key }: Key, status: number, responseJson: string): Promise<void> {
    await trx('idempotency_keys').where({ scope, idempotency_key: key }).update({ status_code: status, response: responseJson });
  },
};
