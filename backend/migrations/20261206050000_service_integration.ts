import type { Knex } from 'knex';

// A service's own system (a library's, say) learns of the taps at its counters: a webhook URL
// and an API secret per service (sealed like a partner's), and the outbox of tap events waiting
// to be POSTed to that URL. An event row lives until the service's system has taken it: it
// carries a member number, so it is not kept beyond its delivery. docs/services-integration.md.
export async function up(knex: Knex): Promise<void> {
  await knex.schema.alterTable('services', (t) => {
    t.string('webhook_url', 2048).nullable().comment('where tap events are POSTed; null: none are');
    t.specificType('api_secret_sealed', 'VARBINARY(255)').nullable().comment('the service API secret, sealed (sealing.ts) with the service bound in');
    t.timestamp('api_secret_issued_at', { precision: 3 }).nullable();
  });

  await knex.schema.createTable('service_webhook_events', (t) => {
    t.bigIncrements('id');
    t.string('event_id', 30).notNullable().unique().comment('evt_ and 16 random bytes in base64url: the same on every attempt');
    t.bigInteger('service_id').unsigned().notNullable().references('id').inTable('services').onDelete('CASCADE');
    t.text('body').notNullable().comment('the event exactly as POSTed, JSON');
    t.integer('attempts').unsigned().notNullable().defaultTo(0);
    t.datetime('next_at', { precision: 3 }).notNullable().comment('the next attempt, or the end of a delivery lease');
    t.string('last_error', 500).nullable();
    t.timestamp('created_at', { precision: 3 }).notNullable();
    t.index(['next_at', 'service_id']);
    t.index(['service_id', 'next_at']);
  });
}

export async function down(knex: Knex): Promise<void> {
  await knex.schema.dropTableIfExists('service_webhook_events');
  await knex.schema.alterTable('services', (t) => {
    t.dropColumn('webhook_url');
    t.dropColumn('api_secret_sealed');
    t.dropColumn('api_secret_issued_at');
  });
}
