// A grown town for the benchmarks: a fresh, migrated, seeded database filled with `residents`
// MyKey IDs, each with a card and a resident account in the town, and `entries` ledger entries of
// the kinds a town has — a conversion per resident (a lot of converted points), payments at the
// town's shops drawing from that lot, a partial refund of every 50th resident's first payment,
// and a grant from the town's administrative campaign to every 20th resident — every invariant
// of `ledger check` holding (docs/benchmarks.md, "The grown town").
//
// Rows go straight into the ledger's and the mykeys' tables, in the shapes their repositories
// write, with the triggers and CHECKs in place. Each row is a function of its sequence number,
// so nearly every table is filled by INSERT … SELECT from MariaDB's sequence engine
// (seq_A_to_B), which makes the rows inside the server: no row crosses the connection. Only the
// MyKey IDs, whose check character is the contracts' arithmetic, are made here and sent in
// multi-row INSERTs. Ids are explicit (the bases read before loading), so a payment names its
// resident's account and lot by arithmetic, and balances and remainders are written once, in
// closed form, instead of being summed back from millions of postings.
//
// The resident r (0 … N-1), with P payments, S shops, B points converted at least:
//   converts B + r mod 1000 points (entry `conversion`, lot L + r, a year's validity);
//   pays amount(r) = 10 + 37r mod 490 points k(r) = ⌊(P-1-r)/N⌋+1 times (payment j is resident
//     j mod N's at shop j mod S, drawn from lot L + r);
//   when r mod 50 = 7, gets ⌈amount(r)/2⌉ back on its first payment (entry `refund`);
//   when r mod 20 = 0, is granted GRANT_POINTS last (lot L + N + r/20, the campaign's validity).
import { checkValue, encode, PAYLOAD_LENGTH } from '@mykey/contracts/mykey-id.ts';
import type { Db } from '../../src/db.ts';
import { accountKey, ledgerRepository, type AccountOwner } from '../../src/ledger/repository.ts';
import { campaignPointsExpire, endOfTokyoDay, tokyoDate } from '../../src/ledger/rules.ts';
import { now, round } from './bench.ts';

export interface GrownTown { residents: number; entries: number; payments: number; rows: number; seconds: number; rowsPerSecond: number }

/** Rows one INSERT … SELECT writes: large enough to cost nothing per statement, small enough for a modest undo log. */
const CHUNK = 200_000;
/** MyKey IDs sent per multi-row INSERT (about 150 kB a statement). */
const MYKEY_BATCH = 5_000;
const GRANT_POINTS = 20;
const REFUND_EVERY = 50;
const REFUND_RESIDENT = 7;
const GRANT_EVERY = 20;
const DAY_MS = 86_400_000;

/** The 35-bit payload of resident r: r times an odd constant modulo 2^35 — one-to-one, and scattered over the ID space like real IDs. */
function payloadOf(r: number): number[] {
  const bits = (r * 2_654_435_761 + 12_345) % 2 ** 35;
  return Array.from({ length: PAYLOAD_LENGTH }, (_, i) => Math.floor(bits / 32 ** (PAYLOAD_LENGTH - 1 - i)) % 32);
}

/** Resident r's MyKey ID, valid by the contracts' check. */
export function grownMykeyId(r: number): string {
  const payload = payloadOf(r);
  return encode([...payload, checkValue(payload)]);
}

/** How many entries of each kind make `entries` in all for `residents`. */
export function grownPlan(residents: number, entries: number) {
  const grants = Math.ceil(residents / GRANT_EVERY);
  const refunds = residents > REFUND_RESIDENT ? Math.floor((residents - 1 - REFUND_RESIDENT) / REFUND_EVERY) + 1 : 0;
  const payments = entries - residents - grants - refunds;
  if (residents < 1 || payments < residents) {
    throw new Error(`a grown town of ${residents} residents needs at least ${2 * residents + grants + refunds} entries (a conversion and a payment each, grants and refunds), not ${entries}`);
  }
  // Enough converted points for every payment a resident makes (at most 499 each), with some left.
  const converted = Math.ceil(payments / residents) * 500 + 1_000;
  return { residents, conversions: residents, payments, refunds, grants, converted };
}

interface Bases { mykey: number; account: number; entry: number; lot: number }

