import type { Knex } from 'knex';

// Demo staff accounts (seeds/, with a published password) are marked, so that a production
// server refuses to start while one exists (docs/security/production.md). The demo accounts
// seeded before the mark existed are marked here by their login ids.
const EARLIER_DEMO_LOGINS = ['demo-shop', 'demo-city'];

export async function up(knex: Knex): Promise<void> {
  await knex.schema.alterTable('staff_accounts', (t) => {
    t.boolean('demo').notNullable().defaultTo(false).comment('a demo account of the seeds, with a published password: production refuses to start while one exists');
  });
  await knex('staff_accounts').whereIn('login_id', EARLIER_DEMO_LOGINS).update({ demo: true });
}

export async function down(knex: Knex): Promise<void> {
  await knex.schema.alterTable('staff_accounts', (t) => {
    t.dropColumn('demo');
  });
}
