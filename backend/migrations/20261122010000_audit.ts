import type { Knex } from 'knex';

// The append-only, hash-chained audit log (backend/src/audit/chain.ts defines the hash).
// Creating the triggers needs the TRIGGER privilege on this database; with binary logging on,
// MariaDB also wants SUPER or log_bin_trust_function_creators=1 (docs/audit-log.md).
export async function up(knex: Knex): Promise<void> {
  await knex.schema.createTable('audit_events', (t) => {
    t.bigInteger('seq').unsigned().primary().comment('1, 2, 3, ... without gaps, assigned under the audit_head lock');
    t.datetime('occurred_at', { precision: 3 }).notNullable();
    t.string('action', 64).notNullable();
    t.enum('actor_kind', ['staff', 'device', 'resident', 'system']).notNullable();
    t.string('actor_id', 64).notNullable();
    t.string('subject', 64).notNullable().index().comment('a MyKey ID, device:12, ... never personal data');
    t.json('details').notNullable().comment('ids and keyed hashes only: no names, certificates or serial numbers');
    t.specificType('prev_hash', 'BINARY(32)').notNullable();
    t.specificType('hash', 'BINARY(32)').notNullable();
  });
  // Refused by the database itself, whoever connects: history is only ever added to.
  for (const [operation, verb] of [['UPDATE', 'changed'], ['DELETE', 'deleted']] as const) {
    await knex.raw(`CREATE TRIGGER audit_events_refuse_${operation.toLowerCase()} BEFORE ${operation} ON audit_events FOR EACH ROW
      SIGNAL SQLSTATE '45000' SET MESSAGE_TEXT = 'audit_events is append-only: an event cannot be ${verb}'`);
  }

  // One row, locked FOR UPDATE by every appender, so the chain never forks.
  await knex.schema.createTable('audit_head', (t) => {
    t.tinyint('id').unsigned().primary();
    t.bigInteger('last_seq').unsigned().notNullable();
    t.specificType('last_hash', 'BINARY(32)').notNullable();
  });
  await knex.raw('ALTER TABLE audit_head ADD CONSTRAINT audit_head_one_row CHECK (id = 1)');
  await knex('audit_head').insert({ id: 1, last_seq: 0, last_hash: Buffer.alloc(32) });
}

export async function down(knex: Knex): Promise<void> {
  await knex.schema.dropTableIfExists('audit_head');
  await knex.schema.dropTableIfExists('audit_events');
}
