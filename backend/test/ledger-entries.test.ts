// The ledger's pure parts, without a database: every builder's entry sums to zero, the checks
// every entry passes refuse what must never be posted, and the rules for lots, premiums and dates.
import test from 'ava';
import {
  LIMITS, assertBalanced, budgetReturnEntry, conversionEntry, expiryEntry, fundingEntry, grantEntry, paymentEntry, requestHash, reversalEntry, type Entry,
} from '../src/ledger/entries.ts';
import {
  campaignPays, campaignPointsExpire, campaignRuns, convertedPointsExpire, drawSoonestExpiring, endOfTokyoDay, premiumFor, refundable, restoreInReverse, tokyoDate, voidable,
} from '../src/ledger/rules.ts';

const head = { reference: 'test:1', municipalityCode: '139998', requestHash: requestHash({ n: 1 }), postedAt: new Date('2026-11-22T03:00:00Z') };
const expiresAt = new Date('2027-11-22T15:00:00Z');
const sum = (entry: Entry) => entry.postings.reduce((s, p) => s + p.amount, 0);

test('every builder makes an entry whose postings sum to zero', (t) => {
  const entries = [
    fundingEntry(head, { campaignId: 1, fundingAccount: 1, budgetAccount: 2, points: 5_000 }),
    conversionEntry(head, { partnerAccount: 3, residentAccount: 4, basePoints: 1_000, baseExpiresAt: expiresAt, premium: { campaignId: 1, budgetAccount: 2, points: 200, expiresAt } }),
    conversionEntry(head, { partnerAccount: 3, residentAccount: 4, basePoints: 1_000, baseExpiresAt: expiresAt, premium: { campaignId: 1, budgetAccount: 2, points: 0, expiresAt } }),
    grantEntry(head, { campaignId: 1, budgetAccount: 2, residentAccount: 4, points: 300, expiresAt }),
    paymentEntry(head, { residentAccount: 4, merchantAccount: 5, merchantId: 7, points: 700 }),
    reversalEntry(head, { kind: 'refund', paymentEntryId: 9, residentAccount: 4, merchantAccount: 5, restore: [{ lotId: 1, amount: 50 }, { lotId: 2, amount: 20 }] }),
    expiryEntry(head, { residentAccount: 4, expiredAccount: 6, lotId: 1, points: 30 }),
    budgetReturnEntry(head, { campaignId: 1, fundingAccount: 1, budgetAccount: 2, points: 4_000 }),
  ];
  for (const entry of entries) t.is(sum(entry), 0, entry.kind);
  t.deepEqual(entries[1]!.postings.map((p) => p.amount), [-1_000, -200, 1_200]);
  t.deepEqual(entries[2]!.postings.map((p) => p.amount), [-1_000, 1_000], 'a premium of nothing posts nothing from the budget');
  t.is(entries[2]!.campaignId, undefined);
});

test('an entry that does not balance, holds a fraction, is too large or repeats an account is refused as a bug', (t) => {
  const valid = paymentEntry(head, { residentAccount: 4, merchantAccount: 5, merchantId: 7, points: 700 });
  const broken: Array<[string, Entry]> = [
    ['unbalanced', { ...valid, postings: [{ ...valid.postings[0]!, amount: -700 }, { accountId: 5, amount: 699 }] }],
    ['fraction', { ...valid, postings: [{ accountId: 4, amount: -0.5, lots: { soonestExpiring: true } }, { accountId: 5, amount: 0.5 }] }],
    ['zero', { ...valid, postings: [{ accountId: 4, amount: 0 }, { accountId: 5, amount: 0 }] }],
    ['too large', { ...valid, postings: [{ accountId: 1, amount: -(LIMITS.maxFundingPoints + 1) }, { accountId: 2, amount: LIMITS.maxFundingPoints + 1 }] }],
    ['one posting', { ...valid, postings: [{ accountId: 4, amount: 0 }] }],
    ['same account twice', { ...valid, postings: [{ accountId: 5, amount: -1 }, { accountId: 5, amount: 1 }] }],
    ['reference', { ...valid, reference: 'has spaces' }],
    ['long reference', { ...valid, reference: 'x'.repeat(LIMITS.maxReferenceLength + 1) }],
    ['credit drawing lots', { ...valid, postings: [{ accountId: 5, amount: -7 }, { accountId: 4, amount: 7, lots: { soonestExpiring: true } }] }],
    ['lots not adding up', { ...valid, postings: [{ accountId: 5, amount: -7 }, { accountId: 4, amount: 7, lots: { create: [{ points: 6, campaignId: null, expiresAt }] } }] }],
    ['lot moved against its posting', { ...valid, postings: [{ accountId: 5, amount: -7 }, { accountId: 4, amount: 7, lots: { move: [{ lotId: 1, amount: 8 }, { lotId: 2, amount: -1 }] } }] }],
    ['too many lots', { ...valid, postings: [{ accountId: 5, amount: -2_000 }, { accountId: 4, amount: 2_000,
      lots: { move: Array.from({ length: 2_000 }, (_, i) => ({ lotId: i + 1, amount: 1 })) } }] }],
  ];
  for (const [name, entry] of broken) t.throws(() => assertBalanced(entry), { message: /^ledger invariant: / }, name);
  t.throws(() => grantEntry(head, { campaignId: 1, budgetAccount: 2, residentAccount: 4, points: LIMITS.maxResidentPoints + 1, expiresAt }), { message: /new lot/ });
});

