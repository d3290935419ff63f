// The municipality console's campaign figures (docs/campaign-figures.md): a campaign's dashboard
// or the whole programme's, and the points about to expire, as the backend computes them; the
// series their charts draw, and the addresses of the CSV files.
import type { CampaignFigures, ExpiringFigures, ProgrammeFigures } from '@mykey/contracts/campaign-figures.ts';
import { isRecord, request } from './api.ts';
import type { ChartSeries } from './chart.ts';
import { inBothLanguages } from './i18n.svelte.ts';

export type { CampaignFigures, ExpiringFigures, ProgrammeFigures } from '@mykey/contracts/campaign-figures.ts';

/** A campaign by its id, or the whole programme. */
export type FiguresScope = number | 'programme';

const pathOf = (scope: FiguresScope) => (scope === 'programme' ? '/api/v1/campaign-figures/programme' : `/api/v1/campaign-figures/campaigns/${scope}`);
/** The period asked for; none: the backend's default (the campaigns' first day through today). */
const query = (period?: { from: string; to: string }) => (period ? `?from=${encodeURIComponent(period.from)}&to=${encodeURIComponent(period.to)}` : '');

const parseFigures = (body: unknown) => (isRecord(body) && Array.isArray(body.days) && isRecord(body.budget) ? (body as unknown as CampaignFigures) : null);

export const loadFigures = (scope: FiguresScope, period?: { from: string; to: string }): Promise<CampaignFigures | ProgrammeFigures> =>
  request(`${pathOf(scope)}${query(period)}`, parseFigures);

export const figuresCsvPath = (scope: FiguresScope, period: { from: string; to: string }, chart: 'days' | 'shops') => `${pathOf(scope)}/${chart}.csv${query(period)}`;

const parseExpiring = (body: unknown) => (isRecord(body) && Array.isArray(body.months) && Array.isArray(body.lines) ? (body as unknown as ExpiringFigures) : null);

const untilQuery = (until?: string) => (until ? `?until=${encodeURIComponent(until)}` : '');

export const loadExpiring = (until?: string): Promise<ExpiringFigures> => request(`/api/v1/campaign-figures/expiring${untilQuery(until)}`, parseExpiring);

export const expiringCsvPath = (until: string) => `/api/v1/campaign-figures/expiring.csv${untilQuery(until)}`;

const dates = (figures: CampaignFigures) => figures.days.map((d) => d.date);

/** Points issued, redeemed and expired, a bar of each per day. */
export const pointsPerDay = (figures: CampaignFigures): ChartSeries => ({
  labels: dates(figures),
  columns: [
    { id: 'issued', name: inBothLanguages('figuresIssued'), values: figures.days.map((d) => d.issued) },
    { id: 'redeemed', name: inBothLanguages('figuresRedeemed'), values: figures.days.map((d) => d.redeemed) },
    { id: 'expired', name: inBothLanguages('figuresExpired'), values: figures.days.map((d) => d.expired) },
  ],
});

/** The budget used and left at each day's end: lines. */
export const budgetPerDay = (figures: CampaignFigures): ChartSeries => ({
  labels: dates(figures),
  columns: [
    { id: 'used', name: inBothLanguages('figuresBudgetUsed'), values: figures.days.map((d) => d.budgetUsed) },
    { id: 'left', name: inBothLanguages('figuresBudgetLeft'), values: figures.days.map((d) => d.budgetLeft) },
  ],
});

/** Residents reached for the first time each day (bars), and so far (the table). */
export const residentsPerDay = (figures: CampaignFigures): { series: ChartSeries; reached: ChartSeries['columns'] } => ({
  series: { labels: dates(figures), columns: [{ id: 'new', name: inBothLanguages('figuresNewResidents'), values: figures.days.map((d) => d.newResidents) }] },
  reached: [{ id: 'reached', name: inBothLanguages('figuresResidentsReached'), values: figures.days.map((d) => d.residentsReached) }],
});

/** The top shops by points redeemed (bars), with their payments (the table). */
export const topShops = (figures: CampaignFigures, lang: 'ja' | 'en'): { series: ChartSeries; payments: ChartSeries['columns'] } => ({
  series: {
    labels: figures.topShops.map((s) => s.shop.name[lang]),
    columns: [{ id: 'points', name: inBothLanguages('figuresRedeemed'), values: figures.topShops.map((s) => s.points) }],
  },
  payments: [{ id: 'payments', name: inBothLanguages('figuresPayments'), values: figures.topShops.map((s) => s.payments) }],
});

/** The points expiring per month (bars), with the residents holding them (the table). */
export const expiringPerMonth = (figures: ExpiringFigures): { series: ChartSeries; residents: ChartSeries['columns'] } => ({
  series: { labels: figures.months.map((m) => m.month), columns: [{ id: 'points', name: inBothLanguages('expiringPointsColumn'), values: figures.months.map((m) => m.points) }] },
  residents: [{ id: 'residents', name: inBothLanguages('expiringResidents'), values: figures.months.map((m) => m.residents) }],
});
