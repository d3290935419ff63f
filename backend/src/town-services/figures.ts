// The figures of a town's services for its municipal staff: uses per Japanese calendar day, or per
// hour of each day, over a period of at most a year, as JSON for the console's chart and as a CSV
// file (docs/services-figures.md). The kept hourly counts and the uses still recorded one by one
// add up to the same figures before and after the retention job folds the ones into the others.
import { csvFile } from '../csv.ts';
import type { Db } from '../db.ts';
import { Problem } from '../http/problems.ts';
import { tokyoDate, tokyoHour } from '../ledger/rules.ts';
import type { Period } from '../settlement/statement.ts';
import type { SignedInStaff } from '../staff/repository.ts';
import { USES_GROUPINGS, type ServiceUses, type UsesFigures, type UsesGrouping, type UsesRow } from '@mykey/contracts/service-uses.ts';
import { townServicesRepository as repo, type Service } from './repository.ts';
import { names, ownService } from './service.ts';
import { serviceUsesRepository as usesRepo, type HourCount } from './uses-repository.ts';

const DAY_MS = 86_400_000;

/** by=day (the default) or by=hour; anything else is a clear problem. */
export function groupingOf(value: unknown): UsesGrouping {
  const by = USES_GROUPINGS.find((g) => g === (value ?? 'day'));
  if (!by) throw new Problem('request_invalid', `by must be one of ${USES_GROUPINGS.join(', ')}`);
  return by;
}

/** Every Japanese date of the period, in order. */
function datesOf(period: Period): string[] {
  const dates: string[] = [];
  for (let day = Date.parse(period.from); day <= Date.parse(period.to); day += DAY_MS) dates.push(new Date(day).toISOString().slice(0, 10));
  return dates;
}

/** A row for every day (or hour) of the period, with the uses that fell in it. */
function rowsOf(period: Period, by: UsesGrouping, counts: HourCount[]): UsesRow[] {
  const key = (date: string, hour?: number) => (hour === undefined ? date : `${date} ${hour}`);
  const uses = new Map<string, number>();
  for (const count of counts) {
    const at = key(tokyoDate(count.hour), by === 'hour' ? tokyoHour(count.hour) : undefined);
    uses.set(at, (uses.get(at) ?? 0) + count.uses);
  }
  const hours = by === 'hour' ? Array.from({ length: 24 }, (_, hour) => hour) : [undefined];
  return datesOf(period).flatMap((date) => hours.map((hour) => ({ date, ...(hour !== undefined && { hour }), uses: uses.get(key(date, hour)) ?? 0 })));
}

async function figuresOf(db: Db, services: Service[], period: Period, by: UsesGrouping): Promise<UsesFigures> {
  const counts = await usesRepo.usesPerHour(db, services.map((s) => s.id), period.startsAt, period.endsBefore);
  const perService = services.map((service): ServiceUses => {
    const rows = rowsOf(period, by, counts.filter((c) => c.serviceId === service.id));
    return { service: names(service), total: rows.reduce((sum, row) => sum + row.uses, 0), rows };
  });
  return { period: { from: period.from, to: period.to }, by, services: perService };
}

/** The uses of one service of the staff member's town; another town's is as good as unknown. */
export async function serviceUses(db: Db, staff: SignedInStaff, serviceId: number, period: Period, by: UsesGrouping): Promise<UsesFigures> {
  return figuresOf(db, [await ownService(db, staff, serviceId)], period, by);
}

/** The uses of every service of the staff member's town. */
export async function townUses(db: Db, staff: SignedInStaff, period: Period, by: UsesGrouping): Promise<UsesFigures> {
  return figuresOf(db, await repo.list(db, staff.municipalityCode), period, by);
}

/** The figures as a CSV file for Excel: a row per service and day (or hour), the names in both languages. */
export function usesCsv(figures: UsesFigures): string {
  const hourly = figures.by === 'hour';
  const header = ['service_id', 'service_name_ja', 'service_name_en', 'date', ...(hourly ? ['hour'] : []), 'uses'];
  const rows = figures.services.flatMap(({ service, rows: days }) => days.map((row) =>
    [service.id, service.nameJa, service.nameEn, row.date, ...(hourly ? [row.hour!] : []), row.uses]));
  return csvFile([header, ...rows]);
}

/** The file's name: whose uses, which period, how grouped. */
export const usesFileName = (figures: UsesFigures, whose: string) => `service-uses-${whose}-${figures.period.from}-${figures.period.to}-${figures.by}.csv`;
