// The ledger's operations: each posts one journal entry in the caller's transaction, so the
// points move together with whatever else the caller records (a conversion request's state,
// an Idempotency-Key's answer). Every operation locks its accounts in ascending id order,
// answers a replay when its reference was posted before with the same request, and only then
// looks at balances and lots, which no one else can change until the transaction ends.
// Signatures and the postings of each operation: docs/ledger.md.
import type { Knex } from 'knex';
import { ConcurrentChange, retryTransient, type Db } from '../db.ts';
import { Problem } from '../http/problems.ts';
import { mykeyRepository } from '../mykey/repository.ts';
import { organizationRepository } from '../organizations/repository.ts';
import {
  LIMITS, assertBalanced, budgetReturnEntry, conversionEntry, expiryEntry, fundingEntry, grantEntry, paymentEntry, requestHash, reversalEntry,
  type Entry, type EntryKind, type NewLot, type Posting,
} from './entries.ts';
import { afterCommit, pointsMoved } from '../metrics/metrics.ts';
import { accountKey, ledgerRepository as repo, type AccountOwner, type Campaign, type LockedAccount, type StoredEntry } from './repository.ts';
import {
  campaignPays, campaignPointsExpire, convertedPointsExpire, drawSoonestExpiring, premiumFor, refundable, restoreInReverse, voidable,
  type LotMovement, type OpenLot, type TakenFromLot,
} from './rules.ts';

type Trx = Knex.Transaction;

/**
 * What a posting did: the entry, its postings, and whether it had been posted before (a replay).
 * `spendableAfter`: for a fresh entry drawing a resident's soonest-expiring lots, what that
 * resident can spend after it, when the locked lots it read were all of them (else absent).
 */
export interface Posted { entryId: number; replayed: boolean; postings: Posting[]; spendableAfter?: number }

/**
 * Runs `work` in a READ COMMITTED transaction, again after a deadlock or lock wait timeout.
 * The operations are correct at any isolation level; READ COMMITTED takes no gap locks, so
 * postings to different residents wait for each other less.
 */
export function inLedgerTransaction<T>(db: Db, work: (trx: Trx) => Promise<T>): Promise<T> {
  return retryTransient(() => db.transaction(work, { isolationLevel: 'read committed' }));
}

/**
 * Posts an entry built by the builders in entries.ts: locks its accounts, replays a reference
 * posted before, and applies it. Use the operations below unless an entry's amounts do not
 * depend on ledger state.
 */
export async function post(trx: Trx, entry: Entry): Promise<Posted> {
  const locked = await repo.lockAccounts(trx, entry.postings.map((p) => p.accountId));
  return once(trx, entry.reference, entry.requestHash, () => apply(trx, entry, locked));
}

/**
 * Runs `work` (which posts under `reference`) unless the reference was posted before, then
 * answering that posting. Call it with the accounts locked. A refusal that depends on ledger
 * state is checked once more against a replay: a twin request that committed first leaves the
 * state changed, and its retry must get the twin's answer, not the refusal.
 */
async function once(trx: Trx, reference: string, hash: Buffer, work: () => Promise<Posted>, known?: { stored: StoredEntry | undefined }): Promise<Posted> {
  // A plain read takes no gap lock; it may miss a twin (under REPEATABLE READ, or read before the
  // locks as `known`), which the unique key or the locking re-read below catches.
  const replay = known ? await replayFrom(trx, reference, hash, known.stored) : await replayOf(trx, reference, hash);
  if (replay) return replay;
  try {
    return await work();
  } catch (error) {
    const replay = error instanceof Problem ? await replayOf(trx, reference, hash, { lock: true }) : undefined;
    if (replay) return replay;
    throw error;
  }
}

/** The earlier posting of this reference, or undefined; the same reference with another request is refused. */
async function replayOf(trx: Trx, reference: string, hash: Buffer, { lock = false } = {}): Promise<Posted | undefined> {
  return replayFrom(trx, reference, hash, await entryByReference(trx, reference, { lock }));
}

async function entryByReference(trx: Trx, reference: string, { lock = false } = {}): Promise<StoredEntry | undefined> {
  return (await repo.entriesByReferences(trx, [reference], { lock })).get(reference);
}

async function replayFrom(trx: Trx, reference: string, hash: Buffer, stored: StoredEntry | undefined): Promise<Posted | undefined> {
  if (!stored) return undefined;
  if (!stored.requestHash.equals(hash)) {
    throw new Problem('ledger_reference_reused', `reference ${reference} was posted for a different request`, { reference });
  }
  return { entryId: stored.id, replayed: true, postings: await repo.postingsOf(trx, stored.id) };
}

