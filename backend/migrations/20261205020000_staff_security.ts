import type { Knex } from 'knex';

// Staff sign-in hardening (docs/security/staff.md): a second factor (TOTP) for staff accounts
// with single-use recovery codes, sessions that end when idle or wait for their second step,
// and the time of the last password change.
export async function up(knex: Knex): Promise<void> {
  await knex.schema.alterTable('staff_accounts', (t) => {
    t.specificType('totp_secret_sealed', 'VARBINARY(128)').nullable().comment('the TOTP secret, sealed under a subkey of MYKEY_SECRET; null: no second factor');
    t.bigInteger('totp_last_step').nullable().comment('the last TOTP time step accepted, so no code counts twice');
    t.datetime('password_changed_at', { precision: 3 }).nullable();
  });

  await knex.schema.createTable('staff_recovery_codes', (t) => {
    t.specificType('code_hash', 'BINARY(32)').primary().comment('SHA-256 of the code as issued, without dashes');
    t.bigInteger('staff_id').unsigned().notNullable().references('id').inTable('staff_accounts').onDelete('CASCADE');
    t.datetime('used_at', { precision: 3 }).nullable();
    t.index(['staff_id']);
  });

  await knex.schema.alterTable('staff_sessions', (t) => {
    t.enum('stage', ['full', 'second_factor', 'totp_enrolment']).notNullable().defaultTo('full')
      .comment('full: the console; second_factor: waits for the TOTP code; totp_enrolment: may only enrol a second factor');
    t.datetime('last_seen_at', { precision: 3 }).notNullable().defaultTo(knex.fn.now(3));
    t.integer('idle_seconds').unsigned().notNullable().defaultTo(1800).comment('the session ends when unused this long (STAFF_SESSION_IDLE_MS when it began)');
    t.specificType('pending_totp_sealed', 'VARBINARY(128)').nullable().comment('a TOTP secret shown for enrolment, not yet confirmed');
  });
}

export async function down(knex: Knex): Promise<void> {
  await knex.schema.alterTable('staff_sessions', (t) => {
    t.dropColumn('pending_totp_sealed');
    t.dropColumn('idle_seconds');
    t.dropColumn('last_seen_at');
    t.dropColumn('stage');
  });
  await knex.schema.dropTableIfExists('staff_recovery_codes');
  await knex.schema.alterTable('staff_accounts', (t) => {
    t.dropColumn('password_changed_at');
    t.dropColumn('totp_last_step');
    t.dropColumn('totp_secret_sealed');
  });
}
