// The demo's second town, あおば町, beside みらい市 (01_demo_town.ts): the demo and the tests
// always show two towns side by side, so what one town's staff, shops and devices may do to
// the other's residents and records is visible, not assumed.
import type { Knex } from 'knex';
import { seedTown } from './01_demo_town.ts';

/** 13997 with its check digit 1: a made-up code that belongs to no real local government. */
export const DEMO_SECOND_MUNICIPALITY = { code: '139971', name_ja: 'あおば町（デモ）', name_en: 'Aoba Town (demo)' };

export const DEMO_SECOND_MERCHANTS = [
  { slug: 'demo-aoba-cafe', name_ja: 'あおば珈琲店', name_en: 'Aoba Coffee' },
];

export const DEMO_SECOND_CAMPAIGN = {
  slug: 'demo-aoba-2026', name_ja: 'あおば町 くらし応援ポイント 2026', name_en: 'Aoba Town living support points 2026',
  premium_percent: 10, budget_points: 2_000_000, cap_per_resident_points: 3_000,
  starts_on: '2026-04-01', ends_on: '2027-03-31',
};

/** Its staff, with the same demo password as the first town's. */
export const DEMO_SECOND_STAFF = [
  { login_id: 'demo-aoba-shop', display_name: '店員 桜', role: 'merchant', merchant: 'demo-aoba-cafe' },
  { login_id: 'demo-aoba-city', display_name: '町職員 次郎', role: 'municipality', merchant: null },
] as const;

export async function seed(knex: Knex): Promise<void> {
  await seedTown(knex, { municipality: DEMO_SECOND_MUNICIPALITY, merchants: DEMO_SECOND_MERCHANTS, campaign: DEMO_SECOND_CAMPAIGN, staff: DEMO_SECOND_STAFF });
}
