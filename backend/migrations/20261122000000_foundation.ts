import type { Knex } from 'knex';

// The tenants and parties of the platform, staff sign-in, and the worker heartbeat.
export async function up(knex: Knex): Promise<void> {
  await knex.schema.createTable('municipalities', (t) => {
    t.specificType('code', 'CHAR(6)').primary().comment('全国地方公共団体コード, with its check digit');
    t.string('name_ja', 100).notNullable();
    t.string('name_en', 100).notNullable();
    t.timestamp('created_at', { precision: 3 }).notNullable().defaultTo(knex.fn.now(3));
  });

  await knex.schema.createTable('merchants', (t) => {
    t.bigIncrements('id');
    t.specificType('municipality_code', 'CHAR(6)').notNullable().references('code').inTable('municipalities');
    t.string('slug', 64).notNullable().unique().comment('stable natural key, used by seeds and imports');
    t.string('name_ja', 100).notNullable();
    t.string('name_en', 100).notNullable();
    t.enum('status', ['pending', 'approved', 'suspended']).notNullable().defaultTo('pending');
    t.timestamp('created_at', { precision: 3 }).notNullable().defaultTo(knex.fn.now(3));
  });

  await knex.schema.createTable('partners', (t) => {
    t.bigIncrements('id');
    t.string('slug', 64).notNullable().unique();
    t.string('name_ja', 100).notNullable();
    t.string('name_en', 100).notNullable();
    t.enum('kind', ['card_points', 'airline_miles', 'other']).notNullable();
    // Conversion rate as an exact fraction: rate_points municipal points per rate_units partner units.
    t.integer('rate_units').unsigned().notNullable();
    t.integer('rate_points').unsigned().notNullable();
    t.timestamp('created_at', { precision: 3 }).notNullable().defaultTo(knex.fn.now(3));
  });

  await knex.schema.createTable('campaigns', (t) => {
    t.bigIncrements('id');
    t.specificType('municipality_code', 'CHAR(6)').notNullable().references('code').inTable('municipalities');
    t.string('slug', 64).notNullable().unique();
    t.string('name_ja', 200).notNullable();
    t.string('name_en', 200).notNullable();
    t.integer('premium_percent').unsigned().notNullable().defaultTo(0);
    t.bigInteger('budget_points').unsigned().notNullable();
    t.bigInteger('cap_per_resident_points').unsigned().notNullable();
    t.date('starts_on').notNullable();
    t.date('ends_on').notNullable();
    t.timestamp('created_at', { precision: 3 }).notNullable().defaultTo(knex.fn.now(3));
  });

  await knex.schema.createTable('staff_accounts', (t) => {
    t.bigIncrements('id');
    t.string('login_id', 64).notNullable().unique();
    t.string('display_name', 100).notNullable();
    t.enum('role', ['merchant', 'municipality']).notNullable();
    t.specificType('municipality_code', 'CHAR(6)').nullable().references('code').inTable('municipalities');
    t.bigInteger('merchant_id').unsigned().nullable().references('id').inTable('merchants');
    t.string('password_hash', 255).notNullable();
    t.timestamp('created_at', { precision: 3 }).notNullable().defaultTo(knex.fn.now(3));
  });
  // A merchant clerk belongs to a shop, municipal staff to a municipality: exactly one of the two.
  await knex.raw(`ALTER TABLE staff_accounts ADD CONSTRAINT staff_accounts_one_organization CHECK (
    (role = 'merchant' AND merchant_id IS NOT NULL AND municipality_code IS NULL) OR
    (role = 'municipality' AND municipality_code IS NOT NULL AND merchant_id IS NULL))`);

  await knex.schema.createTable('staff_sessions', (t) => {
    t.specificType('token_hash', 'BINARY(32)').primary();
    t.bigInteger('staff_id').unsigned().notNullable().references('id').inTable('staff_accounts').onDelete('CASCADE');
    t.timestamp('created_at', { precision: 3 }).notNullable().defaultTo(knex.fn.now(3));
    t.timestamp('expires_at', { precision: 3 }).notNullable().index();
  });

  await knex.schema.createTable('worker_heartbeats', (t) => {
    t.string('worker_id', 128).primary();
    t.timestamp('beat_at', { precision: 3 }).notNullable();
    t.integer('beats').unsigned().notNullable().defaultTo(1);
  });
}

export async function down(knex: Knex): Promise<void> {
  for (const table of ['worker_heartbeats', 'staff_sessions', 'staff_accounts', 'campaigns', 'partners', 'merchants', 'municipalities']) {
    await knex.schema.dropTableIfExists(table);
  }
}
