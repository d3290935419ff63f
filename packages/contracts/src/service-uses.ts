// The figures of a town's services: uses per Japanese calendar day or hour, as the backend
// answers them and the console charts them (docs/services-figures.md).

/** How the uses are grouped: per day, or per hour of each day (Japan time). */
export const USES_GROUPINGS = ['day', 'hour'] as const;
export type UsesGrouping = (typeof USES_GROUPINGS)[number];

/** The uses of one day (YYYY-MM-DD, Japan time), or of one hour of it (0–23, Japan time) when grouped by hour. */
export interface UsesRow { date: string; hour?: number; uses: number }

export interface ServiceUses {
  service: { id: number; nameJa: string; nameEn: string };
  total: number;
  /** Every day (or hour) of the period, in order, those without a use too. */
  rows: UsesRow[];
}

export interface UsesFigures {
  period: { from: string; to: string };
  by: UsesGrouping;
  services: ServiceUses[];
}
