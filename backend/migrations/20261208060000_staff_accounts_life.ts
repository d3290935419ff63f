import type { Knex } from 'knex';

// The life of a staff account (docs/security/staff.md#the-life-of-an-account): an account is
// made by redeeming a one-time invitation code its organization's administrator (a shop's owner)
// issued, may be disabled and enabled again, and shows when it last signed in.
const ROLES = ['administrator', 'operator', 'auditor', 'owner', 'clerk'];

export async function up(knex: Knex): Promise<void> {
  await knex.schema.alterTable('staff_accounts', (t) => {
    t.datetime('disabled_at', { precision: 3 }).nullable().comment('set: the account cannot sign in and has no sessions');
    t.datetime('last_signed_in_at', { precision: 3 }).nullable().comment('when a full session last began');
  });
  await knex.schema.createTable('staff_invitations', (t) => {
    t.bigIncrements('id');
    t.specificType('code_hash', 'BINARY(32)').notNullable().unique().comment('SHA-256 of the code; the code itself is shown once');
    t.enum('organization_kind', ['merchant', 'municipality']).notNullable();
    t.specificType('municipality_code', 'CHAR(6)').nullable().references('code').inTable('municipalities');
    t.bigInteger('merchant_id').unsigned().nullable().references('id').inTable('merchants');
    t.string('display_name', 100).notNullable();
    t.bigInteger('issued_by_staff_id').unsigned().nullable().references('id').inTable('staff_accounts').comment("null: an operators' command");
    t.datetime('issued_at', { precision: 3 }).notNullable();
    t.datetime('expires_at', { precision: 3 }).notNullable();
    t.datetime('closed_at', { precision: 3 }).nullable().comment('redeemed, or replaced by a newer code');
    t.bigInteger('staff_id').unsigned().nullable().references('id').inTable('staff_accounts').comment('the account the code made');
    t.index(['municipality_code']);
    t.index(['merchant_id']);
  });
  await knex.raw(`ALTER TABLE staff_invitations ADD COLUMN roles SET(${ROLES.map((r) => `'${r}'`).join(', ')}) NOT NULL AFTER merchant_id`);
  // The same rule as staff_accounts_one_organization: roles only of the organization's kind.
  await knex.raw(`ALTER TABLE staff_invitations ADD CONSTRAINT staff_invitations_one_organization CHECK (
    (organization_kind = 'merchant' AND merchant_id IS NOT NULL AND municipality_code IS NULL AND roles + 0 IN (8, 16, 24)) OR
    (organization_kind = 'municipality' AND municipality_code IS NOT NULL AND merchant_id IS NULL AND roles + 0 BETWEEN 1 AND 7))`);
}

export async function down(knex: Knex): Promise<void> {
  await knex.schema.dropTableIfExists('staff_invitations');
  await knex.schema.alterTable('staff_accounts', (t) => {
    t.dropColumn('last_signed_in_at');
    t.dropColumn('disabled_at');
  });
}
