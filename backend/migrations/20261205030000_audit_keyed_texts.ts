import type { Knex } from 'knex';

// The audit chain becomes keyed (HMAC-SHA-256 under a key derived from MYKEY_SECRET), and free
// text gets a table of its own beside the chain (backend/src/audit/chain.ts, docs/audit-log.md).
//
// Rows are append-only, so the events already written cannot be re-hashed under the key: they
// stay plain SHA-256, and audit_head.keyed_from records the first keyed seq, the upgrade's
// boundary. Every exported head repeats it, so a boundary moved later in the database shows.
// Stop the old servers and workers before migrating: an event an old process appends after
// this migration would be hashed without the key and reported as broken.
export async function up(knex: Knex): Promise<void> {
  await knex.schema.alterTable('audit_head', (t) => {
    t.bigInteger('keyed_from').unsigned().notNullable().defaultTo(1).comment('the first seq hashed with the key; events before it are plain SHA-256');
  });
  await knex.transaction(async (trx) => {
    const head = await trx('audit_head').where({ id: 1 }).forUpdate().first('last_seq');
    await trx('audit_head').where({ id: 1 }).update({ keyed_from: Number(head.last_seq) + 1 });
  });

  await knex.schema.createTable('audit_texts', (t) => {
    t.bigInteger('seq').unsigned().notNullable().comment('the event that refers to this text');
    t.string('name', 32).notNullable().comment('its name in the event, e.g. reason');
    t.specificType('ref', 'BINARY(32)').notNullable().unique().comment('HMAC-SHA-256(text key, nonce || text): what the event holds in details.texts');
    t.specificType('nonce', 'BINARY(16)').nullable().comment('erased with the text, so an erased text cannot be confirmed by guessing');
    t.text('text').nullable();
    t.datetime('erased_at', { precision: 3 }).nullable();
    t.bigInteger('erased_seq').unsigned().nullable().comment('the audit.text_erased event that erased it');
    t.primary(['seq', 'name']);
  });
  // A text is only ever erased, never changed or removed: the database itself refuses the rest.
  await knex.raw(`CREATE TRIGGER audit_texts_refuse_delete BEFORE DELETE ON audit_texts FOR EACH ROW
    SIGNAL SQLSTATE '45000' SET MESSAGE_TEXT = 'audit_texts: a text is erased, never deleted'`);
  await knex.raw(`CREATE TRIGGER audit_texts_erase_only BEFORE UPDATE ON audit_texts FOR EACH ROW
    IF NOT (OLD.erased_at IS NULL AND NEW.text IS NULL AND NEW.nonce IS NULL AND NEW.erased_at IS NOT NULL AND NEW.erased_seq IS NOT NULL
      AND NEW.seq = OLD.seq AND NEW.name = OLD.name AND NEW.ref = OLD.ref) THEN
      SIGNAL SQLSTATE '45000' SET MESSAGE_TEXT = 'audit_texts: a text can only be erased, once';
    END IF`);
}

export async function down(knex: Knex): Promise<void> {
  await knex.schema.dropTableIfExists('audit_texts');
  await knex.schema.alterTable('audit_head', (t) => {
    t.dropColumn('keyed_from');
  });
}
