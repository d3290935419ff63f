// Journal entries as values: what each operation posts, built by pure functions that check
// the entry before anyone can post it. Amounts are signed integers of points: + raises an
// account's balance, - lowers it, and an entry's postings sum to zero (docs/ledger.md).
import { createHash } from 'node:crypto';
import { MAX_POINTS } from '@mykey/contracts/limits.ts';
import { canonicalJson } from '../audit/chain.ts';
import type { LotMovement } from './rules.ts';

/** Explicit bounds on every size, so no input can make an entry, or a number in it, unbounded. */
export const LIMITS = {
  /** One conversion, grant, payment or refund. */
  maxResidentPoints: MAX_POINTS,
  /** One funding of a campaign budget: a trillion points, beyond any municipal budget. */
  maxFundingPoints: 1_000_000_000_000,
  /** Lots one entry may draw from or add to; a payment needing more is refused. */
  maxLotMovements: 1_000,
  /** Every entry has two or three postings; four leaves room and nothing more. */
  maxPostings: 4,
  maxReferenceLength: 128,
} as const;

export type EntryKind = 'funding' | 'conversion' | 'grant' | 'payment' | 'refund' | 'void' | 'expiry' | 'budget_return';

/** Lots a posting to a resident's account creates. */
export interface NewLot { points: number; campaignId: number | null; expiresAt: Date }

/**
 * How a posting to a resident's account moves its lots: a credit creates lots or restores
 * named ones, a debit draws named lots or (`soonestExpiring`) the lots post picks under lock:
 * at a shop (`atMerchant`), only the lots that shop takes (docs/campaigns.md#where-points-are-spent).
 */
export type LotEffect =
  | { create: NewLot[] }
  | { move: LotMovement[] }
  | { soonestExpiring: true; atMerchant?: number };

export interface Posting {
  accountId: number;
  amount: number;
  /** Required on resident accounts, refused on any other. */
  lots?: LotEffect;
}

export interface Entry {
  kind: EntryKind;
  /** Chosen by the caller, e.g. `payment:<intent id>`: posting it again replays the first posting. */
  reference: string;
  municipalityCode: string;
  /** SHA-256 of what the caller asked for, so a reused reference with another request is told apart from a retry. */
  requestHash: Buffer;
  postedAt: Date;
  /** The payment a refund or void reverses. */
  relatedEntryId?: number;
  /** The campaign whose budget this entry funds or spends. */
  campaignId?: number;
  postings: Posting[];
}

const REFERENCE = /^[A-Za-z0-9_.:-]+$/;

/** The hash of a request as `Entry.requestHash` wants it: canonical JSON, so key order never matters. */
export function requestHash(request: Record<string, unknown>): Buffer {
  return createHash('sha256').update(canonicalJson(request)).digest();
}

function check(condition: boolean, message: string): asserts condition {
  if (!condition) throw new Error(`ledger invariant: ${message}`);
}

const isPoints = (n: number, max: number) => Number.isSafeInteger(n) && n > 0 && n <= max;

/**
 * Checks everything about an entry that does not need the database: integers only, within
 * the limits, each account once, postings summing to zero, and lot effects that add up to
 * their posting. A failure is a bug in the caller, never bad input, so it throws a plain Error.
 */
export function assertBalanced(entry: Entry): Entry {
  check(entry.reference.length > 0 && entry.reference.length <= LIMITS.maxReferenceLength && REFERENCE.test(entry.reference),
    `reference ${JSON.stringify(entry.reference)} is not 1-${LIMITS.maxReferenceLength} characters of A-Z a-z 0-9 _ . : -`);
  check(entry.requestHash.length === 32, 'requestHash is a SHA-256');
  check(!Number.isNaN(entry.postedAt.getTime()), 'postedAt is a valid time');
  check(entry.postings.length >= 2 && entry.postings.length <= LIMITS.maxPostings, `an entry has 2 to ${LIMITS.maxPostings} postings, not ${entry.postings.length}`);
  check(new Set(entry.postings.map((p) => p.accountId)).size === entry.postings.length, 'each account appears once in an entry');
  let sum = 0;
  let movements = 0;
  for (const posting of entry.postings) {
    check(Number.isSafeInteger(posting.accountId) && posting.accountId > 0, `account id ${posting.accountId} is a positive integer`);
    check(isPoints(Math.abs(posting.amount), LIMITS.maxFundingPoints), `posting of ${posting.amount} to account ${posting.accountId} is a non-zero integer within ±${LIMITS.maxFundingPoints}`);
    sum += posting.amount;
    movements += lotEffectSize(posting);
  }
  check(sum === 0, `postings sum to ${sum}, not 0`);
  check(movements <= LIMITS.maxLotMovements, `${movements} lot movements exceed ${LIMITS.maxLotMovements}`);
  return entry;
}

