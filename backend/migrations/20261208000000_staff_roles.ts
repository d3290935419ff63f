import type { Knex } from 'knex';

// Staff roles (docs/security/staff.md#roles). `role` named the kind of organization a staff
// member works for; it is now `organization_kind`, and `roles` says what they may do there:
// municipal staff administrator, operator and/or auditor, shop staff owner and/or clerk.
// Accounts made before roles could do everything their organization's console offered, so
// they keep it: municipal staff become administrator and operator, shop staff owner.
const ROLES = ['administrator', 'operator', 'auditor', 'owner', 'clerk'];

export async function up(knex: Knex): Promise<void> {
  await knex.raw('ALTER TABLE staff_accounts DROP CONSTRAINT staff_accounts_one_organization');
  await knex.raw("ALTER TABLE staff_accounts RENAME COLUMN role TO organization_kind");
  await knex.raw(`ALTER TABLE staff_accounts ADD COLUMN roles SET(${ROLES.map((r) => `'${r}'`).join(', ')}) NOT NULL DEFAULT ''
    COMMENT 'what the staff member may do for their organization' AFTER organization_kind`);
  await knex('staff_accounts').where({ organization_kind: 'municipality' }).update({ roles: 'administrator,operator' });
  await knex('staff_accounts').where({ organization_kind: 'merchant' }).update({ roles: 'owner' });
  // A SET's number is its bits in the order above: 1–7 are municipal roles, 8, 16 and 24 a shop's.
  await knex.raw(`ALTER TABLE staff_accounts ADD CONSTRAINT staff_accounts_one_organization CHECK (
    (organization_kind = 'merchant' AND merchant_id IS NOT NULL AND municipality_code IS NULL AND roles + 0 IN (8, 16, 24)) OR
    (organization_kind = 'municipality' AND municipality_code IS NOT NULL AND merchant_id IS NULL AND roles + 0 BETWEEN 1 AND 7))`);
}

export async function down(knex: Knex): Promise<void> {
  await knex.raw('ALTER TABLE staff_accounts DROP CONSTRAINT staff_accounts_one_organization');
  await knex.raw('ALTER TABLE staff_accounts DROP COLUMN roles');
  await knex.raw('ALTER TABLE staff_accounts RENAME COLUMN organization_kind TO role');
  await knex.raw(`ALTER TABLE staff_accounts ADD CONSTRAINT staff_accounts_one_organization CHECK (
    (role = 'merchant' AND merchant_id IS NOT NULL AND municipality_code IS NULL) OR
    (role = 'municipality' AND municipality_code IS NOT NULL AND merchant_id IS NULL))`);
}
