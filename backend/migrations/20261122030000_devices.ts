import type { Knex } from 'knex';

// Reader agents on counter PCs, enrolled with a one-time code that staff issue in the console.
// Both belong to one organization, like staff: a shop or a municipality, never both.
export async function up(knex: Knex): Promise<void> {
  const organization = (t: Knex.CreateTableBuilder) => {
    t.specificType('municipality_code', 'CHAR(6)').nullable().references('code').inTable('municipalities');
    t.bigInteger('merchant_id').unsigned().nullable().references('id').inTable('merchants');
  };
  const oneOrganization = (table: string) => knex.raw(`ALTER TABLE ${table} ADD CONSTRAINT ${table}_one_organization CHECK (
    (municipality_code IS NULL) <> (merchant_id IS NULL))`);

  await knex.schema.createTable('devices', (t) => {
    t.bigIncrements('id');
    organization(t);
    t.string('name', 100).notNullable().comment('given by staff, e.g. 窓口1番');
    t.specificType('token_hash', 'BINARY(32)').notNullable().unique().comment('SHA-256 of the bearer token; the token itself is shown once');
    t.enum('status', ['active', 'revoked']).notNullable().defaultTo('active');
    t.timestamp('enrolled_at', { precision: 3 }).notNullable();
    t.bigInteger('enrolled_by_staff_id').unsigned().notNullable().references('id').inTable('staff_accounts').comment('who issued the code');
    t.timestamp('revoked_at', { precision: 3 }).nullable();
    t.bigInteger('revoked_by_staff_id').unsigned().nullable().references('id').inTable('staff_accounts');
    t.timestamp('last_seen_at', { precision: 3 }).nullable().comment('updated at most once a minute');
    t.index(['merchant_id']);
    t.index(['municipality_code']);
  });
  await oneOrganization('devices');

  await knex.schema.createTable('device_enrollment_codes', (t) => {
    t.bigIncrements('id');
    t.specificType('code_hash', 'BINARY(32)').notNullable().unique().comment('SHA-256 of the code; the code itself is shown once');
    organization(t);
    t.bigInteger('issued_by_staff_id').unsigned().notNullable().references('id').inTable('staff_accounts');
    t.string('device_name', 100).notNullable();
    t.timestamp('issued_at', { precision: 3 }).notNullable();
    t.timestamp('expires_at', { precision: 3 }).notNullable();
    t.timestamp('used_at', { precision: 3 }).nullable();
    t.bigInteger('device_id').unsigned().nullable().references('id').inTable('devices');
  });
  await oneOrganization('device_enrollment_codes');
}

export async function down(knex: Knex): Promise<void> {
  await knex.schema.dropTableIfExists('device_enrollment_codes');
  await knex.schema.dropTableIfExists('devices');
}
