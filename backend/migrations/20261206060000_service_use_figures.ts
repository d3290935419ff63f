import type { Knex } from 'knex';

// The figures of a service read its uses by service and time (docs/services-figures.md): without
// this index every figure would scan the town's every use.
export async function up(knex: Knex): Promise<void> {
  await knex.schema.alterTable('service_uses', (t) => {
    t.index(['service_id', 'used_at'], 'service_uses_service_id_used_at_index');
  });
}

export async function down(knex: Knex): Promise<void> {
  // The foreign key on service_id may have taken this index for its own: it gets one of its own first.
  await knex.schema.alterTable('service_uses', (t) => {
    t.index(['service_id'], 'service_uses_service_id_index');
  });
  await knex.schema.alterTable('service_uses', (t) => {
    t.dropIndex(['service_id', 'used_at'], 'service_uses_service_id_used_at_index');
  });
}
