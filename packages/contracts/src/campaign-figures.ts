// What a town reads about its campaigns (docs/campaign-figures.md): the figures of one campaign
// or of the whole programme over a period of Japanese days, and the points about to expire.
// The backend computes them from the ledger (backend/src/campaign-figures/); the console charts them.
import type { Named } from './statement-shape.ts';

/** One Japanese calendar day of a campaign's (or the programme's) points. */
export interface FiguresDay {
  date: string;
  /** Points the budget gave out that day: premiums on conversions and grants. */
  issued: number;
  /** Points of the campaign's lots spent at shops that day, less what refunds and voids put back. */
  redeemed: number;
  /** Points of the campaign's lots that expired unspent that day. */
  expired: number;
  /** Residents who received the campaign's points for the first time that day. */
  newResidents: number;
  /** Residents reached so far, at the end of the day. */
  residentsReached: number;
  /** What was given out of the budget so far, at the end of the day. */
  budgetUsed: number;
  /** What is left in the budget account (funded, not yet given), at the end of the day. */
  budgetLeft: number;
}

export interface FiguresBudget {
  /** The campaigns' budgets as their terms set them. */
  budgetPoints: number;
  /** All that funding put into the budget accounts so far. */
  fundedPoints: number;
  /** All that the budgets gave out so far (issued, since the start). */
  usedPoints: number;
  /** What is left in the budget accounts now: what can still be given. */
  leftPoints: number;
  /**
   * The current pace: the points issued per day, averaged over the last `days` Japanese days
   * through today (fewer when the campaign started since); null when no campaign in scope runs today.
   */
  pace: { days: number; pointsPerDay: number } | null;
  /** The day the budget runs out at that pace (its last day with points left); null when nothing is being issued. */
  runsOutOn: string | null;
  /** Whether that day is after the campaign's end: the budget lasts the campaign. */
  lastsToEnd: boolean;
}

export interface ShopFigure { shop: Named; points: number; payments: number }

export interface CampaignSummary extends Named { startsOn: string; endsOn: string }

export interface CampaignFigures {
  /** The campaign; absent for the whole programme. */
  campaign?: CampaignSummary;
  period: { from: string; to: string; timeZone: 'Asia/Tokyo' };
  days: FiguresDay[];
  totals: { issued: number; redeemed: number; expired: number; newResidents: number };
  /** Residents reached since the start, at the end of the period. */
  residentsReached: number;
  budget: FiguresBudget;
  /** The shops where most of the points were redeemed in the period, most first (at most TOP_SHOPS). */
  topShops: ShopFigure[];
}

/** The whole programme: the same figures across all the town's campaigns, and a line per campaign. */
export interface ProgrammeFigures extends CampaignFigures {
  campaigns: Array<CampaignSummary & { issued: number; redeemed: number; expired: number; residentsReached: number; budgetPoints: number; leftPoints: number }>;
}

export interface ExpiringLine { mykeyId: string; points: number; /** The last day the points can be spent (Japan). */ lastDay: string }

export interface ExpiringFigures {
  /** From today through `until` (Japan dates, inclusive). */
  period: { from: string; to: string; timeZone: 'Asia/Tokyo' };
  /** Per month of the period: how many residents hold points expiring in it, and how many points. */
  months: Array<{ month: string; residents: number; points: number }>;
  /** A line per resident and last day, soonest first: at most EXPIRING_LIST_MAX (the CSV has them all). */
  lines: ExpiringLine[];
  /** How many lines there are in all. */
  lineCount: number;
}

export const TOP_SHOPS = 10;
export const EXPIRING_LIST_MAX = 200;
/** How many days the pace is averaged over. */
export const PACE_DAYS = 14;
