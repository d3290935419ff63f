import type { Knex } from 'knex';

// Families find each other (docs/family.md). A counter device's request shows the resident what
// their card will sign (an offer under a code, or an acceptance of one); a pairing is two
// residents' consent: offered by one card, linked when a second card accepts its code, ended for
// both when either withdraws. The labels are what each resident chose to be seen as by the other.
export async function up(knex: Knex): Promise<void> {
  await knex.schema.createTable('family_requests', (t) => {
    t.string('id', 25).primary().comment('fr_ and 16 random bytes in base64url');
    t.specificType('municipality_code', 'CHAR(6)').notNullable().references('code').inTable('municipalities');
    t.bigInteger('device_id').unsigned().notNullable().references('id').inTable('devices');
    t.enum('action', ['offer', 'accept']).notNullable();
    t.specificType('code', 'CHAR(8)').notNullable().comment('offer: the fresh code; accept: the code typed');
    t.string('label', 30).notNullable();
    t.bigInteger('pairing_id').unsigned().nullable().comment('accept: the offered pairing the code named');
    t.enum('status', ['open', 'done']).notNullable();
    t.timestamp('created_at', { precision: 3 }).notNullable();
    t.timestamp('expires_at', { precision: 3 }).notNullable();
    t.specificType('offer_code', 'CHAR(8)').nullable().unique().comment('offer: its code again, unique: two requests never hand out the same code');
    t.index(['expires_at']);
  });

  await knex.schema.createTable('family_pairings', (t) => {
    t.bigIncrements('id');
    t.specificType('municipality_code', 'CHAR(6)').notNullable().references('code').inTable('municipalities');
    t.specificType('code', 'CHAR(8)').notNullable().unique();
    t.bigInteger('offerer_mykey_pk').unsigned().notNullable().references('id').inTable('mykeys');
    t.string('offerer_label', 30).notNullable();
    t.timestamp('offered_at', { precision: 3 }).notNullable();
    t.timestamp('accept_by', { precision: 3 }).notNullable();
    t.bigInteger('accepter_mykey_pk').unsigned().nullable().references('id').inTable('mykeys');
    t.string('accepter_label', 30).nullable();
    t.timestamp('linked_at', { precision: 3 }).nullable();
    t.timestamp('ended_at', { precision: 3 }).nullable().comment('withdrawn by either resident: ended for both');
    t.index(['offerer_mykey_pk', 'ended_at']);
    t.index(['accepter_mykey_pk', 'ended_at']);
  });
}

export async function down(knex: Knex): Promise<void> {
  for (const table of ['family_pairings', 'family_requests']) await knex.schema.dropTableIfExists(table);
}
