import type { Knex } from 'knex';

// Batch files of partner conversions (docs/partner-api.md#batches): a partner uploads up to a
// million NDJSON lines under a batch id of its choosing. Every line gets one row here, holding
// either the conversion it is (new or replayed) or why it was refused, so the result file is
// read back in line order and a re-uploaded batch resumes after its last recorded line.
export async function up(knex: Knex): Promise<void> {
  await knex.schema.createTable('conversion_batches', (t) => {
    t.bigIncrements('id');
    t.bigInteger('partner_id').unsigned().notNullable().references('id').inTable('partners');
    t.specificType('partner_batch_id', 'VARCHAR(64) CHARACTER SET ascii COLLATE ascii_bin').notNullable();
    t.specificType('content_sha256', 'BINARY(32)').notNullable().comment('the same batch id with other content is refused');
    t.integer('line_count').unsigned().notNullable();
    t.enum('state', ['processing', 'done']).notNullable().defaultTo('processing');
    t.integer('accepted_lines').unsigned().nullable().comment('lines that are a conversion (new or replayed); set when done');
    t.integer('rejected_lines').unsigned().nullable();
    t.datetime('received_at', { precision: 3 }).notNullable();
    t.datetime('finished_at', { precision: 3 }).nullable();
    t.unique(['partner_id', 'partner_batch_id']);
  });

  await knex.schema.createTable('conversion_batch_lines', (t) => {
    t.bigInteger('batch_id').unsigned().notNullable().references('id').inTable('conversion_batches');
    t.integer('line').unsigned().notNullable().comment('1-based line number in the file');
    t.specificType('partner_tx_id', 'VARCHAR(64) CHARACTER SET ascii COLLATE ascii_bin').nullable().comment('null when the line had no usable partnerTxId');
    t.bigInteger('conversion_id').unsigned().nullable().references('id').inTable('conversion_requests');
    t.string('error_code', 64).nullable().comment('a problem code (backend/src/http/problems.ts)');
    t.string('error_detail', 500).nullable();
    t.primary(['batch_id', 'line']);
  });
  await knex.raw(`ALTER TABLE conversion_batch_lines ADD CONSTRAINT conversion_batch_lines_one_outcome CHECK (
    (conversion_id IS NOT NULL AND error_code IS NULL) OR (conversion_id IS NULL AND error_code IS NOT NULL))`);
}

export async function down(knex: Knex): Promise<void> {
  await knex.schema.dropTableIfExists('conversion_batch_lines');
  await knex.schema.dropTableIfExists('conversion_batches');
}
