import type { Knex } from 'knex';

// A counter device's journal key: the Ed25519 public key its reader agent signs the entries of
// its offline journal with (taps it could not send when they were made). Registered once by the
// device; a different key needs the device enrolled again. docs/tap-journal.md.
export async function up(knex: Knex): Promise<void> {
  await knex.schema.alterTable('devices', (t) => {
    t.specificType('journal_public_key', 'VARBINARY(128)').nullable().comment('SPKI DER of the Ed25519 key the agent signs journal entries with');
    t.timestamp('journal_key_registered_at', { precision: 3 }).nullable();
  });
}

export async function down(knex: Knex): Promise<void> {
  await knex.schema.alterTable('devices', (t) => {
    t.dropColumn('journal_key_registered_at');
    t.dropColumn('journal_public_key');
  });
}