interface LotPlan { accountId: number; create?: NewLot[]; moves?: LotMovement[]; spendableAfter?: number }

/**
 * Applies an entry whose accounts this transaction has locked, and keeps `locked` current
 * (each balance moved by its posting) for the next entry of the same transaction.
 */
async function apply(trx: Trx, entry: Entry, locked: LockedAccount[]): Promise<Posted> {
  const accounts = new Map(locked.map((account) => [account.id, account]));
  assertPostable(entry, accounts);
  // Lots first: a payment the lots cannot cover is refused here, with what can be spent.
  const plans: LotPlan[] = [];
  for (const posting of entry.postings) if (posting.lots) plans.push(await planLots(trx, entry.postedAt, posting));
  for (const posting of entry.postings) {
    const account = accounts.get(posting.accountId)!;
    if ((account.kind === 'resident' || account.kind === 'campaign_budget') && account.balance + posting.amount < 0) {
      throw new Error(`ledger invariant: account ${account.id} would fall to ${account.balance + posting.amount}`);
    }
  }
  const entryId = (await repo.insertEntries(trx, [entry]))?.get(entry.reference);
  // Taken meanwhile by a transaction that did not hold these accounts (another request, or a stale snapshot).
  if (entryId === undefined) return (await replayOf(trx, entry.reference, entry.requestHash, { lock: true }))!;
  countPoints(trx, [entry]);
  for (const plan of plans) await writeLots(trx, entryId, plan);
  await repo.insertPostings(trx, entry.postings.map((p) => ({ entryId, accountId: p.accountId, amount: p.amount })));
  await repo.addToBalances(trx, entry.postings);
  for (const posting of entry.postings) accounts.get(posting.accountId)!.balance += posting.amount;
  const spendableAfter = plans.find((plan) => plan.spendableAfter !== undefined)?.spendableAfter;
  return { entryId, replayed: false, postings: entry.postings, ...(spendableAfter === undefined ? {} : { spendableAfter }) };
}

/** The movement an entry kind is to a resident, as the metrics name it; funding and budget returns move no resident's points. */
const MOVEMENTS: Partial<Record<EntryKind, string>> = { conversion: 'issued', grant: 'issued', payment: 'redeemed', refund: 'refunded', void: 'refunded', expiry: 'expired' };

/** What these entries moved to or from residents (their lots' postings), counted once the transaction commits. */
function countPoints(trx: Trx, entries: Entry[]): void {
  const moved = entries.flatMap((entry) => {
    const movement = MOVEMENTS[entry.kind];
    const points = Math.abs(entry.postings.filter((p) => p.lots).reduce((sum, p) => sum + p.amount, 0));
    return movement && points > 0 ? [{ movement, points }] : [];
  });
  if (moved.length > 0) afterCommit(trx, () => { for (const { movement, points } of moved) pointsMoved.inc({ movement }, points); });
}

/** Checks an entry against the accounts this transaction locked: all of them locked, in the entry's municipality, lots with residents only. */
function assertPostable(entry: Entry, accounts: Map<number, LockedAccount>): void {
  assertBalanced(entry);
  for (const posting of entry.postings) {
    const account = accounts.get(posting.accountId);
    if (!account) throw new Error(`ledger invariant: account ${posting.accountId} is not locked (or does not exist)`);
    if (account.municipalityCode !== entry.municipalityCode) throw new Error(`ledger invariant: account ${account.id} belongs to another municipality`);
    if ((account.kind === 'resident') !== Boolean(posting.lots)) throw new Error(`ledger invariant: lots move with resident accounts only (account ${account.id})`);
  }
}

/** The lots a resident posting creates or moves; named lots are checked against their locked rows. */
async function planLots(trx: Trx, at: Date, posting: Posting): Promise<LotPlan> {
  const effect = posting.lots!;
  if ('create' in effect) return { accountId: posting.accountId, create: effect.create };
  // Drawn from the account's own lots, read and locked by drawSoonest itself.
  if ('soonestExpiring' in effect) return { accountId: posting.accountId, ...(await drawSoonest(trx, posting.accountId, -posting.amount, at, effect.atMerchant)) };
  const moves = effect.move;
  const lots = new Map((await repo.lockLots(trx, moves.map((m) => m.lotId))).map((lot) => [lot.id, lot]));
  for (const move of moves) {
    const lot = lots.get(move.lotId);
    const after = lot ? lot.remaining + move.amount : NaN;
    if (!lot || lot.accountId !== posting.accountId || !(after >= 0 && after <= lot.original)) {
      throw new Error(`ledger invariant: lot ${move.lotId} cannot move by ${move.amount} in account ${posting.accountId}`);
    }
  }
  return { accountId: posting.accountId, moves };
}

