import type { Knex } from 'knex';

// Counter redemption: a shop's register opens a payment intent (amount, shop), a resident's card
// signs a challenge bound to it, and the payment is posted to the ledger; refunds and same-day
// voids are entries of their own, recorded here against the intent they reverse.
export async function up(knex: Knex): Promise<void> {
  await knex.schema.createTable('payment_intents', (t) => {
    t.string('id', 25).primary().comment('pi_ + 16 random bytes, base64url: named in the challenge the card signs');
    t.bigInteger('merchant_id').unsigned().notNullable().references('id').inTable('merchants');
    t.bigInteger('amount_points').unsigned().notNullable();
    // open → paid or cancelled; an open intent past expires_at is shown as expired and cannot be paid.
    t.enum('status', ['open', 'paid', 'cancelled']).notNullable().defaultTo('open');
    t.bigInteger('created_by_staff_id').unsigned().notNullable().references('id').inTable('staff_accounts');
    t.timestamp('created_at', { precision: 3 }).notNullable();
    t.timestamp('expires_at', { precision: 3 }).notNullable();
    t.timestamp('cancelled_at', { precision: 3 }).nullable();
    t.bigInteger('cancelled_by_staff_id').unsigned().nullable().references('id').inTable('staff_accounts');
    // Set together when the card's payment is posted.
    t.timestamp('paid_at', { precision: 3 }).nullable();
    t.bigInteger('mykey_pk').unsigned().nullable().references('id').inTable('mykeys');
    t.bigInteger('ledger_entry_id').unsigned().nullable().unique().references('id').inTable('ledger_entries');
    t.bigInteger('paid_device_id').unsigned().nullable().references('id').inTable('devices');
    t.bigInteger('balance_after_points').unsigned().nullable().comment("the resident's spendable points right after paying");
    t.index(['merchant_id', 'paid_at']);
  });
  await knex.raw(`ALTER TABLE payment_intents ADD CONSTRAINT payment_intents_amount_in_range CHECK (amount_points BETWEEN 1 AND 10000000)`);
  await knex.raw(`ALTER TABLE payment_intents ADD CONSTRAINT payment_intents_paid_complete CHECK (
    (status = 'paid') = (paid_at IS NOT NULL AND mykey_pk IS NOT NULL AND ledger_entry_id IS NOT NULL AND paid_device_id IS NOT NULL AND balance_after_points IS NOT NULL))`);
  await knex.raw(`ALTER TABLE payment_intents ADD CONSTRAINT payment_intents_cancelled_complete CHECK (
    (status = 'cancelled') = (cancelled_at IS NOT NULL AND cancelled_by_staff_id IS NOT NULL))`);

  await knex.schema.createTable('payment_reversals', (t) => {
    t.bigIncrements('id');
    t.string('intent_id', 25).notNullable().references('id').inTable('payment_intents');
    t.enum('kind', ['refund', 'void']).notNullable();
    t.bigInteger('points').unsigned().notNullable();
    t.bigInteger('ledger_entry_id').unsigned().notNullable().unique().references('id').inTable('ledger_entries');
    t.bigInteger('staff_id').unsigned().notNullable().references('id').inTable('staff_accounts');
    t.timestamp('created_at', { precision: 3 }).notNullable();
    t.index(['intent_id']);
  });

  await knex.raw(`ALTER TABLE auth_challenges MODIFY purpose ENUM('login', 'relink', 'counter_relink', 'payment') NOT NULL`);
  await knex.schema.alterTable('auth_challenges', (t) => {
    t.string('payment_intent_id', 25).nullable().references('id').inTable('payment_intents');
  });
  await knex.raw(`ALTER TABLE auth_challenges ADD CONSTRAINT auth_challenges_payment_bound CHECK ((purpose = 'payment') = (payment_intent_id IS NOT NULL))`);
}

export async function down(knex: Knex): Promise<void> {
  await knex.raw('ALTER TABLE auth_challenges DROP CONSTRAINT auth_challenges_payment_bound');
  await knex.schema.alterTable('auth_challenges', (t) => {
    t.dropForeign(['payment_intent_id']);
    t.dropColumn('payment_intent_id');
  });
  await knex('auth_challenges').where({ purpose: 'payment' }).delete();
  await knex.raw(`ALTER TABLE auth_challenges MODIFY purpose ENUM('login', 'relink', 'counter_relink') NOT NULL`);
  await knex.schema.dropTableIfExists('payment_reversals');
  await knex.schema.dropTableIfExists('payment_intents');
}
