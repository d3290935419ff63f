import type { Knex } from 'knex';

// Tenancy of MyKey IDs (docs/security/tenancy.md): every MyKey ID gets a home municipality, the
// town whose staff alone act on the identity as a whole; any town may block an ID in its own
// services only; and a resident moves their home with a card-signed 'home_move' challenge.
//
// Written for a populated database: the column is added nullable, filled, then made NOT NULL.
// An existing ID's home is the town of the device it was issued at (its mykey.issued event),
// else of the device where one of its cards first signed a challenge, else, when the platform
// serves a single town, that town. An ID none of these place stops the migration, naming how
// many there are, rather than being given a town by guess.
export async function up(knex: Knex): Promise<void> {
  // MySQL commits DDL at once: after a stop in backfillHomes the column is there already.
  if (!(await knex.schema.hasColumn('mykeys', 'home_municipality_code'))) {
    await knex.schema.alterTable('mykeys', (t) => {
      t.specificType('home_municipality_code', 'CHAR(6)').nullable().references('code').inTable('municipalities');
    });
  }
  await backfillHomes(knex);
  await knex.raw('ALTER TABLE mykeys MODIFY home_municipality_code CHAR(6) NOT NULL');

  await knex.schema.createTable('mykey_town_blocks', (t) => {
    t.bigInteger('mykey_pk').unsigned().notNullable().references('id').inTable('mykeys');
    t.specificType('municipality_code', 'CHAR(6)').notNullable().references('code').inTable('municipalities');
    t.timestamp('blocked_at', { precision: 3 }).notNullable();
    t.bigInteger('blocked_by_staff_id').unsigned().notNullable().references('id').inTable('staff_accounts');
    t.string('reason', 200).notNullable();
    t.primary(['mykey_pk', 'municipality_code']);
  });

  await knex.raw(`ALTER TABLE auth_challenges MODIFY purpose ENUM('login', 'relink', 'counter_relink', 'payment', 'home_move') NOT NULL`);
}

// The municipality a device serves: its own, or its shop's.
const DEVICE_TOWN = 'COALESCE(d.municipality_code, me.municipality_code)';

async function backfillHomes(knex: Knex): Promise<void> {
  await knex.raw(`UPDATE mykeys m
    JOIN audit_events e ON e.subject = m.mykey_id AND e.action = 'mykey.issued' AND e.actor_kind = 'device'
    JOIN devices d ON d.id = e.actor_id
    LEFT JOIN merchants me ON me.id = d.merchant_id
    SET m.home_municipality_code = ${DEVICE_TOWN}
    WHERE m.home_municipality_code IS NULL`);
  await knex.raw(`UPDATE mykeys m SET m.home_municipality_code = (
      SELECT ${DEVICE_TOWN} FROM mykey_certificates c
      JOIN auth_challenges ch ON ch.cert_key = c.cert_key
      JOIN devices d ON d.id = ch.device_id
      LEFT JOIN merchants me ON me.id = d.merchant_id
      WHERE c.mykey_pk = m.id AND ch.signed_at IS NOT NULL
      ORDER BY ch.signed_at, ch.id LIMIT 1)
    WHERE m.home_municipality_code IS NULL`);
  const towns = await knex('municipalities').pluck('code');
  if (towns.length === 1) await knex('mykeys').whereNull('home_municipality_code').update({ home_municipality_code: towns[0] });
  const n = Number((await knex('mykeys').whereNull('home_municipality_code').count({ n: '*' }))[0]!.n);
  if (n > 0) {
    throw new Error(`${n} MyKey IDs have no recoverable home municipality (no issuing device in the audit log, no challenge signed at a device): `
      + 'set mykeys.home_municipality_code for them by hand, then run the migration again');
  }
}

export async function down(knex: Knex): Promise<void> {
  await knex('auth_challenges').where({ purpose: 'home_move' }).delete();
  await knex.raw(`ALTER TABLE auth_challenges MODIFY purpose ENUM('login', 'relink', 'counter_relink', 'payment') NOT NULL`);
  await knex.schema.dropTableIfExists('mykey_town_blocks');
  await knex.schema.alterTable('mykeys', (t) => {
    t.dropForeign(['home_municipality_code']);
    t.dropColumn('home_municipality_code');
  });
}