async function writeLots(trx: Trx, entryId: number, plan: LotPlan): Promise<void> {
  if (plan.moves) return repo.moveLots(trx, entryId, plan.moves);
  await repo.insertLots(trx, plan.create!.map((lot) => ({ ...lot, accountId: plan.accountId, entryId })));
}

const LOT_PAGE = 50;

/**
 * The lots a debit of `points` takes, soonest expiry first; refused with what can be spent when
 * they do not cover it. When the pages read hold every spendable lot (the last one came back
 * short), also what is left to spend after the debit, so the caller need not sum the lots again.
 */
async function drawSoonest(trx: Trx, accountId: number, points: number, now: Date, atMerchant?: number): Promise<{ moves: LotMovement[]; spendableAfter?: number }> {
  const lots: OpenLot[] = [];
  let covered = 0;
  let readAll = false;
  while (covered < points && lots.length < LIMITS.maxLotMovements) {
    const limit = Math.min(LOT_PAGE, LIMITS.maxLotMovements - lots.length);
    const page = await repo.spendableLots(trx, accountId, now, limit, lots.at(-1), atMerchant);
    lots.push(...page);
    covered += page.reduce((sum, lot) => sum + lot.remaining, 0);
    readAll = page.length < limit;
    if (page.length < LOT_PAGE) break;
  }
  const moves = drawSoonestExpiring(lots, points, now);
  if (moves) return readAll ? { moves, spendableAfter: covered - points } : { moves };
  const available = await repo.spendablePoints(trx, accountId, now, { lock: true, atMerchant });
  if (available >= points) {
    throw new Problem('points_too_fragmented', `${points} points would take more than ${LIMITS.maxLotMovements} lots`, { availablePoints: available, maxLots: LIMITS.maxLotMovements });
  }
  throw new Problem('insufficient_points', `${points} points asked, ${available} available`, { availablePoints: available, requestedPoints: points });
}

// --- inputs --------------------------------------------------------------------------------

function checkPoints(points: number, max: number = LIMITS.maxResidentPoints): void {
  if (!Number.isSafeInteger(points) || points < 1 || points > max) {
    throw new Problem('points_out_of_range', `points must be an integer from 1 to ${max}, not ${points}`, { minPoints: 1, maxPoints: max });
  }
}

async function mykeyPkOf(trx: Trx, mykeyId: string): Promise<number> {
  const mykey = (await mykeyRepository.statuses(trx, [mykeyId])).get(mykeyId);
  if (!mykey) throw new Problem('mykey_not_found');
  return mykey.pk;
}

/**
 * The campaign, which must belong to `municipalityCode` when that is given. Share-locked: a
 * pause or an end, which lock it for update, waits for this posting, or this posting sees it.
 */
async function campaignOf(trx: Trx, campaignId: number, municipalityCode?: string): Promise<Campaign> {
  const campaign = await repo.campaign(trx, campaignId, { lock: true });
  if (!campaign || (municipalityCode !== undefined && campaign.municipalityCode !== municipalityCode)) {
    throw new Problem('campaign_not_found', `campaign ${campaignId} is not a campaign of municipality ${municipalityCode ?? '(any)'}`);
  }
  return campaign;
}

/**
 * The account of this owner in this municipality, created on first use. Found by a plain read,
 * it is locked later, in order with the others. When a concurrent transaction created it after
 * this one's snapshot, the insert finds it exclusively locked out of that order, which could
 * deadlock with a transaction locking in order: the whole transaction is run again
 * (ConcurrentChange, retried by inLedgerTransaction), and then finds it by the plain read.
 */
