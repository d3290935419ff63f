import type { Knex } from 'knex';

// The double-entry points ledger (docs/ledger.md). Amounts are signed integers of points
// (1 point = 1 yen): every entry's postings sum to zero, and an account's balance is the sum
// of its postings. What MariaDB can enforce, it does: non-negative resident and budget
// balances, lot remainders within 0..original, one account per owner, one entry per
// reference, and triggers that refuse to change or delete history.
export async function up(knex: Knex): Promise<void> {
  // Composite keys so an account or entry can name a merchant or campaign only of its own municipality.
  await knex.raw('ALTER TABLE merchants ADD UNIQUE KEY merchants_id_municipality (id, municipality_code)');
  await knex.raw('ALTER TABLE campaigns ADD UNIQUE KEY campaigns_id_municipality (id, municipality_code)');

  await knex.schema.createTable('ledger_accounts', (t) => {
    t.bigIncrements('id');
    t.specificType('municipality_code', 'CHAR(6)').notNullable().references('code').inTable('municipalities');
    t.enum('kind', ['resident', 'merchant_payable', 'campaign_budget', 'partner_clearing', 'municipality_funding', 'expired']).notNullable();
    // The owner, by kind; the municipality kinds have none.
    t.bigInteger('mykey_pk').unsigned().nullable().references('id').inTable('mykeys');
    t.bigInteger('merchant_id').unsigned().nullable();
    t.bigInteger('campaign_id').unsigned().nullable();
    t.bigInteger('partner_id').unsigned().nullable().references('id').inTable('partners');
    t.bigInteger('balance').notNullable().defaultTo(0).comment('cached: the sum of this account\'s postings');
    t.timestamp('created_at', { precision: 3 }).notNullable().defaultTo(knex.fn.now(3));
    t.foreign(['merchant_id', 'municipality_code']).references(['id', 'municipality_code']).inTable('merchants');
    t.foreign(['campaign_id', 'municipality_code']).references(['id', 'municipality_code']).inTable('campaigns');
  });
  await knex.raw(`ALTER TABLE ledger_accounts
    ADD COLUMN owner_id BIGINT UNSIGNED AS (COALESCE(mykey_pk, merchant_id, campaign_id, partner_id, 0)) STORED AFTER partner_id,
    ADD UNIQUE KEY ledger_accounts_one_per_owner (municipality_code, kind, owner_id),
    ADD CONSTRAINT ledger_accounts_owner_matches_kind CHECK (
      (kind = 'resident') = (mykey_pk IS NOT NULL) AND (kind = 'merchant_payable') = (merchant_id IS NOT NULL) AND
      (kind = 'campaign_budget') = (campaign_id IS NOT NULL) AND (kind = 'partner_clearing') = (partner_id IS NOT NULL)),
    ADD CONSTRAINT ledger_accounts_never_negative CHECK (kind NOT IN ('resident', 'campaign_budget') OR balance >= 0)`);

  await knex.schema.createTable('ledger_entries', (t) => {
    t.bigIncrements('id');
    t.specificType('municipality_code', 'CHAR(6)').notNullable().references('code').inTable('municipalities');
    t.enum('kind', ['funding', 'conversion', 'grant', 'payment', 'refund', 'void', 'expiry']).notNullable();
    t.specificType('reference', 'VARCHAR(128) CHARACTER SET ascii COLLATE ascii_bin').notNullable().unique()
      .comment('chosen by the caller: the same reference is never posted twice');
    t.specificType('request_hash', 'BINARY(32)').notNullable().comment('SHA-256 of what was asked: a reused reference with another request is refused');
    t.bigInteger('related_entry_id').unsigned().nullable().references('id').inTable('ledger_entries').comment('the payment a refund or void reverses');
    t.bigInteger('campaign_id').unsigned().nullable();
    t.datetime('posted_at', { precision: 3 }).notNullable();
    t.foreign(['campaign_id', 'municipality_code']).references(['id', 'municipality_code']).inTable('campaigns');
    t.index(['campaign_id', 'kind']);
  });
  await knex.raw(`ALTER TABLE ledger_entries
    ADD CONSTRAINT ledger_entries_reversal_names_payment CHECK ((kind IN ('refund', 'void')) = (related_entry_id IS NOT NULL)),
    ADD CONSTRAINT ledger_entries_campaign_named CHECK (kind NOT IN ('funding', 'grant') OR campaign_id IS NOT NULL)`);

  await knex.schema.createTable('ledger_postings', (t) => {
    t.bigInteger('entry_id').unsigned().notNullable().references('id').inTable('ledger_entries');
    t.bigInteger('account_id').unsigned().notNullable().references('id').inTable('ledger_accounts');
    t.bigInteger('amount').notNullable().comment('signed: + raises the account\'s balance, - lowers it');
    t.primary(['entry_id', 'account_id']);
    t.index(['account_id', 'entry_id']);
  });
  await knex.raw('ALTER TABLE ledger_postings ADD CONSTRAINT ledger_postings_not_zero CHECK (amount <> 0)');

  await knex.schema.createTable('ledger_lots', (t) => {
    t.bigIncrements('id');
    t.bigInteger('account_id').unsigned().notNullable().references('id').inTable('ledger_accounts');
    t.bigInteger('entry_id').unsigned().notNullable().references('id').inTable('ledger_entries').comment('the entry the points arrived by');
    t.bigInteger('campaign_id').unsigned().nullable().references('id').inTable('campaigns').comment('the budget that paid for them; null for converted points');
    t.bigInteger('original_points').notNullable();
    t.bigInteger('remaining_points').notNullable();
    t.datetime('expires_at', { precision: 3 }).notNullable();
    t.index(['account_id', 'campaign_id']);
  });
  // Only lots with points left carry an expiry here, so spending and the expiry job never scan spent lots.
  await knex.raw(`ALTER TABLE ledger_lots
    ADD COLUMN open_expires_at DATETIME(3) AS (IF(remaining_points > 0, expires_at, NULL)) STORED,
    ADD INDEX ledger_lots_spending_order (account_id, open_expires_at, id),
    ADD INDEX ledger_lots_expiring (open_expires_at),
    ADD CONSTRAINT ledger_lots_original_positive CHECK (original_points > 0),
    ADD CONSTRAINT ledger_lots_remaining_in_range CHECK (remaining_points BETWEEN 0 AND original_points)`);

  await knex.schema.createTable('ledger_lot_movements', (t) => {
    t.bigInteger('entry_id').unsigned().notNullable().references('id').inTable('ledger_entries');
    t.bigInteger('lot_id').unsigned().notNullable().references('id').inTable('ledger_lots');
    t.bigInteger('amount').notNullable().comment('signed change of the lot\'s remaining points');
    t.primary(['entry_id', 'lot_id']);
    t.index(['lot_id', 'entry_id']);
  });
  await knex.raw('ALTER TABLE ledger_lot_movements ADD CONSTRAINT ledger_lot_movements_not_zero CHECK (amount <> 0)');

  // History is only ever added to: corrections are new entries.
  for (const table of ['ledger_entries', 'ledger_postings', 'ledger_lot_movements']) {
    for (const [operation, verb] of [['UPDATE', 'changed'], ['DELETE', 'deleted']] as const) {
      await knex.raw(`CREATE TRIGGER ${table}_refuse_${operation.toLowerCase()} BEFORE ${operation} ON ${table} FOR EACH ROW
        SIGNAL SQLSTATE '45000' SET MESSAGE_TEXT = '${table} is append-only: a row cannot be ${verb}'`);
    }
  }
  // Accounts and lots stay; only their running figures move.
  await knex.raw(`CREATE TRIGGER ledger_accounts_refuse_update BEFORE UPDATE ON ledger_accounts FOR EACH ROW
    IF NOT (NEW.id <=> OLD.id AND NEW.municipality_code <=> OLD.municipality_code AND NEW.kind <=> OLD.kind AND NEW.mykey_pk <=> OLD.mykey_pk
      AND NEW.merchant_id <=> OLD.merchant_id AND NEW.campaign_id <=> OLD.campaign_id AND NEW.partner_id <=> OLD.partner_id) THEN
      SIGNAL SQLSTATE '45000' SET MESSAGE_TEXT = 'ledger_accounts: only the balance of an account can change';
    END IF`);
  await knex.raw(`CREATE TRIGGER ledger_lots_refuse_update BEFORE UPDATE ON ledger_lots FOR EACH ROW
    IF NOT (NEW.id <=> OLD.id AND NEW.account_id <=> OLD.account_id AND NEW.entry_id <=> OLD.entry_id AND NEW.campaign_id <=> OLD.campaign_id
      AND NEW.original_points <=> OLD.original_points AND NEW.expires_at <=> OLD.expires_at) THEN
      SIGNAL SQLSTATE '45000' SET MESSAGE_TEXT = 'ledger_lots: only the remaining points of a lot can change';
    END IF`);
  for (const table of ['ledger_accounts', 'ledger_lots']) {
    await knex.raw(`CREATE TRIGGER ${table}_refuse_delete BEFORE DELETE ON ${table} FOR EACH ROW
      SIGNAL SQLSTATE '45000' SET MESSAGE_TEXT = '${table}: a row cannot be deleted'`);
  }
}

export async function down(knex: Knex): Promise<void> {
  for (const table of ['ledger_lot_movements', 'ledger_lots', 'ledger_postings', 'ledger_entries', 'ledger_accounts']) {
    await knex.schema.dropTableIfExists(table);
  }
  await knex.raw('ALTER TABLE campaigns DROP KEY campaigns_id_municipality');
  await knex.raw('ALTER TABLE merchants DROP KEY merchants_id_municipality');
}
