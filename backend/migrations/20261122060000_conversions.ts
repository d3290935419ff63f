import type { Knex } from 'knex';

// Partner conversions (docs/partner-api.md): a partner's signed request to turn a resident's
// card points or miles into municipal points. The request row is committed before anything is
// queued; the worker credits the ledger and moves the row to `credited` in one transaction, so
// a job run twice credits once. The partner learns the outcome by a signed webhook.
export async function up(knex: Knex): Promise<void> {
  await knex.schema.alterTable('partners', (t) => {
    t.enum('status', ['active', 'suspended']).notNullable().defaultTo('active');
    t.specificType('api_secret_sealed', 'VARBINARY(255)').nullable()
      .comment('the HMAC secret, sealed (AES-256-GCM) under a subkey of MYKEY_SECRET; null: no API access');
    t.string('webhook_url', 2048).nullable().comment('where outcomes are sent; null: the partner polls');
  });

  await knex.schema.createTable('conversion_requests', (t) => {
    t.bigIncrements('id').comment('the conversion id given to the partner');
    t.bigInteger('partner_id').unsigned().notNullable().references('id').inTable('partners');
    t.specificType('partner_tx_id', 'VARCHAR(64) CHARACTER SET ascii COLLATE ascii_bin').notNullable();
    t.specificType('request_hash', 'BINARY(32)').notNullable().comment('SHA-256 of the canonical request: the same partnerTxId with another body is refused');
    t.specificType('municipality_code', 'CHAR(6)').notNullable().references('code').inTable('municipalities');
    t.bigInteger('mykey_pk').unsigned().notNullable().references('id').inTable('mykeys');
    t.bigInteger('partner_points').unsigned().notNullable().comment('in the partner\'s units (card points, miles)');
    t.bigInteger('points').unsigned().notNullable().comment('municipal points at the partner\'s rate when accepted, rounded down');
    t.bigInteger('batch_id').unsigned().nullable().comment('the batch file it came in, if any');
    t.integer('batch_line').unsigned().nullable();
    t.enum('state', ['accepted', 'credited', 'rejected']).notNullable().defaultTo('accepted');
    t.datetime('accepted_at', { precision: 3 }).notNullable();
    t.datetime('queued_at', { precision: 3 }).nullable().comment('last time a job was enqueued for it; the sweeper re-enqueues accepted rows left unqueued');
    t.integer('attempts').unsigned().notNullable().defaultTo(0).comment('processing attempts that ended in a transient error');
    t.datetime('finished_at', { precision: 3 }).nullable();
    // Credited: the ledger entry and what it gave. Rejected: a stable code and a detail.
    t.bigInteger('entry_id').unsigned().nullable().references('id').inTable('ledger_entries');
    t.bigInteger('campaign_id').unsigned().nullable().references('id').inTable('campaigns');
    t.bigInteger('base_points').unsigned().nullable();
    t.bigInteger('premium_points').unsigned().nullable();
    t.string('reject_code', 64).nullable();
    t.string('reject_detail', 500).nullable();
    // The webhook telling the partner the outcome: pending until the partner answers 2xx.
    t.enum('webhook_state', ['none', 'pending', 'delivered']).notNullable().defaultTo('none');
    t.integer('webhook_attempts').unsigned().notNullable().defaultTo(0);
    t.datetime('webhook_next_at', { precision: 3 }).nullable();
    t.datetime('webhook_delivered_at', { precision: 3 }).nullable();
    t.string('webhook_last_error', 500).nullable();
    t.unique(['partner_id', 'partner_tx_id']);
    t.index(['state', 'queued_at']);
    t.index(['webhook_state', 'webhook_next_at']);
    t.index(['batch_id', 'batch_line']);
    t.index(['partner_id', 'finished_at']);
  });
  await knex.raw(`ALTER TABLE conversion_requests
    ADD CONSTRAINT conversion_requests_points_positive CHECK (partner_points > 0 AND points > 0),
    ADD CONSTRAINT conversion_requests_outcome CHECK (
      (state = 'accepted' AND entry_id IS NULL AND reject_code IS NULL AND finished_at IS NULL) OR
      (state = 'credited' AND entry_id IS NOT NULL AND reject_code IS NULL AND finished_at IS NOT NULL AND base_points IS NOT NULL AND premium_points IS NOT NULL) OR
      (state = 'rejected' AND entry_id IS NULL AND reject_code IS NOT NULL AND finished_at IS NOT NULL))`);
}

export async function down(knex: Knex): Promise<void> {
  await knex.schema.dropTableIfExists('conversion_requests');
  await knex.schema.alterTable('partners', (t) => {
    t.dropColumn('webhook_url');
    t.dropColumn('api_secret_sealed');
    t.dropColumn('status');
  });
}
