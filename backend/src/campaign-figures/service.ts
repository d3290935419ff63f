// What a town reads about its campaigns, from the ledger as it is (docs/campaign-figures.md):
// one campaign's or the whole programme's points issued, redeemed and expired per Japanese day,
// its budget used and left with the day it runs out at the current pace, the top shops and the
// residents reached; and the points about to expire. Each is read in one snapshot (a
// transaction), a few grouped statements whatever the number of days, campaigns or residents.
import type { Knex } from 'knex';
import { csvFile, csvRow } from '../csv.ts';
import type { Db } from '../db.ts';
import { Problem } from '../http/problems.ts';
import type { EntryKind } from '../ledger/entries.ts';
import { ledgerRepository as ledger, type FiguresSum } from '../ledger/repository.ts';
import { campaignsRepository } from '../campaigns/repository.ts';
import { campaignPays, tokyoDate } from '../ledger/rules.ts';
import { shopsRepository } from '../shops/repository.ts';
import { parsePeriod, type Period } from '../settlement/statement.ts';
import type { SignedInStaff } from '../staff/repository.ts';
import {
  EXPIRING_LIST_MAX, PACE_DAYS, TOP_SHOPS, type CampaignFigures, type ExpiringFigures, type CampaignSummary, type FiguresBudget, type FiguresDay, type ProgrammeFigures, type ShopFigure,
} from '@mykey/contracts/campaign-figures.ts';

const DAY_MS = 86_400_000;
/** The longest period a chart shows, as parsePeriod allows. */
const MAX_DAYS = 366;

/** One campaign by its id, or all the town's. */
export type Scope = { campaignId: number } | 'programme';

type ScopeCampaign = Awaited<ReturnType<typeof campaignsRepository.figuresCampaigns>>[number];

export const addDays = (date: string, days: number): string => new Date(Date.parse(`${date}T00:00:00Z`) + days * DAY_MS).toISOString().slice(0, 10);

/** The dates from `from` through `to`, both included. */
const datesOf = (period: Period): string[] => Array.from({ length: (Date.parse(period.to) - Date.parse(period.from)) / DAY_MS + 1 }, (_, i) => addDays(period.from, i));

/**
 * The period asked for, or by default the campaigns' first day through today (the last 366
 * days at most; a campaign not started yet: its first day).
 */
export function periodOf(campaigns: ScopeCampaign[], from: unknown, to: unknown, now: Date): Period {
  if (from !== undefined || to !== undefined) return parsePeriod(from, to, 'campaign_figures_period_invalid');
  const today = tokyoDate(now);
  const start = campaigns.reduce((first, c) => (c.startsOn < first ? c.startsOn : first), today);
  const end = start > today ? start : today;
  const earliest = addDays(end, 1 - MAX_DAYS);
  return parsePeriod(start < earliest ? earliest : start, end, 'campaign_figures_period_invalid');
}

/** The scope's campaigns: the one asked for (another town's is as unknown as none), or all of the town's. */
async function campaignsOf(conn: Db | Knex.Transaction, staff: SignedInStaff, scope: Scope): Promise<ScopeCampaign[]> {
  const campaigns = await campaignsRepository.figuresCampaigns(conn, staff.municipalityCode, scope === 'programme' ? undefined : scope.campaignId);
  if (scope !== 'programme' && campaigns.length === 0) throw new Problem('campaign_not_found');
  return campaigns;
}

const summaryOf = ({ id, slug, name, startsOn, endsOn }: ScopeCampaign): CampaignSummary => ({ id, slug, name, startsOn, endsOn });

/** The sums of these kinds, negated (what left the budget or the lots), on the day or, without one, in all. */
const outOf = (sums: FiguresSum[], kinds: EntryKind[], day?: string) =>
  -sums.reduce((n, s) => (kinds.includes(s.kind) && (day === undefined || s.day === day) ? n + s.total : n), 0);

const ISSUED: EntryKind[] = ['conversion', 'grant'];
const REDEEMED: EntryKind[] = ['payment', 'refund', 'void'];

/**
 * The day series: what each day issued, redeemed and expired, and where the residents reached
 * and the budget stood at its end (counting everything since the campaigns began).
 */
