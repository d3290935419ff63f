import type { Knex } from 'knex';

// The stored answers of mutating calls, keyed by the caller and the caller's Idempotency-Key.
export async function up(knex: Knex): Promise<void> {
  await knex.schema.createTable('idempotency_keys', (t) => {
    t.string('scope', 80).notNullable().comment('who asked: e.g. staff:12, device:3');
    t.string('idempotency_key', 128).notNullable();
    t.specificType('request_hash', 'BINARY(32)').notNullable();
    t.smallint('status_code').unsigned().notNullable();
    t.json('response').notNullable();
    t.timestamp('created_at', { precision: 3 }).notNullable().defaultTo(knex.fn.now(3)).index();
    t.primary(['scope', 'idempotency_key']);
  });
}

export async function down(knex: Knex): Promise<void> {
  await knex.schema.dropTableIfExists('idempotency_keys');
}
