// The demo's first town, みらい市, and the partner it works with (their rows are in
// @mykey/dev-tools/demo-towns.ts). Re-running updates the demo rows in place and never
// duplicates them: every row has a natural key and is upserted on it.
import type { Knex } from 'knex';
import { DEMO_AGREEMENT, DEMO_CAMPAIGN, DEMO_EVENT_CATEGORIES, DEMO_MERCHANTS, DEMO_MUNICIPALITY, DEMO_PARTNER, DEMO_PASSWORD, DEMO_PAYER, DEMO_STAFF, type DemoTown } from '@mykey/dev-tools/demo-towns.ts';
import { hashPassword } from '@mykey/backend/staff/password.ts';
import { staffPasswordCost } from '@mykey/backend/config.ts';
import { fundCampaign } from '@mykey/backend/ledger/ledger.ts';

async function merchantId(knex: Knex, slug: string): Promise<number> {
  const row = await knex('merchants').where({ slug }).first('id');
  return row.id;
}

/** Upserts one demo town; every town of the demo is seeded the same way (see 02_second_town.ts). */
export async function seedTown(knex: Knex, town: DemoTown): Promise<void> {
  const { code } = town.municipality;
  await knex('municipalities').insert(town.municipality).onConflict('code').merge();
  await knex('merchants')
    .insert(town.merchants.map((m) => ({ ...m, municipality_code: code, status: 'approved' })))
    .onConflict('slug').merge();
  // The demo partner may credit each demo town's points: an open-ended agreement, added once
  // (an agreement an operator ended stays ended).
  const partner = await knex('partners').where({ slug: DEMO_PARTNER.slug }).first('id');
  if (!(await knex('partner_agreements').where({ partner_id: partner.id, municipality_code: code }).first('id'))) {
    await knex('partner_agreements')
      .insert({ partner_id: partner.id, municipality_code: code, status: 'active', starts_on: DEMO_AGREEMENT.starts_on, created_at: new Date() });
  }
  await knex('campaigns').insert({ ...town.campaign, municipality_code: code }).onConflict('slug').merge();
  // The campaign's budget moves into the ledger once: a re-seed replays the same reference.
  const campaign = await knex('campaigns').where({ slug: town.campaign.slug }).first('id');
  await knex.transaction((trx) => fundCampaign(trx, {
    reference: `seed:fund:${town.campaign.slug}:${town.campaign.budget_points}`, campaignId: Number(campaign.id), points: town.campaign.budget_points,
  }));
  // Added once by name: a category the town renamed is left as it is (and the demo's name added again).
  const now = new Date();
  await knex('event_categories').insert(DEMO_EVENT_CATEGORIES.map((c) => ({ ...c, municipality_code: code, created_at: now, updated_at: now })))
    .onConflict(['municipality_code', 'name_ja']).ignore();
  // The town as the payer of its transfer file, added once: details the town changed stay changed.
  await knex('municipality_payers').insert({ ...town.payer, municipality_code: code, updated_at: now }).onConflict('municipality_code').ignore();
  for (const staff of town.staff) {
    const organization = staff.merchant
      ? { merchant_id: await merchantId(knex, staff.merchant), municipality_code: null }
      : { merchant_id: null, municipality_code: code };
    // Only the demo mark is merged: a password someone changed on the demo stays changed. The
    // mark keeps a production server from starting while the account exists.
    await knex('staff_accounts')
      .insert({ login_id: staff.login_id, display_name: staff.display_name, organization_kind: staff.organization_kind, roles: staff.roles,
        password_hash: await hashPassword(DEMO_PASSWORD, staffPasswordCost()), demo: true, ...organization })
      .onConflict('login_id').merge(['demo']);
  }
}

export async function seed(knex: Knex): Promise<void> {
  // Partners work with towns; each town's seed adds the demo partner's agreement with it.
  await knex('partners').insert(DEMO_PARTNER).onConflict('slug').merge();
  await seedTown(knex, { municipality: DEMO_MUNICIPALITY, merchants: DEMO_MERCHANTS, campaign: DEMO_CAMPAIGN, staff: DEMO_STAFF, payer: DEMO_PAYER });
}
