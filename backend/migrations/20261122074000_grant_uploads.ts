import type { Knex } from 'knex';

// Administrative points granted from a CSV file by municipal staff (docs/ledger.md, "Grants"):
// each upload and the outcome of each of its lines, for the summary and the result file. The
// grants themselves are ledger entries; these rows only say what a file asked for and got.
// Settlement statements read entries by municipality and posting time, hence the index.
export async function up(knex: Knex): Promise<void> {
  await knex.schema.createTable('grant_uploads', (t) => {
    t.bigIncrements('id');
    t.specificType('municipality_code', 'CHAR(6)').notNullable().references('code').inTable('municipalities');
    t.bigInteger('campaign_id').unsigned().notNullable();
    t.bigInteger('staff_id').unsigned().notNullable().references('id').inTable('staff_accounts');
    t.specificType('file_sha256', 'BINARY(32)').notNullable().comment('the file\'s hash: with the line number, the ledger reference of each grant');
    t.enum('state', ['processing', 'done']).notNullable().defaultTo('processing');
    t.integer('records').unsigned().notNullable().defaultTo(0).comment('lines after the header that are not blank');
    t.integer('granted').unsigned().notNullable().defaultTo(0);
    t.integer('already_granted').unsigned().notNullable().defaultTo(0).comment('granted by an earlier upload of the same file');
    t.integer('refused').unsigned().notNullable().defaultTo(0);
    t.bigInteger('points_granted').unsigned().notNullable().defaultTo(0);
    t.datetime('created_at', { precision: 3 }).notNullable();
    t.datetime('finished_at', { precision: 3 }).nullable();
    t.foreign(['campaign_id', 'municipality_code']).references(['id', 'municipality_code']).inTable('campaigns');
    t.index(['municipality_code', 'created_at']);
  });

  await knex.schema.createTable('grant_upload_lines', (t) => {
    t.bigInteger('upload_id').unsigned().notNullable().references('id').inTable('grant_uploads');
    t.integer('line').unsigned().notNullable();
    t.specificType('mykey_id', 'CHAR(8)').nullable().comment('canonical MyKey ID; null when the line held none');
    t.bigInteger('points').unsigned().nullable();
    t.enum('outcome', ['granted', 'already_granted', 'refused']).notNullable();
    t.bigInteger('entry_id').unsigned().nullable().references('id').inTable('ledger_entries');
    t.string('code', 64).nullable().comment('the problem code of a refused line');
    t.string('detail', 255).nullable().comment('why, in English, with the figures (e.g. the budget left)');
    t.primary(['upload_id', 'line']);
  });

  await knex.schema.alterTable('ledger_entries', (t) => {
    t.index(['municipality_code', 'posted_at'], 'ledger_entries_municipality_posted_at');
  });
}

export async function down(knex: Knex): Promise<void> {
  await knex.schema.alterTable('ledger_entries', (t) => {
    t.dropIndex(['municipality_code', 'posted_at'], 'ledger_entries_municipality_posted_at');
  });
  await knex.schema.dropTableIfExists('grant_upload_lines');
  await knex.schema.dropTableIfExists('grant_uploads');
}