async function accountOf(trx: Trx, municipalityCode: string, owner: AccountOwner): Promise<number> {
  const found = (await repo.findAccounts(trx, [{ municipalityCode, owner }])).get(accountKey(municipalityCode, owner));
  if (found !== undefined) return found;
  if ((await organizationRepository.existingMunicipalities(trx, [municipalityCode])).size === 0) throw new Problem('municipality_not_found');
  if (owner.kind === 'partner_clearing' && !(await repo.partnerExists(trx, owner.partnerId))) throw new Problem('partner_not_found');
  const created = await repo.insertAccount(trx, municipalityCode, owner);
  if (created === undefined) throw new ConcurrentChange(`the ${owner.kind} account in ${municipalityCode} was created by a concurrent transaction`);
  return created;
}

const balanceOf = (locked: LockedAccount[], id: number): number => locked.find((account) => account.id === id)!.balance;

/** What an entry took from an account (0 when it took nothing). */
const takenFrom = (postings: Posting[], accountId: number): number => Math.max(0, -(postings.find((p) => p.accountId === accountId)?.amount ?? 0));

// --- operations ----------------------------------------------------------------------------

export interface FundCampaign { reference: string; campaignId: number; points: number; now?: Date }

/**
 * Municipality funding → campaign budget. The funding over a campaign's life never exceeds its
 * budget_points (campaign_funding_exceeds_budget, with unfundedPoints).
 */
export async function fundCampaign(trx: Trx, r: FundCampaign): Promise<Posted> {
  checkPoints(r.points, LIMITS.maxFundingPoints);
  const campaign = await campaignOf(trx, r.campaignId);
  const hash = requestHash({ op: 'funding', campaignId: r.campaignId, points: r.points });
  const fundingAccount = await accountOf(trx, campaign.municipalityCode, { kind: 'municipality_funding' });
  const budgetAccount = await accountOf(trx, campaign.municipalityCode, { kind: 'campaign_budget', campaignId: campaign.id });
  const locked = await repo.lockAccounts(trx, [fundingAccount, budgetAccount]);
  return once(trx, r.reference, hash, async () => {
    const unfunded = campaign.budgetPoints - await repo.campaignFunded(trx, campaign.id, budgetAccount);
    if (r.points > unfunded) {
      throw new Problem('campaign_funding_exceeds_budget', `${r.points} points asked, ${unfunded} left to fund`, { unfundedPoints: Math.max(0, unfunded) });
    }
    const head = { reference: r.reference, municipalityCode: campaign.municipalityCode, requestHash: hash, postedAt: r.now ?? new Date() };
    return apply(trx, fundingEntry(head, { campaignId: campaign.id, fundingAccount, budgetAccount, points: r.points }), locked);
  });
}

export interface ReturnBudget { reference: string; campaignId: number; now: Date }

/**
 * Campaign budget → municipality funding: all that is left of the budget, when the campaign
 * ends. Undefined when nothing is left (no entry of zero points). The caller locks the campaign
 * row for update first, so no grant or premium draws on the budget meanwhile.
 */
export async function returnBudget(trx: Trx, r: ReturnBudget): Promise<Posted | undefined> {
  const campaign = await campaignOf(trx, r.campaignId);
  const fundingAccount = await accountOf(trx, campaign.municipalityCode, { kind: 'municipality_funding' });
  const budgetAccount = await accountOf(trx, campaign.municipalityCode, { kind: 'campaign_budget', campaignId: campaign.id });
  const locked = await repo.lockAccounts(trx, [fundingAccount, budgetAccount]);
  const left = balanceOf(locked, budgetAccount);
  const hash = requestHash({ op: 'budget_return', campaignId: campaign.id });
  const replay = await replayOf(trx, r.reference, hash);
  if (replay || left === 0) return replay;
  const head = { reference: r.reference, municipalityCode: campaign.municipalityCode, requestHash: hash, postedAt: r.now };
  return apply(trx, budgetReturnEntry(head, { campaignId: campaign.id, fundingAccount, budgetAccount, points: left }), locked);
}

export interface CreditConversion {
  reference: string;
  municipalityCode: string;
  mykeyId: string;
  partnerId: number;
  /** Municipal points the partner's units are worth (the rate is applied by the caller). */
  points: number;
  /** The campaign that adds its premium, if any. */
  campaignId?: number;
  now?: Date;
}

export interface Credited extends Posted { basePoints: number; premiumPoints: number }

const conversionHash = (r: CreditConversion) =>
  requestHash({ op: 'conversion', municipalityCode: r.municipalityCode, mykeyId: r.mykeyId, partnerId: r.partnerId, points: r.points, campaignId: r.campaignId ?? null });

