// The ledger's business rules as pure functions: which lots a payment spends, which lots a
// refund restores, how large a premium may be, and when points expire. No SQL here, so each
// rule can be read, and tested, on its own (docs/ledger.md).
import type { CampaignStatus, PointsValidity } from '@mykey/contracts/campaigns.ts';

/** A lot as spending sees it. */
export interface OpenLot { id: number; remaining: number; expiresAt: Date }

/** A change to one lot's remaining points: negative draws, positive restores. */
export interface LotMovement { lotId: number; amount: number }

/**
 * Spends `points` from the lots still valid at `now`, soonest expiry first and, among lots
 * expiring together, the oldest (lowest id) first. Undefined when the lots do not cover it.
 */
export function drawSoonestExpiring(lots: OpenLot[], points: number, now: Date): LotMovement[] | undefined {
  const spendable = lots.filter((lot) => lot.remaining > 0 && lot.expiresAt > now)
    .sort((a, b) => a.expiresAt.getTime() - b.expiresAt.getTime() || a.id - b.id);
  const moves: LotMovement[] = [];
  let left = points;
  for (const lot of spendable) {
    if (left === 0) break;
    const take = Math.min(lot.remaining, left);
    moves.push({ lotId: lot.id, amount: -take });
    left -= take;
  }
  return left === 0 ? moves : undefined;
}

/** What a payment took from one lot, in the order it took them, and what refunds gave back since. */
export interface TakenFromLot { lotId: number; taken: number; restored: number }

/**
 * Gives `points` back to the lots a payment took them from, undoing the payment from its
 * end: the lot taken last (the latest-expiring) is refilled first, so the resident keeps the
 * longest-lived points. Undefined when `points` exceeds what is still refundable.
 */
export function restoreInReverse(taken: TakenFromLot[], points: number): LotMovement[] | undefined {
  const moves: LotMovement[] = [];
  let left = points;
  for (const lot of [...taken].reverse()) {
    if (left === 0) break;
    const give = Math.min(lot.taken - lot.restored, left);
    if (give > 0) moves.push({ lotId: lot.lotId, amount: give });
    left -= give;
  }
  return left === 0 ? moves : undefined;
}

export const refundable = (taken: TakenFromLot[]): number => taken.reduce((sum, lot) => sum + lot.taken - lot.restored, 0);

/** What decides a conversion's premium. */
export interface PremiumTerms {
  basePoints: number;
  percent: number;
  running: boolean;
  budgetLeft: number;
  /** The resident's per-campaign cap minus what the campaign already gave them. */
  capLeft: number;
}

/**
 * The campaign's premium on a conversion: `percent` of the base, rounded down, while the
 * campaign runs, cut to what is left of the budget and of the resident's cap. The premium
 * is cut, never the base: a conversion always credits its base points in full.
 */
export function premiumFor(terms: PremiumTerms): number {
  if (!terms.running) return 0;
  const wanted = Math.floor((terms.basePoints * terms.percent) / 100);
  return Math.max(0, Math.min(wanted, terms.budgetLeft, terms.capLeft));
}

const TOKYO_OFFSET_MS = 9 * 3_600_000;
const DAY_MS = 86_400_000;

const DATE = /^(\d{4})-(\d{2})-(\d{2})$/;

/** YYYY-MM-DD naming a day that exists (no 31 April). */
export const isDate = (text: string) => {
  const match = DATE.exec(text);
  if (!match) return false;
  const date = new Date(Date.UTC(Number(match[1]), Number(match[2]) - 1, Number(match[3])));
  return date.toISOString().slice(0, 10) === text;
};

/** The calendar date in Japan (UTC+9, no daylight saving) at `at`, as YYYY-MM-DD. */
export function tokyoDate(at: Date): string {
  return new Date(at.getTime() + TOKYO_OFFSET_MS).toISOString().slice(0, 10);
}

/** The hour of the day in Japan (0–23) at `at`. */
export const tokyoHour = (at: Date): number => new Date(at.getTime() + TOKYO_OFFSET_MS).getUTCHours();

/** The instant as a clock in Japan shows it, to the second: 2026-12-06 13:05:09. */
export const tokyoTime = (at: Date): string => new Date(at.getTime() + TOKYO_OFFSET_MS).toISOString().slice(0, 19).replace('T', ' ');

/** The instant a Japanese calendar date (YYYY-MM-DD) ends: midnight Japan time after it. */
export function endOfTokyoDay(date: string): Date {
  return new Date(Date.parse(`${date}T00:00:00.000Z`) - TOKYO_OFFSET_MS + DAY_MS);
}

/** Converted points are valid through the same calendar date (Japan) a year later. */
export function convertedPointsExpire(creditedAt: Date): Date {
  const [year, month, day] = tokyoDate(creditedAt).split('-').map(Number) as [number, number, number];
  // Date.UTC rolls 29 February over to 1 March in a year without it.
  return endOfTokyoDay(new Date(Date.UTC(year + 1, month - 1, day)).toISOString().slice(0, 10));
}

/**
 * When points a campaign pays for (premiums and grants) expire, by the campaign's rule: at the
 * end of a fixed Japanese date, or of the same date N months after the grant (the month's last
 * day when it is shorter: 31 January + 1 month is 28 or 29 February).
 */
export function campaignPointsExpire(validity: PointsValidity, grantedAt: Date): Date {
  if ('until' in validity) return endOfTokyoDay(validity.until);
  const [year, month, day] = tokyoDate(grantedAt).split('-').map(Number) as [number, number, number];
  const target = new Date(Date.UTC(year, month - 1 + validity.months, 1));
  const lastDay = new Date(Date.UTC(target.getUTCFullYear(), target.getUTCMonth() + 1, 0)).getUTCDate();
  target.setUTCDate(Math.min(day, lastDay));
  return endOfTokyoDay(target.toISOString().slice(0, 10));
}

/** Whether a campaign with these dates (YYYY-MM-DD, both included) runs on the Japanese date at `at`. */
export function campaignRuns(campaign: { startsOn: string; endsOn: string }, at: Date): boolean {
  const today = tokyoDate(at);
  return campaign.startsOn <= today && today <= campaign.endsOn;
}

/** Whether a campaign pays (grants, premiums) at `at`: running, not paused or ended, and within its dates. */
export const campaignPays = (campaign: { status: CampaignStatus; startsOn: string; endsOn: string }, at: Date): boolean =>
  campaign.status === 'running' && campaignRuns(campaign, at);

/** A payment may be voided on the Japanese calendar day it was made, and only then. */
export const voidable = (paidAt: Date, now: Date): boolean => tokyoDate(paidAt) === tokyoDate(now);
