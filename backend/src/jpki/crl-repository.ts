// Every SQL statement about the CRLs in MySQL: the newest accepted CRL per issuer, which every
// API process loads, and the last outcome of each configured source, for operators.
import { createHash } from 'node:crypto';
import type { Knex } from 'knex';
import type { Db } from '../db.ts';

type Conn = Db | Knex.Transaction;

export interface CrlToStore {
  /** caKey() of the anchor that signed it. */
  issuerKey: Buffer;
  issuerName: string;
  thisUpdate: Date;
  nextUpdate: Date | undefined;
  der: Buffer;
  source: string;
  fetchedAt: Date;
}

/** Which CRL each issuer has: a CRL is identified by its issuer and thisUpdate. */
export interface CrlVersion { issuerKey: Buffer; thisUpdate: Date }

export interface SourceOutcome {
  source: string;
  attemptedAt: Date;
  outcome: 'stored' | 'unchanged' | 'failed';
  error?: { code: string; detail: string };
  /** Of the CRL the source gave, when it gave a valid one. */
  thisUpdate?: Date;
  nextUpdate?: Date;
}

const sha256 = (data: string | Buffer): Buffer => createHash('sha256').update(data).digest();

/** Every SQL statement of the CRLs held (jpki_crls) and of what each source did (jpki_crl_sources). */
export const crlRepository = {
  /**
   * Keeps the CRL if it is newer than the one held for its issuer. The comparison is made
   * again inside the write, so two workers storing at once never put an older CRL back.
   */
  async storeIfNewer(conn: Conn, crl: CrlToStore): Promise<'stored' | 'unchanged'> {
    // Checked first so an unchanged CRL (the usual hourly case) is not sent to MySQL again.
    const held = await conn('jpki_crls').where({ issuer_key: crl.issuerKey }).first('this_update');
    if (held && held.this_update >= crl.thisUpdate) return 'unchanged';
    const newer = 'VALUES(this_update) > this_update';
    // MySQL assigns left to right, each seeing the previous ones: this_update goes last.
    await conn.raw(`INSERT INTO jpki_crls (issuer_key, issuer_name, this_update, next_update, der, source, fetched_at)
      VALUES (?, ?, ?, ?, ?, ?, ?) ON DUPLICATE KEY UPDATE
        issuer_name = IF(${newer}, VALUES(issuer_name), issuer_name),
        next_update = IF(${newer}, VALUES(next_update), next_update),
        der = IF(${newer}, VALUES(der), der),
        source = IF(${newer}, VALUES(source), source),
        fetched_at = IF(${newer}, VALUES(fetched_at), fetched_at),
        this_update = GREATEST(this_update, VALUES(this_update))`,
    [crl.issuerKey, crl.issuerName.slice(0, 512), crl.thisUpdate, crl.nextUpdate ?? null, crl.der, crl.source, crl.fetchedAt]);
    return 'stored';
  },

  async versions(conn: Conn): Promise<CrlVersion[]> {
    const rows = await conn('jpki_crls').select('issuer_key', 'this_update');
    return rows.map((row) => ({ issuerKey: row.issuer_key, thisUpdate: row.this_update }));
  },

  async crls(conn: Conn, issuerKeys: Buffer[]): Promise<Array<CrlVersion & { der: Buffer }>> {
    if (issuerKeys.length === 0) return [];
    const rows = await conn('jpki_crls').whereIn('issuer_key', issuerKeys).select('issuer_key', 'this_update', 'der');
    return rows.map((row) => ({ issuerKey: row.issuer_key, thisUpdate: row.this_update, der: row.der }));
  },

  async recordSource(conn: Conn, outcome: SourceOutcome): Promise<void> {
    const row = {
      source_hash: sha256(outcome.source),
      source: outcome.source,
      attempted_at: outcome.attemptedAt,
      outcome: outcome.outcome,
      error_code: outcome.error?.code ?? null,
      error_detail: outcome.error?.detail.slice(0, 1000) ?? null,
    };
    // A failure keeps what the last success said, so operators see both.
    const success = outcome.outcome === 'failed' ? {} : { succeeded_at: outcome.attemptedAt, this_update: outcome.thisUpdate ?? null, next_update: outcome.nextUpdate ?? null };
    await conn('jpki_crl_sources').insert({ ...row, ...success }).onConflict('source_hash').merge([...Object.keys(row), ...Object.keys(success)].filter((key) => key !== 'source_hash'));
  },
};
