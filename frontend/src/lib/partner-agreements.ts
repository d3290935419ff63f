// The town's agreements with partners (docs/partner-api.md#agreements): every municipal role
// reads them, the administrator adds and ends them.
import { isRecord, request } from './api.ts';

export interface Agreement {
  id: number;
  partner: string;
  status: 'active' | 'ended';
  startsOn: string;
  endsOn: string | null;
  createdAt: string;
  endedAt: string | null;
}

const isNullableString = (value: unknown): value is string | null => value === null || typeof value === 'string';
const isAgreement = (value: unknown): value is Agreement =>
  isRecord(value) && typeof value.id === 'number' && typeof value.partner === 'string' && (value.status === 'active' || value.status === 'ended')
  && typeof value.startsOn === 'string' && isNullableString(value.endsOn) && typeof value.createdAt === 'string' && isNullableString(value.endedAt);

export function listAgreements(): Promise<Agreement[]> {
  return request('/api/v1/staff/partner-agreements', (body) => (isRecord(body) && Array.isArray(body.agreements) && body.agreements.every(isAgreement) ? body.agreements : null));
}

export function addAgreement(terms: { partner: string; startsOn?: string; endsOn?: string }, key: string): Promise<Agreement> {
  return request('/api/v1/staff/partner-agreements', (body) => (isAgreement(body) ? body : null), { method: 'POST', body: terms, idempotencyKey: key });
}

export function endAgreement(id: number, key: string): Promise<Agreement> {
  return request(`/api/v1/staff/partner-agreements/${id}/end`, (body) => (isAgreement(body) ? body : null), { method: 'POST', idempotencyKey: key });
}
