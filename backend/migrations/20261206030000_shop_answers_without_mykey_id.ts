import type { Knex } from 'knex';

// A shop never sees the MyKey ID (issue 11, docs/pseudonyms.md): its answers name the resident
// by the shop's pseudonym (`customer`). The answers stored for its clerks' and its devices'
// Idempotency-Keys before that still hold `mykeyId` (receipts, refunds, voids, logins at its
// devices), and a retry with an old key would replay it: it is taken out. The pseudonym is not
// put in its place, as it comes from MYKEY_SECRET, which a migration does not hold; such a
// replay answers without the resident (the register then asks to check today's payments).

const SHOP_SCOPES = `(
  scope IN (SELECT CONCAT('staff:', id) FROM staff_accounts WHERE role = 'merchant')
  OR scope IN (SELECT CONCAT('device:', id) FROM devices WHERE merchant_id IS NOT NULL))`;

export async function up(knex: Knex): Promise<void> {
  await knex.raw(`UPDATE idempotency_keys SET response = JSON_REMOVE(response, '$.mykeyId') WHERE ${SHOP_SCOPES} AND JSON_CONTAINS_PATH(response, 'one', '$.mykeyId')`);
}

export async function down(): Promise<void> {
  // What was taken out is not kept anywhere: nothing to put back, and nothing needs it.
}
