import type { Knex } from 'knex';

// Certificate revocation lists, shared by every API process: the newest accepted CRL of each
// trust anchor, and what the last fetch of each configured source did (for operators).
export async function up(knex: Knex): Promise<void> {
  await knex.schema.createTable('jpki_crls', (t) => {
    // Per CA key, not per name: across a key rollover old and new CA share their name.
    t.specificType('issuer_key', 'BINARY(32)').primary().comment('SHA-256 of the signing CA\'s subjectPublicKeyInfo');
    t.string('issuer_name', 512).notNullable().comment('the issuer Name as text, for operators');
    // DATETIME, not TIMESTAMP: a CRL may name times past 2038. Stored in UTC (the pool runs at +00:00).
    t.specificType('this_update', 'DATETIME(3)').notNullable();
    t.specificType('next_update', 'DATETIME(3)').nullable();
    t.specificType('der', 'LONGBLOB').notNullable();
    t.string('source', 2048).notNullable().comment('the file or URL it came from');
    t.specificType('fetched_at', 'DATETIME(3)').notNullable();
  });

  await knex.schema.createTable('jpki_crl_sources', (t) => {
    t.specificType('source_hash', 'BINARY(32)').primary().comment('SHA-256 of source');
    t.string('source', 2048).notNullable();
    t.specificType('attempted_at', 'DATETIME(3)').notNullable();
    t.enum('outcome', ['stored', 'unchanged', 'failed']).notNullable()
      .comment('stored: newer than the CRL held; unchanged: not newer; failed: see error_code');
    t.string('error_code', 32).nullable();
    t.string('error_detail', 1000).nullable();
    t.specificType('succeeded_at', 'DATETIME(3)').nullable().comment('last fetch that gave a valid CRL');
    t.specificType('this_update', 'DATETIME(3)').nullable().comment('of the last valid CRL from this source');
    t.specificType('next_update', 'DATETIME(3)').nullable();
  });
}

export async function down(knex: Knex): Promise<void> {
  await knex.schema.dropTableIfExists('jpki_crl_sources');
  await knex.schema.dropTableIfExists('jpki_crls');
}
