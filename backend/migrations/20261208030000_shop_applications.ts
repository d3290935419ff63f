import type { Knex } from 'knex';

// A shop applies through the public form and the town's administrator decides (docs/shops.md):
// what the application holds beside the name and bank account, and `rejected` for an
// application turned down. Shops that came before (the seeds) keep nulls in the new columns.
export async function up(knex: Knex): Promise<void> {
  await knex.raw("ALTER TABLE merchants MODIFY status ENUM('pending', 'approved', 'rejected', 'suspended') NOT NULL DEFAULT 'pending'");
  await knex.schema.alterTable('merchants', (t) => {
    t.string('category', 16).nullable().comment('@mykey/contracts/shops.ts SHOP_CATEGORIES');
    t.string('address', 200).nullable();
    t.string('representative', 100).nullable().comment('代表者');
    t.string('contact_phone', 20).nullable();
    t.string('contact_email', 254).nullable();
    t.timestamp('applied_at', { precision: 3 }).nullable().comment('null for a shop that did not apply through the form');
    t.timestamp('decided_at', { precision: 3 }).nullable().comment('when staff last changed its status');
    t.string('status_reason', 200).nullable().comment('why it was rejected or suspended; null when approved');
  });
}

export async function down(knex: Knex): Promise<void> {
  await knex.schema.alterTable('merchants', (t) => {
    for (const column of ['category', 'address', 'representative', 'contact_phone', 'contact_email', 'applied_at', 'decided_at', 'status_reason']) t.dropColumn(column);
  });
  await knex.raw("UPDATE merchants SET status = 'suspended' WHERE status = 'rejected'");
  await knex.raw("ALTER TABLE merchants MODIFY status ENUM('pending', 'approved', 'suspended') NOT NULL DEFAULT 'pending'");
}
