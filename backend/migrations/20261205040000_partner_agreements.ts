import type { Knex } from 'knex';

// Partner agreements (docs/partner-api.md#agreements): a partner credits points only in a
// municipality that has signed with it. One row per agreement, kept after it ends, so the
// municipality can see when it was in force; at most one row per pair is active.
// The audit log gains the partner as an actor (a partner's download of a batch result file).
export async function up(knex: Knex): Promise<void> {
  await knex.schema.createTable('partner_agreements', (t) => {
    t.bigIncrements('id');
    t.bigInteger('partner_id').unsigned().notNullable().references('id').inTable('partners');
    t.specificType('municipality_code', 'CHAR(6)').notNullable().references('code').inTable('municipalities');
    t.enum('status', ['active', 'ended']).notNullable().defaultTo('active');
    t.date('starts_on').notNullable().comment('first day (Japan time) conversions are accepted');
    t.date('ends_on').nullable().comment('last day (Japan time) conversions are accepted; null: until ended');
    t.datetime('created_at', { precision: 3 }).notNullable();
    t.datetime('ended_at', { precision: 3 }).nullable().comment('when an operator ended it');
    t.index(['municipality_code']);
  });
  // NULL once ended: the unique key then holds one active agreement per pair and any number of ended ones.
  await knex.raw(`ALTER TABLE partner_agreements
    ADD COLUMN active_pair TINYINT AS (IF(status = 'active', 1, NULL)) PERSISTENT,
    ADD UNIQUE KEY partner_agreements_one_active (partner_id, municipality_code, active_pair),
    ADD CONSTRAINT partner_agreements_dates CHECK (ends_on IS NULL OR ends_on >= starts_on)`);
  await knex.raw(`ALTER TABLE audit_events MODIFY actor_kind ENUM('staff', 'device', 'resident', 'system', 'partner') NOT NULL`);
}

export async function down(knex: Knex): Promise<void> {
  await knex.raw(`ALTER TABLE audit_events MODIFY actor_kind ENUM('staff', 'device', 'resident', 'system') NOT NULL`);
  await knex.schema.dropTableIfExists('partner_agreements');
}