/** Checks one posting's lot effect against its amount; answers how many lots it touches. */
function lotEffectSize(posting: Posting): number {
  const effect = posting.lots;
  if (!effect) return 0;
  if ('soonestExpiring' in effect) {
    check(posting.amount < 0, 'only a debit draws the soonest-expiring lots');
    return 0;
  }
  if ('create' in effect) {
    check(posting.amount > 0, 'only a credit creates lots');
    check(effect.create.length > 0, 'a credit creating lots creates at least one');
    for (const lot of effect.create) {
      check(isPoints(lot.points, LIMITS.maxResidentPoints), `a new lot holds a positive integer of points, not ${lot.points}`);
      check(!Number.isNaN(lot.expiresAt.getTime()), 'a new lot has a valid expiry');
    }
    check(effect.create.reduce((s, lot) => s + lot.points, 0) === posting.amount, 'new lots add up to their posting');
    return effect.create.length;
  }
  check(effect.move.length > 0, 'a lot move names at least one lot');
  check(new Set(effect.move.map((m) => m.lotId)).size === effect.move.length, 'each lot appears once in a move');
  for (const move of effect.move) {
    check(Number.isSafeInteger(move.amount) && move.amount !== 0 && Math.sign(move.amount) === Math.sign(posting.amount),
      `lot ${move.lotId} moves a non-zero integer in the posting's direction, not ${move.amount}`);
  }
  check(effect.move.reduce((s, m) => s + m.amount, 0) === posting.amount, 'lot moves add up to their posting');
  return effect.move.length;
}

interface Head { reference: string; municipalityCode: string; requestHash: Buffer; postedAt: Date }

/** Municipality funding → campaign budget: the municipality commits money to a campaign. */
export function fundingEntry(head: Head, a: { campaignId: number; fundingAccount: number; budgetAccount: number; points: number }): Entry {
  return assertBalanced({ ...head, kind: 'funding', campaignId: a.campaignId, postings: [
    { accountId: a.fundingAccount, amount: -a.points },
    { accountId: a.budgetAccount, amount: a.points },
  ] });
}

/** Campaign budget → municipality funding: what is left of an ended campaign's budget goes back to the town. */
export function budgetReturnEntry(head: Head, a: { campaignId: number; fundingAccount: number; budgetAccount: number; points: number }): Entry {
  return assertBalanced({ ...head, kind: 'budget_return', campaignId: a.campaignId, postings: [
    { accountId: a.budgetAccount, amount: -a.points },
    { accountId: a.fundingAccount, amount: a.points },
  ] });
}

/**
 * Partner clearing → resident for the converted points, and campaign budget → resident for a
 * premium (when there is one). Converted points and the premium arrive as separate lots:
 * each keeps its own expiry, and the premium lot names the campaign that paid for it.
 */
export function conversionEntry(head: Head, a: {
  partnerAccount: number; residentAccount: number; basePoints: number; baseExpiresAt: Date;
  premium?: { campaignId: number; budgetAccount: number; points: number; expiresAt: Date };
}): Entry {
  const premium = a.premium && a.premium.points > 0 ? a.premium : undefined;
  const lots: NewLot[] = [{ points: a.basePoints, campaignId: null, expiresAt: a.baseExpiresAt }];
  if (premium) lots.push({ points: premium.points, campaignId: premium.campaignId, expiresAt: premium.expiresAt });
  return assertBalanced({ ...head, kind: 'conversion', campaignId: premium?.campaignId, postings: [
    { accountId: a.partnerAccount, amount: -a.basePoints },
    ...(premium ? [{ accountId: premium.budgetAccount, amount: -premium.points }] : []),
    { accountId: a.residentAccount, amount: a.basePoints + (premium?.points ?? 0), lots: { create: lots } },
  ] });
}

/** Campaign budget → resident: administrative points granted under a campaign. */
export function grantEntry(head: Head, a: { campaignId: number; budgetAccount: number; residentAccount: number; points: number; expiresAt: Date }): Entry {
  return assertBalanced({ ...head, kind: 'grant', campaignId: a.campaignId, postings: [
    { accountId: a.budgetAccount, amount: -a.points },
    { accountId: a.residentAccount, amount: a.points, lots: { create: [{ points: a.points, campaignId: a.campaignId, expiresAt: a.expiresAt }] } },
  ] });
}

/** Resident → merchant payable: a payment at a shop, drawn from the soonest-expiring lots that shop takes. */
export function paymentEntry(head: Head, a: { residentAccount: number; merchantAccount: number; merchantId: number; points: number }): Entry {
  return assertBalanced({ ...head, kind: 'payment', postings: [
    { accountId: a.residentAccount, amount: -a.points, lots: { soonestExpiring: true, atMerchant: a.merchantId } },
    { accountId: a.merchantAccount, amount: a.points },
  ] });
}

/** Merchant payable → resident, back into the lots the payment took: a refund, or a void of the whole payment. */
export function reversalEntry(head: Head, a: {
  kind: 'refund' | 'void'; paymentEntryId: number; residentAccount: number; merchantAccount: number; restore: LotMovement[];
}): Entry {
  const points = a.restore.reduce((s, m) => s + m.amount, 0);
  return assertBalanced({ ...head, kind: a.kind, relatedEntryId: a.paymentEntryId, postings: [
    { accountId: a.merchantAccount, amount: -points },
    { accountId: a.residentAccount, amount: points, lots: { move: a.restore } },
  ] });
}

/** Resident → expired: what is left of one lot past its expiry. */
export function expiryEntry(head: Head, a: { residentAccount: number; expiredAccount: number; lotId: number; points: number }): Entry {
  return assertBalanced({ ...head, kind: 'expiry', postings: [
    { accountId: a.residentAccount, amount: -a.points, lots: { move: [{ lotId: a.lotId, amount: -a.points }] } },
    { accountId: a.expiredAccount, amount: a.points },
  ] });
}
