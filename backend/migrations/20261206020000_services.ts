import type { Knex } from 'knex';

// A municipality's services (library, sports facility …), the devices that serve each, the
// memberships residents link to their MyKey ID, the requests a clerk opens before the card signs
// a link or an unlink, and the uses taps log (kept a while; the hourly counts stay). docs/services.md.
const KINDS = ['library', 'museum', 'sports_facility', 'bicycle_parking', 'lecture_course', 'community_centre', 'other'];

export async function up(knex: Knex): Promise<void> {
  await knex.schema.createTable('services', (t) => {
    t.bigIncrements('id');
    t.specificType('municipality_code', 'CHAR(6)').notNullable().references('code').inTable('municipalities');
    t.enum('kind', KINDS).notNullable();
    t.string('name_ja', 100).notNullable();
    t.string('name_en', 100).notNullable();
    t.enum('tap_policy', ['pin', 'tap']).notNullable().defaultTo('pin').comment('tap: lookups may go without the PIN; links never');
    t.timestamp('created_at', { precision: 3 }).notNullable();
    t.timestamp('updated_at', { precision: 3 }).notNullable();
    t.unique(['municipality_code', 'name_ja']);
  });

  await knex.schema.createTable('service_devices', (t) => {
    t.bigInteger('device_id').unsigned().primary().references('id').inTable('devices').comment('a device serves one service at most');
    t.bigInteger('service_id').unsigned().notNullable().references('id').inTable('services');
    t.index(['service_id']);
  });

  await knex.schema.createTable('memberships', (t) => {
    t.bigIncrements('id');
    t.bigInteger('service_id').unsigned().notNullable().references('id').inTable('services');
    t.bigInteger('mykey_pk').unsigned().notNullable().references('id').inTable('mykeys');
    t.string('member_number', 32).notNullable();
    t.timestamp('linked_at', { precision: 3 }).notNullable();
    t.bigInteger('linked_at_device_id').unsigned().notNullable().references('id').inTable('devices');
    t.unique(['service_id', 'member_number']);
    t.unique(['service_id', 'mykey_pk']);
  });

  await knex.schema.createTable('membership_requests', (t) => {
    t.string('id', 25).primary().comment('mr_ and 16 random bytes in base64url');
    t.bigInteger('service_id').unsigned().notNullable().references('id').inTable('services');
    t.enum('action', ['link', 'unlink']).notNullable();
    t.string('member_number', 32).notNullable();
    t.bigInteger('staff_id').unsigned().notNullable().references('id').inTable('staff_accounts');
    t.enum('status', ['open', 'done']).notNullable().defaultTo('open');
    t.timestamp('created_at', { precision: 3 }).notNullable();
    t.timestamp('expires_at', { precision: 3 }).notNullable();
  });

  await knex.schema.createTable('service_uses', (t) => {
    t.bigIncrements('id');
    t.bigInteger('service_id').unsigned().notNullable().references('id').inTable('services');
    t.bigInteger('device_id').unsigned().notNullable().references('id').inTable('devices');
    t.bigInteger('membership_id').unsigned().nullable().references('id').inTable('memberships').onDelete('SET NULL');
    t.timestamp('used_at', { precision: 3 }).notNullable();
    t.index(['device_id', 'used_at']);
    t.index(['used_at']);
  });

  await knex.schema.createTable('service_use_counts', (t) => {
    t.bigInteger('service_id').unsigned().notNullable().references('id').inTable('services');
    t.timestamp('hour', { precision: 0 }).notNullable().comment('the hour the uses fell in (its start)');
    t.integer('uses').unsigned().notNullable();
    t.primary(['service_id', 'hour']);
  });
}

export async function down(knex: Knex): Promise<void> {
  for (const table of ['service_use_counts', 'service_uses', 'membership_requests', 'memberships', 'service_devices', 'services']) {
    await knex.schema.dropTableIfExists(table);
  }
}
