import type { Knex } from 'knex';

// A challenge keeps the terms its card signs on its own row (issue 10): the card-tap service
// rebuilds the text from auth_challenges alone, without reading another feature's table, and a
// purpose is any name a feature registers (the test suite registers its own), not an ENUM.
const PURPOSES_BEFORE = ['login', 'relink', 'counter_relink', 'payment', 'home_move'];

export async function up(knex: Knex): Promise<void> {
  await knex.schema.alterTable('auth_challenges', (t) => {
    t.json('terms').nullable().comment("the purpose's terms the card signs (payment: intent, amount, shop); null when the purpose has none");
  });
  await knex.raw(`UPDATE auth_challenges c JOIN payment_intents pi ON pi.id = c.payment_intent_id
    SET c.terms = JSON_OBJECT('intentId', pi.id, 'amount', pi.amount_points, 'merchantId', pi.merchant_id)`);
  await knex.raw('ALTER TABLE auth_challenges DROP CONSTRAINT auth_challenges_payment_bound');
  await knex.schema.alterTable('auth_challenges', (t) => {
    t.dropForeign(['payment_intent_id']);
    t.dropColumn('payment_intent_id');
  });
  await knex.raw('ALTER TABLE auth_challenges MODIFY purpose VARCHAR(32) NOT NULL');
}

export async function down(knex: Knex): Promise<void> {
  await knex('auth_challenges').whereNotIn('purpose', PURPOSES_BEFORE).delete();
  await knex.raw(`ALTER TABLE auth_challenges MODIFY purpose ENUM(${PURPOSES_BEFORE.map(() => '?').join(', ')}) NOT NULL`, PURPOSES_BEFORE);
  await knex.schema.alterTable('auth_challenges', (t) => {
    t.string('payment_intent_id', 25).nullable().references('id').inTable('payment_intents');
  });
  await knex.raw(`UPDATE auth_challenges SET payment_intent_id = JSON_VALUE(terms, '$.intentId') WHERE purpose = 'payment'`);
  await knex.raw(`ALTER TABLE auth_challenges ADD CONSTRAINT auth_challenges_payment_bound CHECK ((purpose = 'payment') = (payment_intent_id IS NOT NULL))`);
  await knex.schema.alterTable('auth_challenges', (t) => {
    t.dropColumn('terms');
  });
}