function daysOf(period: Period, budget: FiguresSum[], lots: FiguresSum[], reached: Array<{ day: string; residents: number }>): FiguresDay[] {
  const through = (day: string) => budget.filter((s) => s.day <= day);
  return datesOf(period).map((date) => ({
    date,
    issued: outOf(budget, ISSUED, date),
    redeemed: outOf(lots, REDEEMED, date),
    expired: outOf(lots, ['expiry'], date),
    newResidents: reached.find((r) => r.day === date)?.residents ?? 0,
    residentsReached: reached.reduce((n, r) => (r.day <= date ? n + r.residents : n), 0),
    budgetUsed: outOf(through(date), ISSUED),
    budgetLeft: through(date).reduce((n, s) => n + s.total, 0),
  }));
}

/**
 * The budget now, and the pace: the points the campaigns running today issued per day over the
 * last PACE_DAYS days through today (the days since the earliest of them began, when fewer),
 * and the day what is left of their budgets runs out at that pace.
 */
function budgetOf(campaigns: ScopeCampaign[], budget: FiguresSum[], now: Date): FiguresBudget {
  const today = tokyoDate(now);
  const running = campaigns.filter((c) => campaignPays(c, now));
  const totals = {
    budgetPoints: campaigns.reduce((n, c) => n + c.budgetPoints, 0),
    fundedPoints: -outOf(budget, ['funding']),
    usedPoints: outOf(budget, ISSUED),
    leftPoints: budget.reduce((n, s) => n + s.total, 0),
  };
  if (running.length === 0) return { ...totals, pace: null, runsOutOn: null, lastsToEnd: false };
  const ids = new Set(running.map((c) => c.id));
  const ofRunning = budget.filter((s) => ids.has(s.campaignId));
  const firstDay = running.reduce((first, c) => (c.startsOn < first ? c.startsOn : first), today);
  const days = Math.min(PACE_DAYS, (Date.parse(today) - Date.parse(firstDay)) / DAY_MS + 1);
  const windowStart = addDays(today, 1 - days);
  const issued = outOf(ofRunning.filter((s) => s.day >= windowStart && s.day <= today), ISSUED);
  const pointsPerDay = issued / days;
  const left = ofRunning.reduce((n, s) => n + s.total, 0);
  const runsOutOn = pointsPerDay > 0 ? addDays(today, Math.ceil(left / pointsPerDay)) : null;
  const lastDay = running.reduce((last, c) => (c.endsOn > last ? c.endsOn : last), today);
  return { ...totals, pace: { days, pointsPerDay: Math.round(pointsPerDay) }, runsOutOn, lastsToEnd: runsOutOn === null || runsOutOn > lastDay };
}

async function topShopsOf(trx: Knex.Transaction, ids: number[], period: Period): Promise<ShopFigure[]> {
  const shops = await ledger.topShops(trx, ids, period.startsAt, period.endsBefore, TOP_SHOPS);
  const names = await shopsRepository.merchantNames(trx, shops.map((s) => s.merchantId));
  return shops.map((s) => ({ shop: names.get(s.merchantId)!, points: s.points, payments: s.payments }));
}

/** The scope's figures over the period, in one snapshot. */
export async function scopeFigures(db: Db, staff: SignedInStaff, scope: Scope, query: { from?: unknown; to?: unknown }, now: Date): Promise<CampaignFigures> {
  return db.transaction(async (trx) => {
    const campaigns = await campaignsOf(trx, staff, scope);
    const period = periodOf(campaigns, query.from, query.to, now);
    const ids = campaigns.map((c) => c.id);
    const budget = await ledger.budgetDays(trx, staff.municipalityCode, ids);
    const lots = await ledger.lotDays(trx, ids, period.startsAt, period.endsBefore);
    const reached = await ledger.firstReached(trx, ids, period.endsBefore);
    const days = daysOf(period, budget.filter((s) => s.day <= period.to), lots, reached);
    const figures: CampaignFigures = {
      ...(scope !== 'programme' && { campaign: summaryOf(campaigns[0]!) }),
      period: { from: period.from, to: period.to, timeZone: 'Asia/Tokyo' },
      days,
      totals: {
        issued: days.reduce((n, d) => n + d.issued, 0), redeemed: days.reduce((n, d) => n + d.redeemed, 0),
        expired: days.reduce((n, d) => n + d.expired, 0), newResidents: days.reduce((n, d) => n + d.newResidents, 0),
      },
      residentsReached: days.at(-1)?.residentsReached ?? 0,
      budget: budgetOf(campaigns, budget, now),
      topShops: await topShopsOf(trx, ids, period),
    };
    if (scope === 'programme') (figures as ProgrammeFigures).campaigns = await campaignLines(trx, campaigns, period, budget, lots);
    return figures;
  });
}

