// What a chart of figures shows (FigureChart.svelte): a label per bar or point (a day, an hour, a
// category, a shop), and a column of values per thing counted (a service, points issued), stacked or not.
import type { Bilingual } from './i18n.svelte.ts';

export interface ChartColumn { id: number | string; name: Bilingual; values: number[] }

export interface ChartSeries {
  labels: string[];
  columns: ChartColumn[];
}
