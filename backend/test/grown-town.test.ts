// The grown town's loader (backend/bench/lib/grown-town.ts): what `ledger check` cannot see.
// The check verifies the ledger it loads (the benchmarks' tiny-size run); these verify the MyKey
// IDs, which nothing in a benchmark reads back, and the split of the entries into kinds.
import test from 'ava';
import { parseMykeyId } from '@mykey/contracts/mykey-id.ts';
import { grownMykeyId, grownPlan } from '../bench/lib/grown-town.ts';

test('the MyKey IDs of a grown town pass the check and are all different', (t) => {
  const count = 200_000;
  const ids = new Set<string>();
  for (let r = 0; r < count; r++) {
    const id = grownMykeyId(r);
    const parsed = parseMykeyId(id);
    if (!parsed.ok || parsed.id !== id) return t.fail(`resident ${r}: ${id} ${JSON.stringify(parsed)}`);
    ids.add(id);
  }
  t.is(ids.size, count);
});

test('the entries of a grown town add up to the number asked, with a payment at least for each resident', (t) => {
  const plan = grownPlan(1_000_000, 10_000_000);
  t.is(plan.conversions + plan.payments + plan.refunds + plan.grants, 10_000_000);
  t.true(plan.payments >= plan.residents);
  t.is(plan.grants, 50_000);
  t.is(plan.refunds, 20_000);
  t.throws(() => grownPlan(1_000, 2_000), { message: /needs at least 2070 entries/ });
});
