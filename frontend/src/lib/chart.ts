// What a bar chart of figures shows (BarChart.svelte): a label per bar (a day, an hour, a
// category), and a column of values per thing counted (a service), stacked.
import type { Bilingual } from './i18n.svelte.ts';

export interface ChartColumn { id: number | string; name: Bilingual; values: number[] }

export interface ChartSeries {
  labels: string[];
  columns: ChartColumn[];
}
