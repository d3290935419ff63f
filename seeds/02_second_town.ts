// The demo's second town, あおば町, beside みらい市 (01_demo_town.ts): the demo and the tests
// always show two towns side by side, so what one town's staff, shops and devices may do to
// the other's residents and records is visible, not assumed.
import type { Knex } from 'knex';
import { DEMO_SECOND_CAMPAIGN, DEMO_SECOND_MERCHANTS, DEMO_SECOND_MUNICIPALITY, DEMO_SECOND_PAYER, DEMO_SECOND_STAFF } from '@mykey/dev-tools/demo-towns.ts';
import { seedTown } from './01_demo_town.ts';

export async function seed(knex: Knex): Promise<void> {
  await seedTown(knex, { municipality: DEMO_SECOND_MUNICIPALITY, merchants: DEMO_SECOND_MERCHANTS, campaign: DEMO_SECOND_CAMPAIGN, staff: DEMO_SECOND_STAFF, payer: DEMO_SECOND_PAYER });
}
