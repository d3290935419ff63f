import type { Knex } from 'knex';

// The campaign figures (docs/campaign-figures.md) start from a campaign's lots: who received
// them, by which entry, and then how they were spent and expired. This index reads them without
// touching the table's rows; the foreign key's own index on campaign_id alone would visit every
// lot row to find its account and entry.
export async function up(knex: Knex): Promise<void> {
  await knex.raw('ALTER TABLE ledger_lots ADD INDEX ledger_lots_by_campaign (campaign_id, account_id, entry_id)');
}

export async function down(knex: Knex): Promise<void> {
  await knex.raw('ALTER TABLE ledger_lots DROP INDEX ledger_lots_by_campaign');
}
