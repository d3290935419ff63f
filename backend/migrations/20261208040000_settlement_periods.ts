import type { Knex } from 'knex';

// Settlement periods the municipality closes (docs/settlement.md#closed-periods): the periods
// follow one another without gaps or overlaps; each records the ledger entries it covers (an
// entry is in one period at most) and what it owes each shop, and never changes after closing.
// Beside them, the municipality's own account as the payer of the Zengin transfer file.
export async function up(knex: Knex): Promise<void> {
  await knex.schema.createTable('settlement_periods', (t) => {
    t.bigIncrements('id');
    t.specificType('municipality_code', 'CHAR(6)').notNullable().references('code').inTable('municipalities');
    t.date('starts_on').notNullable().comment('Japan dates, both included');
    t.date('ends_on').notNullable();
    t.date('pay_on').notNullable().comment('振込指定日: the day the shops are paid');
    t.bigInteger('closed_by').unsigned().notNullable().references('id').inTable('staff_accounts');
    t.timestamp('closed_at', { precision: 3 }).notNullable();
    t.unique(['municipality_code', 'starts_on']);
    t.unique(['municipality_code', 'ends_on']);
  });
  await knex.raw(`ALTER TABLE settlement_periods
    ADD CONSTRAINT settlement_periods_in_order CHECK (starts_on <= ends_on AND ends_on < pay_on)`);

  await knex.schema.createTable('settlement_period_entries', (t) => {
    // The entry's own id is the key: an entry is settled in one period only.
    t.bigInteger('entry_id').unsigned().primary().references('id').inTable('ledger_entries');
    t.bigInteger('period_id').unsigned().notNullable().references('id').inTable('settlement_periods');
    t.index(['period_id', 'entry_id']);
  });

  await knex.schema.createTable('settlement_period_payouts', (t) => {
    t.bigInteger('period_id').unsigned().notNullable().references('id').inTable('settlement_periods');
    t.bigInteger('merchant_id').unsigned().notNullable().references('id').inTable('merchants');
    t.bigInteger('net_points').notNullable().comment('payments − refunds − voids of the entries the period covers');
    t.bigInteger('carried_points').notNullable().comment('what the shop still owed from earlier periods: 0 or negative');
    t.bigInteger('transfer_points').notNullable().comment('paid by the transfer file: net + carried, at least 0');
    t.primary(['period_id', 'merchant_id']);
  });
  await knex.raw(`ALTER TABLE settlement_period_payouts
    ADD CONSTRAINT settlement_period_payouts_figures CHECK (carried_points <= 0 AND transfer_points = GREATEST(net_points + carried_points, 0))`);

  // A closed period never changes.
  for (const table of ['settlement_periods', 'settlement_period_entries', 'settlement_period_payouts']) {
    for (const [operation, verb] of [['UPDATE', 'changed'], ['DELETE', 'deleted']] as const) {
      await knex.raw(`CREATE TRIGGER ${table}_refuse_${operation.toLowerCase()} BEFORE ${operation} ON ${table} FOR EACH ROW
        SIGNAL SQLSTATE '45000' SET MESSAGE_TEXT = '${table}: a closed period cannot be ${verb}'`);
    }
  }

  await knex.schema.createTable('municipality_payers', (t) => {
    t.specificType('municipality_code', 'CHAR(6)').primary().references('code').inTable('municipalities');
    t.specificType('requester_code', 'CHAR(10)').notNullable().comment('依頼人コード, given by the bank');
    t.string('requester_name_kana', 40).notNullable().comment('依頼人名 in Zengin text');
    t.specificType('bank_code', 'CHAR(4)').notNullable();
    t.string('bank_name_kana', 15).notNullable();
    t.specificType('branch_code', 'CHAR(3)').notNullable();
    t.string('branch_name_kana', 15).notNullable();
    t.enum('account_type', ['ordinary', 'current', 'savings']).notNullable();
    t.specificType('account_number', 'CHAR(7)').notNullable();
    t.timestamp('updated_at', { precision: 3 }).notNullable();
  });
}

export async function down(knex: Knex): Promise<void> {
  for (const table of ['municipality_payers', 'settlement_period_payouts', 'settlement_period_entries', 'settlement_periods']) {
    await knex.schema.dropTableIfExists(table);
  }
}
