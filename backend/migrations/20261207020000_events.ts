import type { Knex } from 'knex';

// Events and administrative points (docs/events.md): each town's event categories, its events
// (paid from one of its campaigns), which devices serve an event, and a record beside every
// grant entry saying what the points were for. A device serves one thing at a time, a service or
// an event: both live in service_devices, whose key is the device, so the database holds the rule.
export async function up(knex: Knex): Promise<void> {
  await knex.schema.createTable('event_categories', (t) => {
    t.bigIncrements('id');
    t.specificType('municipality_code', 'CHAR(6)').notNullable().references('code').inTable('municipalities');
    t.string('name_ja', 100).notNullable();
    t.string('name_en', 100).notNullable();
    t.timestamp('created_at', { precision: 3 }).notNullable();
    t.timestamp('updated_at', { precision: 3 }).notNullable();
    t.unique(['municipality_code', 'name_ja']);
    t.unique(['id', 'municipality_code']);
  });

  await knex.schema.createTable('events', (t) => {
    t.bigIncrements('id');
    t.specificType('municipality_code', 'CHAR(6)').notNullable().references('code').inTable('municipalities');
    t.bigInteger('category_id').unsigned().notNullable();
    t.string('name_ja', 100).notNullable();
    t.string('name_en', 100).notNullable();
    t.date('starts_on').notNullable().comment('Japan time, included');
    t.date('ends_on').notNullable().comment('Japan time, included; the same day for a one-day event');
    t.integer('points').unsigned().notNullable().comment('granted once to each participant');
    t.bigInteger('campaign_id').unsigned().notNullable().comment('the town\'s campaign whose budget pays');
    t.enum('tap_policy', ['pin', 'tap']).notNullable().defaultTo('pin');
    t.timestamp('created_at', { precision: 3 }).notNullable();
    t.timestamp('updated_at', { precision: 3 }).notNullable();
    t.foreign(['category_id', 'municipality_code']).references(['id', 'municipality_code']).inTable('event_categories');
    t.foreign(['campaign_id', 'municipality_code']).references(['id', 'municipality_code']).inTable('campaigns');
    t.unique(['id', 'municipality_code']);
    t.index(['municipality_code', 'starts_on']);
  });
  await knex.raw('ALTER TABLE events ADD CONSTRAINT events_dates_in_order CHECK (starts_on <= ends_on), ADD CONSTRAINT events_points_positive CHECK (points > 0)');

  await knex.schema.alterTable('service_devices', (t) => {
    t.bigInteger('service_id').unsigned().nullable().alter();
    t.bigInteger('event_id').unsigned().nullable().references('id').inTable('events').comment('an event this device serves instead of a service');
    t.index(['event_id']);
  });
  await knex.raw('ALTER TABLE service_devices ADD CONSTRAINT service_devices_one_thing CHECK ((service_id IS NULL) <> (event_id IS NULL))');

  await knex.schema.createTable('grant_records', (t) => {
    t.bigInteger('entry_id').unsigned().primary().references('id').inTable('ledger_entries').comment('the ledger grant this record describes');
    t.specificType('municipality_code', 'CHAR(6)').notNullable().references('code').inTable('municipalities');
    t.bigInteger('mykey_pk').unsigned().notNullable().references('id').inTable('mykeys');
    t.bigInteger('points').unsigned().notNullable();
    t.bigInteger('category_id').unsigned().nullable().comment('null: uncategorised (a grant before categories, or a file without them)');
    t.bigInteger('event_id').unsigned().nullable().comment('the event tapped at; null for a grant by staff');
    t.string('label_ja', 100).nullable().comment('what the resident\'s history shows: the event\'s name, else the category\'s, as it was then');
    t.string('label_en', 100).nullable();
    t.datetime('posted_at', { precision: 3 }).notNullable();
    t.foreign(['category_id', 'municipality_code']).references(['id', 'municipality_code']).inTable('event_categories');
    t.foreign(['event_id', 'municipality_code']).references(['id', 'municipality_code']).inTable('events');
    t.unique(['event_id', 'mykey_pk'], { indexName: 'grant_records_once_per_event' });
    t.index(['municipality_code', 'posted_at']);
    t.index(['mykey_pk', 'posted_at']);
  });
  // The grants posted before categories existed: uncategorised, so every grant has its record.
  await knex.raw(`INSERT INTO grant_records (entry_id, municipality_code, mykey_pk, points, posted_at)
    SELECT e.id, e.municipality_code, a.mykey_pk, p.amount, e.posted_at FROM ledger_entries e
    JOIN ledger_postings p ON p.entry_id = e.id JOIN ledger_accounts a ON a.id = p.account_id AND a.kind = 'resident'
    WHERE e.kind = 'grant'`);
}

export async function down(knex: Knex): Promise<void> {
  await knex.schema.dropTableIfExists('grant_records');
  await knex('service_devices').whereNull('service_id').delete();
  await knex.raw('ALTER TABLE service_devices DROP CONSTRAINT service_devices_one_thing');
  await knex.schema.alterTable('service_devices', (t) => {
    t.dropForeign(['event_id']);
    t.dropIndex(['event_id']);
    t.dropColumn('event_id');
  });
  await knex.schema.alterTable('service_devices', (t) => {
    t.bigInteger('service_id').unsigned().notNullable().alter();
  });
  await knex.schema.dropTableIfExists('events');
  await knex.schema.dropTableIfExists('event_categories');
}