/**
 * Partner clearing → resident for each request's `points`, plus campaign budget → resident for
 * the premium. The premium is the campaign's percent of the points (rounded down) while the
 * campaign runs, cut to what is left of its budget and of the resident's cap, down to nothing.
 * The converted points are never cut: a budget running out mid-request costs the premium, not
 * the conversion.
 *
 * The one way the ledger credits conversions: a single request is a batch of one. The requests
 * are posted as if one after the other in this order (premiums cut in this order as the budget
 * and caps run low, replays answered alike), in a handful of statements for them all instead of
 * a dozen for each: a partner's clearing account and a campaign's budget are locked by every
 * conversion, so the time spent holding them is what bounds the rate. All or nothing: a refusal
 * (Problem) of any one refuses the call, and the caller decides what to do with each.
 */
export async function creditConversions(trx: Trx, requests: CreditConversion[]): Promise<Credited[]> {
  if (new Set(requests.map((r) => r.reference)).size !== requests.length) throw new Error('ledger invariant: each reference once per call');
  for (const r of requests) checkPoints(r.points);
  const campaigns = new Map<number, Campaign>();
  for (const r of requests) {
    if (r.campaignId === undefined) continue;
    const campaign = campaigns.get(r.campaignId) ?? await campaignOf(trx, r.campaignId, r.municipalityCode);
    if (campaign.municipalityCode !== r.municipalityCode) throw new Problem('campaign_not_found', `campaign ${r.campaignId} is not a campaign of municipality ${r.municipalityCode}`);
    campaigns.set(campaign.id, campaign);
  }
  const mykeys = await mykeyRepository.statuses(trx, requests.map((r) => r.mykeyId));
  const owners = requests.map((r) => {
    const mykeyPk = mykeys.get(r.mykeyId)?.pk;
    if (mykeyPk === undefined) throw new Problem('mykey_not_found');
    return {
      partner: { kind: 'partner_clearing', partnerId: r.partnerId } as const,
      resident: { kind: 'resident', mykeyPk } as const,
      budget: r.campaignId === undefined ? undefined : { kind: 'campaign_budget', campaignId: r.campaignId } as const,
    };
  });
  // Existing accounts in one read; those used for the first time are created one by one, in
  // the order of their keys, so two batches creating the same accounts wait for each other
  // instead of each holding one the other wants.
  const all = requests.flatMap((r, i) => [owners[i]!.partner, owners[i]!.resident, ...(owners[i]!.budget ? [owners[i]!.budget!] : [])]
    .map((owner) => ({ municipalityCode: r.municipalityCode, owner, key: accountKey(r.municipalityCode, owner) })));
  const ids = await repo.findAccounts(trx, all);
  for (const { municipalityCode, owner, key } of all.sort((a, b) => (a.key < b.key ? -1 : a.key > b.key ? 1 : 0))) {
    if (!ids.has(key)) ids.set(key, await accountOf(trx, municipalityCode, owner));
  }
  const accounts = new Map((await repo.lockAccounts(trx, [...ids.values()])).map((account) => [account.id, account]));
  const accountIds = requests.map((r, i) => ({
    partner: ids.get(accountKey(r.municipalityCode, owners[i]!.partner))!,
    resident: ids.get(accountKey(r.municipalityCode, owners[i]!.resident))!,
    budget: owners[i]!.budget && ids.get(accountKey(r.municipalityCode, owners[i]!.budget!)),
  }));

  const hashes = requests.map(conversionHash);
  const stored = await repo.entriesByReferences(trx, requests.map((r) => r.reference));
  const received = await repo.campaignPointsReceived(trx, requests.flatMap((r, i) => (r.campaignId === undefined ? [] : [{ accountId: accountIds[i]!.resident, campaignId: r.campaignId }])));
  const balances = new Map([...accounts.values()].map((account) => [account.id, account.balance]));
  const answers: Array<Credited | undefined> = [];
  const entries: Array<{ index: number; entry: Entry }> = [];
  for (const [i, r] of requests.entries()) {
    const earlier = stored.get(r.reference);
    if (earlier) {
      if (!earlier.requestHash.equals(hashes[i]!)) throw new Problem('ledger_reference_reused', `reference ${r.reference} was posted for a different request`, { reference: r.reference });
      const postings = await repo.postingsOf(trx, earlier.id);
      const { partner, budget } = accountIds[i]!;
      answers.push({ entryId: earlier.id, replayed: true, postings, basePoints: takenFrom(postings, partner), premiumPoints: budget ? takenFrom(postings, budget) : 0 });
      continue;
    }
    const now = r.now ?? new Date();
    const { partner, resident, budget } = accountIds[i]!;
    let premium: Parameters<typeof conversionEntry>[1]['premium'];
    const campaign = r.campaignId === undefined ? undefined : campaigns.get(r.campaignId)!;
    if (campaign && budget !== undefined) {
      const receivedKey = `${resident}:${campaign.id}`;
      const points = premiumFor({
        basePoints: r.points, percent: campaign.premiumPercent, running: campaign.kind === 'conversion_premium' && campaignPays(campaign, now),
        budgetLeft: balances.get(budget)!, capLeft: Math.min(campaign.capPerResidentPoints - (received.get(receivedKey) ?? 0), LIMITS.maxResidentPoints),
      });
      received.set(receivedKey, (received.get(receivedKey) ?? 0) + points);
      premium = { campaignId: campaign.id, budgetAccount: budget, points, expiresAt: campaignPointsExpire(campaign.validity, now) };
    }
    const head = { reference: r.reference, municipalityCode: r.municipalityCode, requestHash: hashes[i]!, postedAt: now };
    const entry = conversionEntry(head, { partnerAccount: partner, residentAccount: resident, basePoints: r.points, baseExpiresAt: convertedPointsExpire(now), premium });
    assertPostable(entry, accounts);
    for (const posting of entry.postings) balances.set(posting.accountId, balances.get(posting.accountId)! + posting.amount);
    entries.push({ index: i, entry });
    answers.push(undefined);
  }
  for (const account of accounts.values()) {
    if ((account.kind === 'resident' || account.kind === 'campaign_budget') && balances.get(account.id)! < 0) {
      throw new Error(`ledger invariant: account ${account.id} would fall to ${balances.get(account.id)}`);
    }
  }
  if (entries.length > 0) {
    const entryIds = await repo.insertEntries(trx, entries.map(({ entry }) => entry));
    // Taken meanwhile by a transaction that did not hold these accounts: run again, and it is a replay.
    if (!entryIds) throw new ConcurrentChange('a conversion reference was posted by a concurrent transaction');
    countPoints(trx, entries.map(({ entry }) => entry));
    await repo.insertLots(trx, entries.flatMap(({ entry }) => entry.postings.flatMap((p) => (p.lots && 'create' in p.lots
      ? p.lots.create.map((lot) => ({ ...lot, accountId: p.accountId, entryId: entryIds.get(entry.reference)! })) : []))));
    const postings = entries.flatMap(({ entry }) => entry.postings.map((p) => ({ entryId: entryIds.get(entry.reference)!, accountId: p.accountId, amount: p.amount })));
    await repo.insertPostings(trx, postings);
    const moved = new Map<number, number>();
    for (const p of postings) moved.set(p.accountId, (moved.get(p.accountId) ?? 0) + p.amount);
    await repo.addToBalances(trx, [...moved].filter(([, amount]) => amount !== 0).map(([accountId, amount]) => ({ accountId, amount })));
    for (const { index, entry } of entries) {
      const { partner, budget } = accountIds[index]!;
      answers[index] = {
        entryId: entryIds.get(entry.reference)!, replayed: false, postings: entry.postings,
        basePoints: takenFrom(entry.postings, partner), premiumPoints: budget ? takenFrom(entry.postings, budget) : 0,
      };
    }
  }
  return answers as Credited[];
}

