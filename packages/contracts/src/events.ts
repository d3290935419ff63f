// What the backend answers about events and administrative points (backend/src/events/,
// docs/events.md): a town's event categories, its events, a tap's grant, a resident's history
// of grants, and the points granted per category and per event over a period.
import type { TapPolicy } from './services.ts';

export interface Named { id: number; nameJa: string; nameEn: string }

export type EventCategoryView = Named;

export interface EventView extends Named {
  category: Named;
  /** Japan time, both included; the same day for a one-day event. */
  startsOn: string;
  endsOn: string;
  points: number;
  campaign: { id: number; slug: string; name: { ja: string; en: string } };
  tapPolicy: TapPolicy;
  deviceIds: number[];
}

/** One grant as the resident's history shows it: "ボランティア清掃活動 50pt". */
export interface GrantRecordView {
  entryId: number;
  postedAt: string;
  points: number;
  /** The event's name, else the category's, as it was when granted; null for an uncategorised grant. */
  label: { ja: string; en: string } | null;
  categoryId: number | null;
  eventId: number | null;
}

/** The answer of a tap at an event's device. */
export interface EventTapAnswer {
  purpose: 'event_attendance';
  /** True when this resident was granted at this event before: the grant is that first one. */
  alreadyGranted: boolean;
  event: Named;
  grant: GrantRecordView;
  balanceAfter: number;
}

export interface GrantFigure { grants: number; points: number }

export interface EventFigures {
  period: { from: string; to: string };
  /** Every category of the town, and `category: null` for grants without one. */
  categories: Array<{ category: Named | null } & GrantFigure>;
  /** Every event with grants in the period, or held in it. */
  events: Array<{ event: Named; categoryId: number } & GrantFigure>;
  total: GrantFigure;
}
