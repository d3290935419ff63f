import type { Knex } from 'knex';

// The resident's own page (docs/resident.md): a session opened by the card's signature after its
// PIN at a town's device, bound to the MyKey ID. Stored by the SHA-256 of its token, like staff
// sessions, so a copy of the table opens no one's page. It ends when unused for idle_seconds, or
// at once when the card leaves the reader (ended_at).
export async function up(knex: Knex): Promise<void> {
  await knex.schema.createTable('resident_sessions', (t) => {
    t.specificType('token_hash', 'BINARY(32)').primary();
    t.bigInteger('mykey_pk').unsigned().notNullable().references('id').inTable('mykeys');
    t.specificType('municipality_code', 'CHAR(6)').notNullable().references('code').inTable('municipalities').comment('the town of the device where the card opened it');
    t.bigInteger('device_id').unsigned().notNullable().references('id').inTable('devices');
    t.timestamp('opened_at', { precision: 3 }).notNullable();
    t.timestamp('last_used_at', { precision: 3 }).notNullable();
    t.integer('idle_seconds').unsigned().notNullable();
    t.timestamp('ended_at', { precision: 3 }).nullable();
    t.enum('end_reason', ['card_removed', 'closed']).nullable();
    t.index(['mykey_pk']);
  });
}

export async function down(knex: Knex): Promise<void> {
  await knex.schema.dropTableIfExists('resident_sessions');
}