/** `kind`: what the points are for; only a campaign of that kind pays them (campaign_kind_mismatch). */
export interface GrantPoints { reference: string; campaignId: number; kind: 'administrative' | 'event'; mykeyId: string; points: number; now?: Date }

/**
 * Campaign budget → resident: administrative or event points, valid as the campaign's rule says.
 * All or nothing: refused when the campaign does not pay now (not running, or outside its dates), its budget is short
 * (campaign_budget_insufficient) or the resident's cap would be passed (campaign_cap_exceeded).
 */
export async function grantPoints(trx: Trx, r: GrantPoints): Promise<Posted> {
  checkPoints(r.points);
  const now = r.now ?? new Date();
  const hash = requestHash({ op: 'grant', campaignId: r.campaignId, mykeyId: r.mykeyId, points: r.points });
  const campaign = await campaignOf(trx, r.campaignId);
  if (campaign.kind !== r.kind) throw new Problem('campaign_kind_mismatch', `campaign ${campaign.id} is ${campaign.kind}, not ${r.kind}`);
  const mykeyPk = await mykeyPkOf(trx, r.mykeyId);
  const budgetAccount = await accountOf(trx, campaign.municipalityCode, { kind: 'campaign_budget', campaignId: campaign.id });
  const residentAccount = await accountOf(trx, campaign.municipalityCode, { kind: 'resident', mykeyPk });
  const locked = await repo.lockAccounts(trx, [budgetAccount, residentAccount]);
  return once(trx, r.reference, hash, async () => {
    if (!campaignPays(campaign, now)) throw new Problem('campaign_not_running', `campaign ${campaign.id} is ${campaign.status}, ${campaign.startsOn} to ${campaign.endsOn}`);
    const budgetLeft = balanceOf(locked, budgetAccount);
    if (r.points > budgetLeft) throw new Problem('campaign_budget_insufficient', `${r.points} points asked, ${budgetLeft} left`, { availablePoints: budgetLeft });
    const received = await repo.campaignPointsReceived(trx, [{ accountId: residentAccount, campaignId: campaign.id }]);
    const capLeft = campaign.capPerResidentPoints - (received.get(`${residentAccount}:${campaign.id}`) ?? 0);
    if (r.points > capLeft) throw new Problem('campaign_cap_exceeded', `${r.points} points asked, ${capLeft} left under the cap`, { remainingPoints: Math.max(0, capLeft) });
    const head = { reference: r.reference, municipalityCode: campaign.municipalityCode, requestHash: hash, postedAt: now };
    return apply(trx, grantEntry(head, { campaignId: campaign.id, budgetAccount, residentAccount, points: r.points, expiresAt: campaignPointsExpire(campaign.validity, now) }), locked);
  });
}

