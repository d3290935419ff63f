// The administrative points a town granted over a period of Japanese calendar days, per category
// and per event, as JSON for the console and as a CSV file for Excel (docs/events.md, "Figures").
// Read from the grant records beside the ledger's grant entries: every grant has one.
import { csvFile } from '../csv.ts';
import type { Db } from '../db.ts';
import type { Period } from '../settlement/statement.ts';
import type { SignedInStaff } from '../staff/repository.ts';
import { categoryRef } from './records.ts';
import type { EventFigures, GrantFigure } from '@mykey/contracts/events.ts';
import { eventsRepository as repo, type GrantSum } from './repository.ts';
import { eventNames } from './service.ts';

const sumsOf = (db: Db, staff: SignedInStaff, period: Period) => repo.sums(db, staff.municipalityCode, period.startsAt, period.endsBefore);

const figureOf = (sums: GrantSum[]): GrantFigure => ({ grants: sums.reduce((n, s) => n + s.grants, 0), points: sums.reduce((n, s) => n + s.points, 0) });

/** The town's grants in the period, per category (every category, and the uncategorised) and per event (held in it, or granting in it). */
export async function eventFigures(db: Db, staff: SignedInStaff, period: Period): Promise<EventFigures> {
  const sums = await sumsOf(db, staff, period);
  const categories = await repo.categories(db, staff.municipalityCode);
  const held = await repo.eventsHeldIn(db, staff.municipalityCode, period.from, period.to);
  const granting = await repo.eventsByIds(db, sums.flatMap((s) => (s.eventId === null ? [] : [s.eventId])));
  const events = new Map([...held.map((e) => [e.id, e] as const), ...granting]);
  const uncategorised = sums.filter((s) => s.categoryId === null);
  return {
    period: { from: period.from, to: period.to },
    categories: [
      ...categories.map((category) => ({ category: categoryRef(category), ...figureOf(sums.filter((s) => s.categoryId === category.id)) })),
      ...(uncategorised.length > 0 ? [{ category: null, ...figureOf(uncategorised) }] : []),
    ],
    events: [...events.values()].sort((a, b) => a.startsOn.localeCompare(b.startsOn) || a.id - b.id)
      .map((event) => ({ event: eventNames(event), categoryId: event.categoryId, ...figureOf(sums.filter((s) => s.eventId === event.id)) })),
    total: figureOf(sums),
  };
}

/**
 * The CSV: a row per category and event the town granted under in the period (event columns
 * empty for grants by staff, category columns empty for uncategorised ones), names in both
 * languages, so Excel can pivot it either way.
 */
export async function eventFiguresCsv(db: Db, staff: SignedInStaff, period: Period): Promise<string> {
  const sums = await sumsOf(db, staff, period);
  const categories = await repo.categoriesByIds(db, sums.flatMap((s) => (s.categoryId === null ? [] : [s.categoryId])));
  const events = await repo.eventsByIds(db, sums.flatMap((s) => (s.eventId === null ? [] : [s.eventId])));
  const header = ['from', 'to', 'category_id', 'category_name_ja', 'category_name_en', 'event_id', 'event_name_ja', 'event_name_en', 'grants', 'points'];
  const rows = [...sums].sort((a, b) => (a.categoryId ?? Infinity) - (b.categoryId ?? Infinity) || (a.eventId ?? 0) - (b.eventId ?? 0)).map((s) => {
    const category = s.categoryId === null ? undefined : categories.get(s.categoryId);
    const event = s.eventId === null ? undefined : events.get(s.eventId);
    return [period.from, period.to, s.categoryId, category?.nameJa ?? null, category?.nameEn ?? null, s.eventId, event?.nameJa ?? null, event?.nameEn ?? null, s.grants, s.points];
  });
  return csvFile([header, ...rows]);
}
