// The municipality console's usage screen (docs/services-figures.md): the town's services, their
// uses per day and per hour as the backend counts them, and the addresses of the CSV files.
import type { UsesFigures, UsesGrouping } from '@mykey/contracts/service-uses.ts';
import { isRecord, request } from './api.ts';
import type { ChartSeries } from './chart.ts';

export type { UsesFigures } from '@mykey/contracts/service-uses.ts';

/** Every service of the town, or one of them by id. */
export type UsageScope = 'all' | number;

const parseFigures = (body: unknown) => (isRecord(body) && isRecord(body.period) && Array.isArray(body.services) ? (body as unknown as UsesFigures) : null);

const pathOf = (scope: UsageScope) => (scope === 'all' ? '/api/v1/service-uses' : `/api/v1/services/${scope}/uses`);
const query = (from: string, to: string, by: UsesGrouping) => `from=${encodeURIComponent(from)}&to=${encodeURIComponent(to)}&by=${by}`;

export const loadUses = (scope: UsageScope, from: string, to: string, by: UsesGrouping): Promise<UsesFigures> =>
  request(`${pathOf(scope)}?${query(from, to, by)}`, parseFigures);

export const usesCsvPath = (scope: UsageScope, from: string, to: string, by: UsesGrouping) => `${pathOf(scope)}.csv?${query(from, to, by)}`;


/** Per day, as the backend answered (every day of the period): a column per service. */
export function perDay(figures: UsesFigures): ChartSeries {
  return {
    labels: figures.services[0]?.rows.map((row) => row.date) ?? [],
    columns: figures.services.map((s) => ({ id: s.service.id, name: { ja: s.service.nameJa, en: s.service.nameEn }, values: s.rows.map((row) => row.uses) })),
  };
}

/** Per hour of the day (0–23, Japan time), every day of the period added up: when the service is busy. */
export function perHourOfDay(figures: UsesFigures): ChartSeries {
  const hours = Array.from({ length: 24 }, (_, hour) => hour);
  return {
    labels: hours.map((hour) => `${String(hour).padStart(2, '0')}:00`),
    columns: figures.services.map((s) => {
      const values = hours.map(() => 0);
      for (const row of s.rows) values[row.hour ?? 0]! += row.uses;
      return { id: s.service.id, name: { ja: s.service.nameJa, en: s.service.nameEn }, values };
    }),
  };
}

/** Today and the day 29 days before it, as dates in Japan (YYYY-MM-DD): the last 30 days, the default period. */
export function lastThirtyDaysInJapan(now = new Date()): { from: string; to: string } {
  const day = (at: number) => new Date(at + 9 * 3_600_000).toISOString().slice(0, 10);
  return { from: day(now.getTime() - 29 * 86_400_000), to: day(now.getTime()) };
}
