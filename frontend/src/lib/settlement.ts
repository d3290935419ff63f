// The settlement screen (docs/settlement.md): the statement of a period as the backend computes
// it, and the addresses of its CSV files; the town's whole statement, or a shop owner's own line.
import type { Statement, StatementKind } from '@mykey/contracts/statement-shape.ts';
import { isRecord, request } from './api.ts';

export type { Figure, Statement, StatementKind } from '@mykey/contracts/statement-shape.ts';

const parseStatement = (body: unknown) => (isRecord(body) && isRecord(body.period) && Array.isArray(body.merchants) && Array.isArray(body.partners)
  && Array.isArray(body.campaigns) && isRecord(body.merchantTotals) && isRecord(body.partnerTotals) && isRecord(body.campaignTotals)
  ? (body as unknown as Statement) : null);

const query = (from: string, to: string) => `from=${encodeURIComponent(from)}&to=${encodeURIComponent(to)}`;

/** Whose statement: the town's (municipal staff), or the signed-in owner's shop's (its line only). */
export type StatementScope = 'municipality' | 'merchant';

const STATEMENT_PATHS: Record<StatementScope, string> = { municipality: '/api/v1/staff/settlements', merchant: '/api/v1/merchant/settlement' };

export function loadStatement(scope: StatementScope, from: string, to: string): Promise<Statement> {
  return request(`${STATEMENT_PATHS[scope]}?${query(from, to)}`, parseStatement);
}

/** A shop's statement has one file, its line (the backend takes no kind for it). */
export const statementCsvPath = (scope: StatementScope, from: string, to: string, kind: StatementKind) =>
  `${STATEMENT_PATHS[scope]}?${query(from, to)}&format=csv${scope === 'municipality' ? `&kind=${kind}` : ''}`;

/** Today and the first of this month, as dates in Japan (YYYY-MM-DD), for the default period. */
export function thisMonthInJapan(now = new Date()): { from: string; to: string } {
  const today = new Date(now.getTime() + 9 * 3_600_000).toISOString().slice(0, 10);
  return { from: `${today.slice(0, 8)}01`, to: today };
}
