import type { Knex } from 'knex';

// Where a shop is paid (docs/shops.md): the bank account its settlement is transferred to, as
// the Zengin transfer file writes it (@mykey/contracts/zengin.ts). Null until the shop gives one.
export async function up(knex: Knex): Promise<void> {
  await knex.schema.alterTable('merchants', (t) => {
    t.specificType('bank_code', 'CHAR(4)').nullable().comment('金融機関コード');
    t.string('bank_name_kana', 15).nullable().comment('the bank\'s name in Zengin text (half-width katakana)');
    t.specificType('branch_code', 'CHAR(3)').nullable().comment('支店コード');
    t.string('branch_name_kana', 15).nullable();
    t.enum('account_type', ['ordinary', 'current', 'savings']).nullable().comment('普通, 当座, 貯蓄');
    t.specificType('account_number', 'CHAR(7)').nullable();
    t.string('account_holder_kana', 30).nullable().comment('口座名義 in Zengin text (half-width katakana)');
  });
  // All or nothing: a shop has a whole account or none.
  await knex.raw(`ALTER TABLE merchants ADD CONSTRAINT merchants_whole_bank_account CHECK (
    (bank_code IS NULL) = (bank_name_kana IS NULL) AND (bank_code IS NULL) = (branch_code IS NULL) AND (bank_code IS NULL) = (branch_name_kana IS NULL)
    AND (bank_code IS NULL) = (account_type IS NULL) AND (bank_code IS NULL) = (account_number IS NULL) AND (bank_code IS NULL) = (account_holder_kana IS NULL))`);
}

export async function down(knex: Knex): Promise<void> {
  await knex.raw('ALTER TABLE merchants DROP CONSTRAINT merchants_whole_bank_account');
  await knex.schema.alterTable('merchants', (t) => {
    for (const column of ['bank_code', 'bank_name_kana', 'branch_code', 'branch_name_kana', 'account_type', 'account_number', 'account_holder_kana']) t.dropColumn(column);
  });
}
