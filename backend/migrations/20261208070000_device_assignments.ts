import type { Knex } from 'knex';

// The device rule in one table (docs/architecture.md#a-device-serves-one-thing-at-a-time): a device serves one thing
// at a time, the last it was given to — a service, an event or a shelter. Services and events
// shared service_devices; shelters had shelter_devices of their own and checked it against
// service_devices on every read. Now service_devices, renamed device_assignments, takes shelters
// too, and its key is still the device. A device in both tables served the service or event
// (a service took it after the shelter did), so that row wins.
export async function up(knex: Knex): Promise<void> {
  await knex.raw('ALTER TABLE service_devices DROP CONSTRAINT service_devices_one_thing');
  await knex.schema.renameTable('service_devices', 'device_assignments');
  await knex.schema.alterTable('device_assignments', (t) => {
    t.bigInteger('shelter_id').unsigned().nullable().references('id').inTable('shelters').comment('a shelter this device serves instead');
    t.index(['shelter_id']);
  });
  await knex.raw(`ALTER TABLE device_assignments ADD CONSTRAINT device_assignments_one_thing
    CHECK ((service_id IS NOT NULL) + (event_id IS NOT NULL) + (shelter_id IS NOT NULL) = 1)`);
  await knex.raw(`INSERT INTO device_assignments (device_id, shelter_id)
    SELECT sd.device_id, sd.shelter_id FROM shelter_devices sd
    WHERE NOT EXISTS (SELECT 1 FROM device_assignments da WHERE da.device_id = sd.device_id)`);
  await knex.schema.dropTable('shelter_devices');
}

export async function down(knex: Knex): Promise<void> {
  await knex.schema.createTable('shelter_devices', (t) => {
    t.bigInteger('device_id').unsigned().primary().references('id').inTable('devices').comment('a device serves one shelter at most');
    t.bigInteger('shelter_id').unsigned().notNullable().references('id').inTable('shelters');
    t.index(['shelter_id']);
  });
  await knex.raw('INSERT INTO shelter_devices (device_id, shelter_id) SELECT device_id, shelter_id FROM device_assignments WHERE shelter_id IS NOT NULL');
  await knex('device_assignments').whereNotNull('shelter_id').delete();
  await knex.raw('ALTER TABLE device_assignments DROP CONSTRAINT device_assignments_one_thing');
  await knex.schema.alterTable('device_assignments', (t) => {
    t.dropForeign(['shelter_id']);
    t.dropIndex(['shelter_id']);
    t.dropColumn('shelter_id');
  });
  await knex.schema.renameTable('device_assignments', 'service_devices');
  await knex.raw('ALTER TABLE service_devices ADD CONSTRAINT service_devices_one_thing CHECK ((service_id IS NULL) <> (event_id IS NULL))');
}
