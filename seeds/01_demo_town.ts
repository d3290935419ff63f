// The demo's first town, みらい市, and the partner it works with. Re-running updates the demo
// rows in place and never duplicates them: every row has a natural key and is upserted on it.
import type { Knex } from 'knex';
import { hashPassword } from '../backend/src/staff/password.ts';
import { fundCampaign } from '../backend/src/ledger/ledger.ts';

export const DEMO_MUNICIPALITY = { code: '139998', name_ja: 'みらい市（デモ）', name_en: 'Mirai City (demo)' };

export const DEMO_MERCHANTS = [
  { slug: 'demo-bakery', name_ja: 'みらいベーカリー', name_en: 'Mirai Bakery' },
  { slug: 'demo-greengrocer', name_ja: '駅前青果店', name_en: 'Ekimae Greengrocer' },
  { slug: 'demo-bookshop', name_ja: 'ひかり書店', name_en: 'Hikari Bookshop' },
];

export const DEMO_PARTNER = {
  slug: 'demo-card', name_ja: 'デモカード株式会社', name_en: 'Demo Card Co., Ltd.',
  kind: 'card_points', rate_units: 100, rate_points: 80,
};

/** The demo partner's agreement with each demo town (`npm run mykey -- partner-agreement list`). */
export const DEMO_AGREEMENT = { starts_on: '2026-04-01' };

export const DEMO_CAMPAIGN = {
  slug: 'demo-shopping-2026', name_ja: 'みらい市 地域応援ポイント 2026', name_en: 'Mirai City local support points 2026',
  premium_percent: 20, budget_points: 10_000_000, cap_per_resident_points: 5_000,
  starts_on: '2026-04-01', ends_on: '2027-03-31',
};

/** Demo staff accounts; their password is printed by `npm start`. Never used outside a demo. */
export const DEMO_PASSWORD = 'mirai-demo-counter';
export const DEMO_STAFF = [
  { login_id: 'demo-shop', display_name: '店員 花子', role: 'merchant', merchant: 'demo-bakery' },
  { login_id: 'demo-city', display_name: '市職員 太郎', role: 'municipality', merchant: null },
] as const;

/** A demo town's rows: the municipality, its shops, a funded campaign, its staff accounts and the demo partner's agreement with it. */
export interface DemoTown {
  municipality: { code: string; name_ja: string; name_en: string };
  merchants: ReadonlyArray<{ slug: string; name_ja: string; name_en: string }>;
  campaign: typeof DEMO_CAMPAIGN;
  staff: ReadonlyArray<{ login_id: string; display_name: string; role: 'merchant' | 'municipality'; merchant: string | null }>;
}

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
  for (const staff of town.staff) {
    const organization = staff.merchant
      ? { merchant_id: await merchantId(knex, staff.merchant), municipality_code: null }
      : { merchant_id: null, municipality_code: code };
    // Only the demo mark is merged: a password someone changed on the demo stays changed. The
    // mark keeps a production server from starting while the account exists.
    await knex('staff_accounts')
      .insert({ login_id: staff.login_id, display_name: staff.display_name, role: staff.role,
        password_hash: await hashPassword(DEMO_PASSWORD), demo: true, ...organization })
      .onConflict('login_id').merge(['demo']);
  }
}

export async function seed(knex: Knex): Promise<void> {
  // Partners work with towns; each town's seed adds the demo partner's agreement with it.
  await knex('partners').insert(DEMO_PARTNER).onConflict('slug').merge();
  await seedTown(knex, { municipality: DEMO_MUNICIPALITY, merchants: DEMO_MERCHANTS, campaign: DEMO_CAMPAIGN, staff: DEMO_STAFF });
}