test('the request hash ignores key order and tells requests apart', (t) => {
  t.deepEqual(requestHash({ a: 1, b: 'x' }), requestHash({ b: 'x', a: 1 }));
  t.notDeepEqual(requestHash({ a: 1 }), requestHash({ a: 2 }));
});

test('spending takes the soonest-expiring lot first, the oldest among equal expiries, and never an expired one', (t) => {
  const now = new Date('2026-11-22T00:00:00Z');
  const at = (iso: string) => new Date(iso);
  const lots = [
    { id: 5, remaining: 100, expiresAt: at('2027-01-01T00:00:00Z') },
    { id: 2, remaining: 30, expiresAt: at('2027-01-01T00:00:00Z') },
    { id: 9, remaining: 500, expiresAt: at('2026-12-01T00:00:00Z') },
    { id: 1, remaining: 1_000, expiresAt: at('2026-11-22T00:00:00Z') },
    { id: 3, remaining: 0, expiresAt: at('2026-11-30T00:00:00Z') },
  ];
  t.deepEqual(drawSoonestExpiring(lots, 550, now), [{ lotId: 9, amount: -500 }, { lotId: 2, amount: -30 }, { lotId: 5, amount: -20 }]);
  t.deepEqual(drawSoonestExpiring(lots, 630, now)?.length, 3);
  t.is(drawSoonestExpiring(lots, 631, now), undefined, 'the lot expiring at this very moment is no longer spendable');
});

test('a refund refills the lots a payment took from the last taken back, never beyond what is left to refund', (t) => {
  const taken = [{ lotId: 9, taken: 500, restored: 0 }, { lotId: 2, taken: 30, restored: 10 }, { lotId: 5, taken: 20, restored: 20 }];
  t.is(refundable(taken), 520);
  t.deepEqual(restoreInReverse(taken, 25), [{ lotId: 2, amount: 20 }, { lotId: 9, amount: 5 }]);
  t.deepEqual(restoreInReverse(taken, 520), [{ lotId: 2, amount: 20 }, { lotId: 9, amount: 500 }]);
  t.is(restoreInReverse(taken, 521), undefined);
});

test('the premium is a rounded-down percent, cut to the budget and the cap, and nothing while the campaign does not run', (t) => {
  const terms = { basePoints: 999, percent: 20, running: true, budgetLeft: 1_000, capLeft: 1_000 };
  t.is(premiumFor(terms), 199);
  t.is(premiumFor({ ...terms, budgetLeft: 50 }), 50);
  t.is(premiumFor({ ...terms, capLeft: 10 }), 10);
  t.is(premiumFor({ ...terms, capLeft: -5 }), 0, 'a cap already passed gives nothing, never a negative premium');
  t.is(premiumFor({ ...terms, running: false }), 0);
});

test('dates are Japanese calendar dates: expiries, campaign days and the void window', (t) => {
  t.is(tokyoDate(new Date('2026-11-22T14:59:59.999Z')), '2026-11-22');
  t.is(tokyoDate(new Date('2026-11-22T15:00:00.000Z')), '2026-11-23');
  t.deepEqual(endOfTokyoDay('2027-03-31'), new Date('2027-03-31T15:00:00.000Z'));
  t.deepEqual(convertedPointsExpire(new Date('2026-11-22T03:00:00Z')), new Date('2027-11-22T15:00:00.000Z'));
  t.deepEqual(convertedPointsExpire(new Date('2028-02-29T03:00:00Z')), new Date('2029-03-01T15:00:00.000Z'), '29 February rolls over to 1 March');
  const campaign = { startsOn: '2026-04-01', endsOn: '2027-03-31' };
  t.false(campaignRuns(campaign, new Date('2026-03-31T14:59:59Z')));
  t.true(campaignRuns(campaign, new Date('2026-03-31T15:00:00Z')));
  t.true(campaignRuns(campaign, new Date('2027-03-31T14:59:59Z')));
  t.false(campaignRuns(campaign, new Date('2027-03-31T15:00:00Z')));
  const inside = new Date('2026-11-22T03:00:00Z');
  t.true(campaignPays({ ...campaign, status: 'running' }, inside));
  for (const status of ['planned', 'paused', 'ended'] as const) t.false(campaignPays({ ...campaign, status }, inside), `a ${status} campaign pays nothing`);
  t.true(voidable(new Date('2026-11-21T15:00:00Z'), new Date('2026-11-22T14:59:59Z')));
  t.false(voidable(new Date('2026-11-22T14:59:59Z'), new Date('2026-11-22T15:00:00Z')));
});

test('campaign points expire by the campaign\'s rule: the end of a fixed Japanese date, or N months after the grant', (t) => {
  const granted = new Date('2026-11-22T03:00:00Z');
  t.deepEqual(campaignPointsExpire({ until: '2027-03-31' }, granted), new Date('2027-03-31T15:00:00.000Z'));
  t.deepEqual(campaignPointsExpire({ months: 6 }, granted), new Date('2027-05-22T15:00:00.000Z'));
  t.deepEqual(campaignPointsExpire({ months: 1 }, new Date('2027-01-31T03:00:00Z')), new Date('2027-02-28T15:00:00.000Z'), '31 January + 1 month is the last day of February');
  t.deepEqual(campaignPointsExpire({ months: 13 }, new Date('2027-01-30T16:00:00Z')), new Date('2028-02-29T15:00:00.000Z'), 'the grant\'s Japanese date (31 January) counts, and a leap year\'s February has 29 days');
  t.deepEqual(campaignPointsExpire({ months: 2 }, new Date('2026-12-31T03:00:00Z')), new Date('2027-02-28T15:00:00.000Z'), 'across the year');
});
