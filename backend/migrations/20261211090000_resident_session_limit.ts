import type { Knex } from 'knex';

// The resident's page closes at the latest `closes_by` after it opened, however it is used
// (docs/resident.md#how-it-closes); and the backend ends it when its MyKey ID is suspended or
// blocked in the town while it is open.
export async function up(knex: Knex): Promise<void> {
  await knex.schema.alterTable('resident_sessions', (t) => {
    t.timestamp('closes_by', { precision: 3 }).nullable().after('idle_seconds');
  });
  await knex('resident_sessions').update({ closes_by: knex.raw('opened_at + INTERVAL 30 MINUTE') });
  await knex.raw('ALTER TABLE resident_sessions MODIFY closes_by TIMESTAMP(3) NOT NULL, ' +
    "MODIFY end_reason ENUM('card_removed', 'closed', 'mykey_suspended', 'mykey_blocked_here') NULL");
}

export async function down(knex: Knex): Promise<void> {
  await knex('resident_sessions').whereIn('end_reason', ['mykey_suspended', 'mykey_blocked_here']).update({ end_reason: 'closed' });
  await knex.raw("ALTER TABLE resident_sessions MODIFY end_reason ENUM('card_removed', 'closed') NULL");
  await knex.schema.alterTable('resident_sessions', (t) => { t.dropColumn('closes_by'); });
}
