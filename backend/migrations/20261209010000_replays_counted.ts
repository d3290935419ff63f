import type { Knex } from 'knex';

// A replay writes before it answers (docs/architecture.md#a-replay-is-answered-only-once-durable):
// InnoDB shows a commit to other sessions before its redo is on disk, so an answer read by a
// session that wrote nothing could acknowledge what a crash then loses. Counting the replay on
// the stored row is that write; its commit flushes the log past the first commit.
export async function up(knex: Knex): Promise<void> {
  await knex.schema.alterTable('idempotency_keys', (t) => {
    t.integer('replays').unsigned().notNullable().defaultTo(0).comment('how often the key came again: its answer replayed, or refused as reused');
  });
  await knex.schema.alterTable('conversion_requests', (t) => {
    t.integer('replays').unsigned().notNullable().defaultTo(0).comment('how often this partnerTxId came again and was answered from this row');
  });
  await knex.schema.alterTable('conversion_batches', (t) => {
    t.integer('uploads').unsigned().notNullable().defaultTo(0).comment('how many uploads of this batch were answered');
  });
}

export async function down(knex: Knex): Promise<void> {
  await knex.schema.alterTable('conversion_batches', (t) => t.dropColumn('uploads'));
  await knex.schema.alterTable('conversion_requests', (t) => t.dropColumn('replays'));
  await knex.schema.alterTable('idempotency_keys', (t) => t.dropColumn('replays'));
}
