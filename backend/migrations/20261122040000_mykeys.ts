import type { Knex } from 'knex';

// MyKey IDs, the cards linked to them, and the challenges cards sign. A card is known only by
// a keyed hash of its certificate's issuer and serial: nothing else of the certificate is kept.
export async function up(knex: Knex): Promise<void> {
  await knex.schema.createTable('mykeys', (t) => {
    t.bigIncrements('id');
    t.specificType('mykey_id', 'CHAR(8)').notNullable().unique();
    t.enum('status', ['active', 'suspended']).notNullable().defaultTo('active');
    t.timestamp('suspended_at', { precision: 3 }).nullable();
    t.bigInteger('suspended_by_staff_id').unsigned().nullable().references('id').inTable('staff_accounts');
    t.string('suspension_reason', 200).nullable();
    t.timestamp('created_at', { precision: 3 }).notNullable().defaultTo(knex.fn.now(3));
  });

  await knex.schema.createTable('mykey_certificates', (t) => {
    t.specificType('cert_key', 'BINARY(32)').primary().comment('keyed HMAC of issuer and serial');
    t.bigInteger('mykey_pk').unsigned().notNullable().references('id').inTable('mykeys');
    // active: logs in; replaced: a newer card was linked; revoked: found on a CRL.
    t.enum('status', ['active', 'replaced', 'revoked']).notNullable().defaultTo('active');
    t.enum('link_method', ['issued', 'both_cards', 'linkage_file', 'counter']).notNullable();
    t.timestamp('linked_at', { precision: 3 }).notNullable().defaultTo(knex.fn.now(3));
    t.timestamp('ended_at', { precision: 3 }).nullable();
    t.index(['mykey_pk', 'status']);
  });

  await knex.schema.createTable('auth_challenges', (t) => {
    t.string('id', 43).primary().comment('32 random bytes, base64url: the nonce itself');
    t.bigInteger('device_id').unsigned().notNullable().references('id').inTable('devices');
    t.enum('purpose', ['login', 'relink', 'counter_relink']).notNullable();
    t.timestamp('created_at', { precision: 3 }).notNullable().defaultTo(knex.fn.now(3));
    t.timestamp('expires_at', { precision: 3 }).notNullable().index();
    // Set once a card's signature over it was accepted: the card that signed, and when.
    t.specificType('cert_key', 'BINARY(32)').nullable();
    t.timestamp('signed_at', { precision: 3 }).nullable();
    // Set once a relink used the signed challenge as its proof of the card.
    t.timestamp('consumed_at', { precision: 3 }).nullable();
  });
}

export async function down(knex: Knex): Promise<void> {
  for (const table of ['auth_challenges', 'mykey_certificates', 'mykeys']) await knex.schema.dropTableIfExists(table);
}