/** The next free id of each table the load writes with explicit ids. */
async function nextIds(db: Db): Promise<Bases> {
  const next = async (table: string) => Number((await db(table).max({ id: 'id' }).first())?.id ?? 0) + 1;
  return { mykey: await next('mykeys'), account: await next('ledger_accounts'), entry: await next('ledger_entries'), lot: await next('ledger_lots') };
}

/** The town's accounts the load posts to (created as the ledger creates them on first use), by owner. */
async function townAccounts(db: Db, town: string, owners: AccountOwner[]): Promise<number[]> {
  await db.transaction(async (trx) => {
    for (const owner of owners) await ledgerRepository.insertAccount(trx, town, owner);
  });
  const found = await ledgerRepository.findAccounts(db, owners.map((owner) => ({ municipalityCode: town, owner })));
  return owners.map((owner) => found.get(accountKey(town, owner))!);
}

/**
 * Fills the database with a grown town in `town`: `residents` MyKey IDs with cards and accounts,
 * `entries` ledger entries. Needs the town's approved shops, a partner and an administrative
 * campaign with budget for the grants (the seed's). `log` gets progress lines with rows/s.
 */
export async function loadGrownTown(db: Db, town: string, residents: number, entries: number, log: (line: string) => void): Promise<GrownTown> {
  const plan = grownPlan(residents, entries);
  const N = residents;
  const P = plan.payments;
  const merchants = (await db('merchants').where({ municipality_code: town, status: 'approved' }).orderBy('id').pluck('id')).map(Number);
  const partner = Number((await db('partners').orderBy('id').first('id'))!.id);
  const campaignId = Number((await db('campaigns').where({ municipality_code: town, kind: 'administrative' }).orderBy('id').first('id'))!.id);
  const campaign = (await ledgerRepository.campaign(db, campaignId))!;
  const [partnerAccount, budgetAccount, ...shopAccounts] = await townAccounts(db, town, [
    { kind: 'partner_clearing', partnerId: partner }, { kind: 'campaign_budget', campaignId }, ...merchants.map((merchantId) => ({ kind: 'merchant_payable' as const, merchantId })),
  ]);
  const base = await nextIds(db);
  const budget = (await ledgerRepository.account(db, budgetAccount!))!.balance;
  if (budget < plan.grants * GRANT_POINTS) throw new Error(`campaign ${campaignId} has ${budget} points left, the grown town grants ${plan.grants * GRANT_POINTS}`);

  // The town's history, oldest first: conversions over a month, three months ago; payments
  // until three days ago; refunds the day after; grants during the Japanese day before yesterday.
  const at = Date.now();
  const span = (from: number, to: number, count: number) => ({ start: new Date(from), stepUs: Math.max(1, Math.floor(((to - from) * 1000) / Math.max(count, 1))) });
  const conversionsAt = span(at - 90 * DAY_MS, at - 60 * DAY_MS, N);
  const paymentsAt = span(at - 60 * DAY_MS, at - 3 * DAY_MS, P);
  const refundsAt = span(at - 3 * DAY_MS, at - 2 * DAY_MS, plan.refunds);
  const grantDay = tokyoDate(new Date(at - 2 * DAY_MS));
  const grantsStart = endOfTokyoDay(grantDay).getTime() - DAY_MS;
  const grantsAt = span(grantsStart, grantsStart + DAY_MS - 1, plan.grants);
  const grantExpiry = campaignPointsExpire(campaign.validity, new Date(grantsStart));

  const E = base.entry;
  const A = base.account;
  const L = base.lot;
  const firstPayment = E + N;
  const firstRefund = firstPayment + P;
  const firstGrant = firstRefund + plan.refunds;
  // SQL of resident r (or of payment j's resident, `j MOD N`): its figures in closed form.
  const amount = (r: string) => `(10 + (${r}) * 37 MOD 490)`;
  const refundOf = (r: string) => `FLOOR((${amount(r)} + 1) / 2)`;
  const converted = (r: string) => `(${plan.converted} + (${r}) MOD 1000)`;
  const paymentsOf = (r: string) => `(FLOOR((${P} - 1 - (${r})) / ${N}) + 1)`;
  const lotLeft = (r: string) => `(${converted(r)} - ${paymentsOf(r)} * ${amount(r)} + IF((${r}) MOD ${REFUND_EVERY} = ${REFUND_RESIDENT}, ${refundOf(r)}, 0))`;
  const balance = (r: string) => `(${lotLeft(r)} + IF((${r}) MOD ${GRANT_EVERY} = 0, ${GRANT_POINTS}, 0))`;
  const shopOf = (j: string) => `ELT(1 + (${j}) MOD ${shopAccounts.length}, ${shopAccounts.join(', ')})`;
  const postedAt = (times: { stepUs: number }) => `? + INTERVAL seq * ${times.stepUs} MICROSECOND`;
  const entryRow = (kind: string, name: string, id: string, related: string, campaign: string, times: { stepUs: number }) =>
    `${id}, '${town}', '${kind}', CONCAT('grown:${name}:', seq), UNHEX(SHA2(CONCAT('grown:${name}:', seq), 256)), ${related}, ${campaign}, ${postedAt(times)}`;
  // Converted points are valid through the same Japanese date a year later (29 February: 1 March), as convertedPointsExpire says.
  const jpDate = `DATE(${postedAt(conversionsAt)} + INTERVAL 9 HOUR)`;
  const conversionExpiry = `TIMESTAMP(${jpDate} + INTERVAL 1 YEAR + INTERVAL (DATE_FORMAT(${jpDate}, '%m-%d') = '02-29') DAY + INTERVAL 1 DAY) - INTERVAL 9 HOUR`;

  let rows = 0;
  const started = now();
  /** Rows `select` makes of seq = 0 … count-1, into `into`, a chunk a statement; `params` for the ? of each statement. */
  const fill = async (what: string, into: string, count: number, select: string, params: Array<Date | number> = []) => {
    const from = now();
    for (let low = 0; low < count; low += CHUNK) {
      await db.raw(`INSERT INTO ${into} SELECT ${select} FROM seq_${low}_to_${Math.min(count, low + CHUNK) - 1}`, params);
    }
    rows += count;
    log(`grown town: ${count} ${what} in ${round((now() - from) / 1000)} s (${Math.round(count / ((now() - from) / 1000))} rows/s)`);
  };

  // MyKey IDs, made here (their check character), created a minute before their first conversion.
  let from = now();
  for (let low = 0; low < N; low += MYKEY_BATCH) {
    const batch = Array.from({ length: Math.min(MYKEY_BATCH, N - low) }, (_, i) => low + i);
    await db('mykeys').insert(batch.map((r) => ({
      id: base.mykey + r, mykey_id: grownMykeyId(r), home_municipality_code: town,
      created_at: new Date(conversionsAt.start.getTime() + (r * conversionsAt.stepUs) / 1000 - 60_000),
    })));
  }
  rows += N;
  log(`grown town: ${N} MyKey IDs in ${round((now() - from) / 1000)} s (${Math.round(N / ((now() - from) / 1000))} rows/s)`);
  // A card each: a keyed hash no real card's HMAC will ever equal.
  await fill('cards', 'mykey_certificates (cert_key, mykey_pk, status, link_method, linked_at)', N,
    `UNHEX(SHA2(CONCAT('grown-town card ', seq), 256)), ${base.mykey} + seq, 'active', 'issued', (SELECT created_at FROM mykeys WHERE id = ${base.mykey} + seq)`);
  await fill('resident accounts', 'ledger_accounts (id, municipality_code, kind, mykey_pk, balance, created_at)', N,
    `${A} + seq, '${town}', 'resident', ${base.mykey} + seq, ${balance('seq')}, ${postedAt(conversionsAt)}`, [conversionsAt.start]);

  const entryColumns = 'ledger_entries (id, municipality_code, kind, reference, request_hash, related_entry_id, campaign_id, posted_at)';
  const postings = 'ledger_postings (entry_id, account_id, amount)';
  const lots = 'ledger_lots (id, account_id, entry_id, campaign_id, original_points, remaining_points, expires_at)';
  const movements = 'ledger_lot_movements (entry_id, lot_id, amount)';

  await fill('conversions', entryColumns, N, entryRow('conversion', 'conversion', `${E} + seq`, 'NULL', 'NULL', conversionsAt), [conversionsAt.start]);
  await fill('conversion postings (partner)', postings, N, `${E} + seq, ${partnerAccount}, -${converted('seq')}`);
  await fill('conversion postings (resident)', postings, N, `${E} + seq, ${A} + seq, ${converted('seq')}`);
  await fill('conversion lots', lots, N, `${L} + seq, ${A} + seq, ${E} + seq, NULL, ${converted('seq')}, ${lotLeft('seq')}, ${conversionExpiry}`, [conversionsAt.start, conversionsAt.start]);
  await fill('conversion lot movements', movements, N, `${E} + seq, ${L} + seq, ${converted('seq')}`);

  await fill('payments', entryColumns, P, entryRow('payment', 'payment', `${firstPayment} + seq`, 'NULL', 'NULL', paymentsAt), [paymentsAt.start]);
  await fill('payment postings (resident)', postings, P, `${firstPayment} + seq, ${A} + seq MOD ${N}, -${amount(`seq MOD ${N}`)}`);
  await fill('payment postings (shop)', postings, P, `${firstPayment} + seq, ${shopOf('seq')}, ${amount(`seq MOD ${N}`)}`);
  await fill('payment lot movements', movements, P, `${firstPayment} + seq, ${L} + seq MOD ${N}, -${amount(`seq MOD ${N}`)}`);

  // Refund q gives back part of resident r = 7 + 50q's first payment, which is payment r.
  const refunded = `(${REFUND_RESIDENT} + seq * ${REFUND_EVERY})`;
  if (plan.refunds > 0) {
    await fill('refunds', entryColumns, plan.refunds, entryRow('refund', 'refund', `${firstRefund} + seq`, `${firstPayment} + ${refunded}`, 'NULL', refundsAt), [refundsAt.start]);
    await fill('refund postings (shop)', postings, plan.refunds, `${firstRefund} + seq, ${shopOf(refunded)}, -${refundOf(refunded)}`);
    await fill('refund postings (resident)', postings, plan.refunds, `${firstRefund} + seq, ${A} + ${refunded}, ${refundOf(refunded)}`);
    await fill('refund lot movements', movements, plan.refunds, `${firstRefund} + seq, ${L} + ${refunded}, ${refundOf(refunded)}`);
  }

  // Grant t goes to resident 20t.
  const grantee = `(seq * ${GRANT_EVERY})`;
  await fill('grants', entryColumns, plan.grants, entryRow('grant', 'grant', `${firstGrant} + seq`, 'NULL', String(campaignId), grantsAt), [grantsAt.start]);
  await fill('grant postings (budget)', postings, plan.grants, `${firstGrant} + seq, ${budgetAccount}, -${GRANT_POINTS}`);
  await fill('grant postings (resident)', postings, plan.grants, `${firstGrant} + seq, ${A} + ${grantee}, ${GRANT_POINTS}`);
  await fill('grant lots', lots, plan.grants, `${L + N} + seq, ${A} + ${grantee}, ${firstGrant} + seq, ${campaignId}, ${GRANT_POINTS}, ${GRANT_POINTS}, ?`, [grantExpiry]);
  await fill('grant lot movements', movements, plan.grants, `${firstGrant} + seq, ${L + N} + seq, ${GRANT_POINTS}`);

  // The town's few accounts on the other side move by the sum of what was posted to them.
  from = now();
  for (const account of [partnerAccount!, budgetAccount!, ...shopAccounts]) {
    await db.raw(`UPDATE ledger_accounts SET balance = balance + (SELECT COALESCE(SUM(amount), 0) FROM ledger_postings FORCE INDEX (ledger_postings_account_id_entry_id_index)
      WHERE account_id = ? AND entry_id >= ?) WHERE id = ?`, [account, E, account]);
  }
  log(`grown town: balances of the partner, the campaign and ${shopAccounts.length} shops in ${round((now() - from) / 1000)} s`);

  const seconds = (now() - started) / 1000;
  log(`grown town: ${N} residents, ${entries} entries, ${rows} rows in ${round(seconds)} s (${Math.round(rows / seconds)} rows/s)`);
  return { residents: N, entries, payments: P, rows, seconds: round(seconds), rowsPerSecond: Math.round(rows / seconds) };
}

/** The grown town's size from BENCH_GROWN_RESIDENTS and BENCH_GROWN_ENTRIES; undefined for the small run (both 0, the default). */
export function grownTownSetting(): { residents: number; entries: number } | undefined {
  const residents = Number(process.env.BENCH_GROWN_RESIDENTS ?? 0);
  const entries = Number(process.env.BENCH_GROWN_ENTRIES ?? 0);
  if (!Number.isInteger(residents) || !Number.isInteger(entries) || residents < 0 || entries < 0) {
    throw new Error(`BENCH_GROWN_RESIDENTS and BENCH_GROWN_ENTRIES must be whole numbers, got "${process.env.BENCH_GROWN_RESIDENTS}" and "${process.env.BENCH_GROWN_ENTRIES}"`);
  }
  return residents === 0 && entries === 0 ? undefined : { residents, entries };
}
