// Closed settlement periods in the console (docs/settlement.md#closed-periods): the list, the
// closing, and the addresses of each period's files; a shop's owner's own closed periods.
import type { ClosedPeriod, ClosedPeriodDetail, MerchantClosedPeriod, Payer } from '@mykey/contracts/settlement-periods.ts';
import { isRecord, request } from './api.ts';

export type { ClosedPeriod, ClosedPeriodDetail, MerchantClosedPeriod, Payer };

const listOf = <T>(body: unknown) => (isRecord(body) && Array.isArray(body.periods) ? (body.periods as T[]) : null);
const detailOf = (body: unknown) => (isRecord(body) && isRecord(body.period) && isRecord(body.statement) && Array.isArray(body.payouts) ? (body as unknown as ClosedPeriodDetail) : null);

const base = '/api/v1/staff/settlement-periods';

export const loadClosedPeriods = () => request(base, listOf<ClosedPeriod>);
export const loadClosedPeriod = (id: number) => request(`${base}/${id}`, detailOf);
export const closePeriod = (body: { from: string; to: string; payOn: string }, key: string) => request(base, detailOf, { method: 'POST', body, idempotencyKey: key });
export const loadOwnClosedPeriods = () => request('/api/v1/merchant/settlement-periods', listOf<MerchantClosedPeriod>);

/** The files of a closed period, for the municipality's staff. */
export const periodFiles = (id: number) => ({
  statement: `${base}/${id}?format=csv&kind=merchants`,
  campaigns: `${base}/${id}?format=csv&kind=campaigns`,
  transfer: `${base}/${id}/transfer-file`,
  invoices: `${base}/${id}/partner-invoices?format=csv`,
});
export const shopStatementPath = (id: number, merchantId: number) => `${base}/${id}/merchants/${merchantId}?format=csv`;
export const ownStatementPath = (id: number) => `/api/v1/merchant/settlement-periods/${id}?format=csv`;

/** The day after a Japanese date: where the next period starts. */
export const dayAfter = (date: string) => new Date(Date.parse(`${date}T00:00:00Z`) + 86_400_000).toISOString().slice(0, 10);

/** The payer's details as the administrator types them: names in kana, made Zengin text by the backend. */
export interface PayerFields { requesterCode: string; requesterName: string; bankCode: string; bankName: string; branchCode: string; branchName: string; accountType: 'ordinary' | 'current'; accountNumber: string }

const payerOf = (body: unknown) => (isRecord(body) && 'payer' in body ? ((body.payer ?? null) as Payer | null) : null);

export const loadPayer = () => request('/api/v1/staff/settlement-payer', (body) => (isRecord(body) && 'payer' in body ? { payer: payerOf(body) } : null));
export const savePayer = (fields: PayerFields, key: string) => request('/api/v1/staff/settlement-payer', payerOf, { method: 'PUT', body: fields, idempotencyKey: key });