/** A line per campaign of the programme: its figures in the period, its residents reached and what is left of its budget. */
async function campaignLines(trx: Knex.Transaction, campaigns: ScopeCampaign[], period: Period, budget: FiguresSum[], lots: FiguresSum[]): Promise<ProgrammeFigures['campaigns']> {
  const reached = await ledger.residentsPerCampaign(trx, campaigns.map((c) => c.id), period.endsBefore);
  return campaigns.map((c) => {
    const ofBudget = budget.filter((s) => s.campaignId === c.id);
    const ofLots = lots.filter((s) => s.campaignId === c.id);
    return {
      ...summaryOf(c),
      issued: outOf(ofBudget.filter((s) => s.day >= period.from && s.day <= period.to), ISSUED),
      redeemed: outOf(ofLots, REDEEMED),
      expired: outOf(ofLots, ['expiry']),
      residentsReached: reached.get(c.id) ?? 0,
      budgetPoints: c.budgetPoints,
      leftPoints: ofBudget.reduce((n, s) => n + s.total, 0),
    };
  });
}

/** Where the expiring-points list starts and ends: after now, through `until` (default: the last day of the month after this one). */
export function expiringPeriod(until: unknown, now: Date): Period {
  const today = tokyoDate(now);
  const [year, month] = today.split('-').map(Number) as [number, number];
  const endOfNextMonth = new Date(Date.UTC(year, month + 1, 0)).toISOString().slice(0, 10);
  return parsePeriod(today, until ?? endOfNextMonth, 'campaign_figures_period_invalid');
}

/** Each day's figures, a row a day: the data of the dashboard's day charts. */
export function daysCsv(figures: CampaignFigures): string {
  const header = ['date', 'issued', 'redeemed', 'expired', 'new_residents', 'residents_reached', 'budget_used', 'budget_left'];
  return csvFile([header, ...figures.days.map((d) => [d.date, d.issued, d.redeemed, d.expired, d.newResidents, d.residentsReached, d.budgetUsed, d.budgetLeft])]);
}

/** The top shops of the period, most first: the data of the shops chart. */
export function shopsCsv(figures: CampaignFigures): string {
  const header = ['from', 'to', 'rank', 'shop_id', 'shop_name_ja', 'shop_name_en', 'points_redeemed', 'payments'];
  const { from, to } = figures.period;
  return csvFile([header, ...figures.topShops.map((s, i) => [from, to, i + 1, s.shop.id, s.shop.name.ja, s.shop.name.en, s.points, s.payments])]);
}

/** The town's points expiring after now and through the period's last day: counts per month, and the first lines. */
export async function expiringFigures(db: Db, staff: SignedInStaff, period: Period, now: Date): Promise<ExpiringFigures> {
  return db.transaction(async (trx) => {
    const lines = [];
    for await (const line of ledger.expiringLines(trx, staff.municipalityCode, now, period.endsBefore, EXPIRING_LIST_MAX)) lines.push(line);
    return {
      period: { from: period.from, to: period.to, timeZone: 'Asia/Tokyo' as const },
      months: await ledger.expiringMonths(trx, staff.municipalityCode, now, period.endsBefore),
      lines,
      lineCount: await ledger.expiringLineCount(trx, staff.municipalityCode, now, period.endsBefore),
    };
  });
}

/** Every line of the expiring points as CSV, streamed: a row per resident and last day. */
export async function* expiringCsv(db: Db, staff: SignedInStaff, period: Period, now: Date): AsyncGenerator<string> {
  yield csvFile([['mykey_id', 'points', 'last_day']]);
  for await (const line of ledger.expiringLines(db, staff.municipalityCode, now, period.endsBefore)) yield csvRow([line.mykeyId, line.points, line.lastDay]);
}