export interface PayMerchant { reference: string; merchantId: number; mykeyId: string; points: number; now?: Date }

/**
 * Resident → merchant payable, in the merchant's municipality, from the lots valid at `now`
 * that expire soonest. Refused with insufficient_points (availablePoints) when they fall short.
 */
export async function payMerchant(trx: Trx, r: PayMerchant): Promise<Posted> {
  checkPoints(r.points);
  // The parties, their accounts and an earlier posting of the reference in one read, before any lock.
  const parties = await repo.paymentParties(trx, r.merchantId, r.mykeyId, r.reference);
  if (!parties) throw new Problem('merchant_not_found');
  const { municipalityCode, mykeyPk } = parties;
  if (mykeyPk === undefined) throw new Problem('mykey_not_found');
  const residentAccount = parties.residentAccount ?? await accountOf(trx, municipalityCode, { kind: 'resident', mykeyPk });
  const merchantAccount = parties.merchantAccount ?? await accountOf(trx, municipalityCode, { kind: 'merchant_payable', merchantId: r.merchantId });
  const head = {
    reference: r.reference, municipalityCode, postedAt: r.now ?? new Date(),
    requestHash: requestHash({ op: 'payment', merchantId: r.merchantId, mykeyId: r.mykeyId, points: r.points }),
  };
  const entry = paymentEntry(head, { residentAccount, merchantAccount, merchantId: r.merchantId, points: r.points });
  const locked = await repo.lockAccounts(trx, [residentAccount, merchantAccount]);
  return once(trx, entry.reference, entry.requestHash, () => apply(trx, entry, locked), { stored: parties.posted });
}

export interface RefundPayment { reference: string; paymentReference: string; points: number; now?: Date }

/**
 * Merchant payable → resident, back into the lots the payment took, the latest-expiring first.
 * A lot already past its expiry is refilled too; the next expiry run moves it on. Refused with
 * refund_exceeds_payment (refundablePoints) beyond what the payment took less earlier refunds.
 */
export async function refundPayment(trx: Trx, r: RefundPayment): Promise<Posted> {
  checkPoints(r.points);
  return reverse(trx, r.reference, r.paymentReference, r.now, { op: 'refund', paymentReference: r.paymentReference, points: r.points },
    (taken) => {
      const restore = restoreInReverse(taken, r.points);
      if (restore) return restore;
      const left = refundable(taken);
      throw new Problem('refund_exceeds_payment', `${r.points} points asked, ${left} refundable`, { refundablePoints: left });
    });
}

export interface VoidPayment { reference: string; paymentReference: string; now?: Date }

