// The municipality console's settlement screen (docs/settlement.md): the statement of a period
// as the backend computes it, and the addresses of its CSV files.
import type { Statement, StatementKind } from '@mykey/contracts/statement-shape.ts';
import { isRecord, request } from './api.ts';

export type { Figure, Statement, StatementKind } from '@mykey/contracts/statement-shape.ts';

const parseStatement = (body: unknown) => (isRecord(body) && isRecord(body.period) && Array.isArray(body.merchants) && Array.isArray(body.partners)
  && Array.isArray(body.campaigns) && isRecord(body.merchantTotals) && isRecord(body.partnerTotals) && isRecord(body.campaignTotals)
  ? (body as unknown as Statement) : null);

const query = (from: string, to: string) => `from=${encodeURIComponent(from)}&to=${encodeURIComponent(to)}`;

export function loadStatement(from: string, to: string): Promise<Statement> {
  return request(`/api/v1/staff/settlements?${query(from, to)}`, parseStatement);
}

export const statementCsvPath = (from: string, to: string, kind: StatementKind) => `/api/v1/staff/settlements?${query(from, to)}&format=csv&kind=${kind}`;

/** Today and the first of this month, as dates in Japan (YYYY-MM-DD), for the default period. */
export function thisMonthInJapan(now = new Date()): { from: string; to: string } {
  const today = new Date(now.getTime() + 9 * 3_600_000).toISOString().slice(0, 10);
  return { from: `${today.slice(0, 8)}01`, to: today };
}
