import type { Knex } from 'knex';

// A campaign's whole life (docs/campaigns.md): its kind, its status (planned → running ⇄ paused
// → ended), a version every change raises with the values of each version kept (a stale edit is
// told what changed since), how long the points it grants stay valid, and which partners and
// shops take part. Its leftover budget goes back to the town's funding as a ledger entry of its
// own kind, budget_return.
export async function up(knex: Knex): Promise<void> {
  await knex.schema.alterTable('campaigns', (t) => {
    t.enum('kind', ['conversion_premium', 'administrative', 'event']).nullable();
    t.enum('status', ['planned', 'running', 'paused', 'ended']).notNullable().defaultTo('planned');
    t.integer('version').unsigned().notNullable().defaultTo(1);
    t.date('points_valid_until').nullable().comment('points granted stay valid through this Japanese date…');
    t.tinyint('points_valid_months').unsigned().nullable().comment('…or through the same date this many months after the grant');
    t.boolean('all_merchants').notNullable().defaultTo(true).comment('else only the shops in campaign_merchants');
    t.boolean('all_partners').notNullable().defaultTo(true).comment('else only the partners in campaign_partners');
  });
  // The campaigns before this one ran by their dates, premium ones on conversions, the others for grants and events.
  await knex('campaigns').update({
    kind: knex.raw("IF(premium_percent > 0, 'conversion_premium', 'administrative')"), status: 'running', points_valid_until: knex.ref('ends_on'),
  });
  await knex.raw("ALTER TABLE campaigns MODIFY kind ENUM('conversion_premium', 'administrative', 'event') NOT NULL");
  await knex.raw(`ALTER TABLE campaigns
    ADD CONSTRAINT campaigns_one_validity CHECK ((points_valid_until IS NULL) <> (points_valid_months IS NULL)),
    ADD CONSTRAINT campaigns_months_in_range CHECK (points_valid_months IS NULL OR points_valid_months BETWEEN 1 AND 120),
    ADD CONSTRAINT campaigns_period_in_order CHECK (starts_on <= ends_on),
    ADD CONSTRAINT campaigns_premium_of_its_kind CHECK (kind = 'conversion_premium' OR premium_percent = 0)`);

  await knex.schema.createTable('campaign_merchants', (t) => {
    t.bigInteger('campaign_id').unsigned().notNullable();
    t.bigInteger('merchant_id').unsigned().notNullable();
    t.specificType('municipality_code', 'CHAR(6)').notNullable();
    t.primary(['campaign_id', 'merchant_id']);
    // A campaign names only shops of its own town.
    t.foreign(['campaign_id', 'municipality_code']).references(['id', 'municipality_code']).inTable('campaigns');
    t.foreign(['merchant_id', 'municipality_code']).references(['id', 'municipality_code']).inTable('merchants');
  });
  await knex.schema.createTable('campaign_partners', (t) => {
    t.bigInteger('campaign_id').unsigned().notNullable().references('id').inTable('campaigns');
    t.bigInteger('partner_id').unsigned().notNullable().references('id').inTable('partners');
    t.primary(['campaign_id', 'partner_id']);
  });
  await knex.schema.createTable('campaign_versions', (t) => {
    t.bigInteger('campaign_id').unsigned().notNullable().references('id').inTable('campaigns');
    t.integer('version').unsigned().notNullable();
    t.text('terms').notNullable().comment('the campaign as it stood at this version, JSON');
    t.bigInteger('staff_id').unsigned().nullable().references('id').inTable('staff_accounts').comment('who made it; null for one made before versions were kept');
    t.timestamp('created_at', { precision: 3 }).notNullable();
    t.primary(['campaign_id', 'version']);
  });

  await knex.raw("ALTER TABLE ledger_entries MODIFY kind ENUM('funding', 'conversion', 'grant', 'payment', 'refund', 'void', 'expiry', 'budget_return') NOT NULL");
  await knex.raw('ALTER TABLE ledger_entries DROP CONSTRAINT ledger_entries_campaign_named');
  await knex.raw("ALTER TABLE ledger_entries ADD CONSTRAINT ledger_entries_campaign_named CHECK (kind NOT IN ('funding', 'grant', 'budget_return') OR campaign_id IS NOT NULL)");
}

export async function down(knex: Knex): Promise<void> {
  await knex.raw('ALTER TABLE ledger_entries DROP CONSTRAINT ledger_entries_campaign_named');
  await knex.raw("ALTER TABLE ledger_entries ADD CONSTRAINT ledger_entries_campaign_named CHECK (kind NOT IN ('funding', 'grant') OR campaign_id IS NOT NULL)");
  await knex.raw("ALTER TABLE ledger_entries MODIFY kind ENUM('funding', 'conversion', 'grant', 'payment', 'refund', 'void', 'expiry') NOT NULL");
  for (const table of ['campaign_versions', 'campaign_partners', 'campaign_merchants']) await knex.schema.dropTable(table);
  for (const check of ['campaigns_one_validity', 'campaigns_months_in_range', 'campaigns_period_in_order', 'campaigns_premium_of_its_kind']) {
    await knex.raw(`ALTER TABLE campaigns DROP CONSTRAINT ${check}`);
  }
  await knex.schema.alterTable('campaigns', (t) => {
    for (const column of ['kind', 'status', 'version', 'points_valid_until', 'points_valid_months', 'all_merchants', 'all_partners']) t.dropColumn(column);
  });
}
