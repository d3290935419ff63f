import type { Knex } from 'knex';

// Evacuation shelters a town opens for a disaster or a drill, the devices serving each, and the
// stays residents' taps record: in at one device, out by a tap, a move to another shelter or the
// shelter's closing. A stay still open is the resident inside; one resident is inside one shelter
// at most, which the unique `inside_mykey_pk` holds even against two taps at once. docs/shelters.md.
export async function up(knex: Knex): Promise<void> {
  await knex.schema.createTable('shelters', (t) => {
    t.bigIncrements('id');
    t.specificType('municipality_code', 'CHAR(6)').notNullable().references('code').inTable('municipalities');
    t.string('name_ja', 100).notNullable();
    t.string('name_en', 100).notNullable();
    t.string('place', 200).notNullable().comment('the address as staff typed it');
    t.integer('capacity').unsigned().notNullable();
    t.boolean('drill').notNullable();
    t.timestamp('opened_at', { precision: 3 }).notNullable();
    t.timestamp('closed_at', { precision: 3 }).nullable();
    t.timestamp('updated_at', { precision: 3 }).notNullable();
    t.index(['municipality_code', 'closed_at']);
    t.index(['closed_at']);
  });

  await knex.schema.createTable('shelter_devices', (t) => {
    t.bigInteger('device_id').unsigned().primary().references('id').inTable('devices').comment('a device serves one shelter at most');
    t.bigInteger('shelter_id').unsigned().notNullable().references('id').inTable('shelters');
    t.index(['shelter_id']);
  });

  await knex.schema.createTable('shelter_stays', (t) => {
    t.bigIncrements('id');
    t.bigInteger('shelter_id').unsigned().notNullable().references('id').inTable('shelters');
    t.bigInteger('mykey_pk').unsigned().notNullable().references('id').inTable('mykeys');
    t.timestamp('in_at', { precision: 3 }).notNullable();
    t.bigInteger('in_device_id').unsigned().notNullable().references('id').inTable('devices');
    t.timestamp('out_at', { precision: 3 }).nullable();
    t.bigInteger('out_device_id').unsigned().nullable().references('id').inTable('devices').comment('the device of a check-out tap; null for a move or a closing');
    t.enum('out_by', ['tap', 'move', 'close']).nullable();
    t.index(['shelter_id', 'out_at']);
    t.index(['mykey_pk']);
  });
  // The resident while inside, null once out: unique, so a second open stay cannot be written.
  await knex.raw('ALTER TABLE shelter_stays ADD COLUMN inside_mykey_pk BIGINT UNSIGNED AS (IF(out_at IS NULL, mykey_pk, NULL)) PERSISTENT, ADD UNIQUE INDEX shelter_stays_inside_unique (inside_mykey_pk)');
}

export async function down(knex: Knex): Promise<void> {
  for (const table of ['shelter_stays', 'shelter_devices', 'shelters']) await knex.schema.dropTableIfExists(table);
}