/** The whole payment back, on the Japanese calendar day it was made, if nothing of it was refunded. */
export async function voidPayment(trx: Trx, r: VoidPayment): Promise<Posted> {
  return reverse(trx, r.reference, r.paymentReference, r.now, { op: 'void', paymentReference: r.paymentReference },
    (taken, reversals, paidAt, now) => {
      if (reversals > 0) throw new Problem('payment_already_reversed');
      if (!voidable(paidAt, now)) throw new Problem('void_window_closed');
      return restoreInReverse(taken, refundable(taken))!;
    });
}

/** A refund or void: `restoring` decides, under the accounts' locks, which lots get what back. */
async function reverse(trx: Trx, reference: string, paymentReference: string, at: Date | undefined, request: { op: 'refund' | 'void' } & Record<string, unknown>,
  restoring: (taken: TakenFromLot[], reversals: number, paidAt: Date, now: Date) => LotMovement[]): Promise<Posted> {
  const now = at ?? new Date();
  const payment = await entryByReference(trx, paymentReference, { lock: true });
  if (!payment || payment.kind !== 'payment') throw new Problem('payment_not_found', `no payment has the reference ${paymentReference}`);
  const paid = await repo.postingsOf(trx, payment.id);
  const residentAccount = paid.find((p) => p.amount < 0)!.accountId;
  const merchantAccount = paid.find((p) => p.amount > 0)!.accountId;
  const locked = await repo.lockAccounts(trx, [residentAccount, merchantAccount]);
  const hash = requestHash(request);
  return once(trx, reference, hash, async () => {
    const restore = restoring(await repo.takenByPayment(trx, payment.id), await repo.reversalsOf(trx, payment.id), payment.postedAt, now);
    const head = { reference, municipalityCode: payment.municipalityCode, requestHash: hash, postedAt: now };
    return apply(trx, reversalEntry(head, { kind: request.op, paymentEntryId: payment.id, residentAccount, merchantAccount, restore }), locked);
  });
}

/**
 * Resident → expired for what is left of each of the account's lots past expiry at `now`, one
 * entry per lot. The reference names the lot and the last entry that moved it, so running again
 * finds nothing left to move, and a lot a refund refilled after it expired is moved once more.
 */
export async function expireAccount(trx: Trx, residentAccount: number, now: Date): Promise<{ entries: number; points: number }> {
  const resident = await repo.account(trx, residentAccount);
  if (resident?.kind !== 'resident') throw new Error(`ledger: account ${residentAccount} is not a resident's account`);
  const expiredAccount = await accountOf(trx, resident.municipalityCode, { kind: 'expired' });
  const locked = await repo.lockAccounts(trx, [residentAccount, expiredAccount]);
  const lots = await repo.expiredLots(trx, residentAccount, now);
  const moved = { entries: 0, points: 0 };
  if (lots.length === 0) return moved;
  const last = await repo.lastMovements(trx, lots.map((lot) => lot.id));
  for (const lot of lots) {
    const afterEntryId = last.get(lot.id)!;
    const hash = requestHash({ op: 'expiry', lotId: lot.id, afterEntryId, points: lot.remaining });
    const head = { reference: `expiry:lot:${lot.id}:after:${afterEntryId}`, municipalityCode: resident.municipalityCode, requestHash: hash, postedAt: now };
    const posted = await once(trx, head.reference, hash, () => apply(trx, expiryEntry(head, { residentAccount, expiredAccount, lotId: lot.id, points: lot.remaining }), locked));
    if (!posted.replayed) {
      moved.entries++;
      moved.points += lot.remaining;
    }
  }
  return moved;
}

/**
 * A resident's points in a municipality: the balance, and what can be spent at `now` (lots not
 * yet expired); `atMerchant`, what can be spent at that shop (docs/campaigns.md#where-points-are-spent).
 */
export async function residentPoints(conn: Db | Trx, municipalityCode: string, mykeyId: string, now = new Date(), atMerchant?: number): Promise<{ balance: number; spendable: number }> {
  const mykeyPk = (await mykeyRepository.statuses(conn, [mykeyId])).get(mykeyId)?.pk;
  const owner = mykeyPk === undefined ? undefined : { kind: 'resident', mykeyPk } as const;
  const account = owner && (await repo.findAccounts(conn, [{ municipalityCode, owner }])).get(accountKey(municipalityCode, owner));
  if (account === undefined) return { balance: 0, spendable: 0 };
  return { balance: (await repo.account(conn, account))!.balance, spendable: await repo.spendablePoints(conn, account, now, { atMerchant }) };
}
