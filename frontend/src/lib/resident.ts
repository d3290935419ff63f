// The resident's own page (docs/resident.md), as the console reads it: the session the card's
// signed challenge opens (its cookie is the browser's, never this code's), the points and the
// history. Every read is a use of the page; asking whether it is still open is not.
import { HISTORY_PAGE_SIZE, RECORD_VIEWS_PAGE_SIZE, type ResidentHistory, type ResidentMovement, type ResidentPoints, type ResidentRecordViews, type ResidentSessionView } from '@mykey/contracts/resident.ts';
import { isRecord, request, requestNoContent } from './api.ts';

export type { ResidentHistory, ResidentMovement, ResidentPoints, ResidentRecordViews, ResidentSessionView };
export { EXPIRING_SOON_DAYS, HISTORY_PAGE_SIZE, RECORD_VIEWS_PAGE_SIZE } from '@mykey/contracts/resident.ts';

export const HISTORY_CSV_PATH = '/api/v1/resident/history.csv';

export const bilingual = (value: unknown): boolean => isRecord(value) && typeof value.ja === 'string' && typeof value.en === 'string';
export const wholeNumber = (value: unknown): value is number => Number.isSafeInteger(value);

function parseSession(body: unknown): ResidentSessionView | null {
  const ok = isRecord(body) && isRecord(body.municipality) && typeof body.municipality.code === 'string' && bilingual(body.municipality.name)
    && wholeNumber(body.idleSeconds) && wholeNumber(body.closesInSeconds) && wholeNumber(body.limitInSeconds);
  return ok ? (body as unknown as ResidentSessionView) : null;
}

function parsePoints(body: unknown): ResidentPoints | null {
  const ok = isRecord(body) && Array.isArray(body.balances) && Array.isArray(body.lots) && wholeNumber(body.expiringSoonDays)
    && body.balances.every((b) => isRecord(b) && wholeNumber(b.points) && isRecord(b.municipality) && bilingual(b.municipality.name))
    && body.lots.every((l) => isRecord(l) && wholeNumber(l.points) && typeof l.lastDay === 'string' && typeof l.expiringSoon === 'boolean');
  return ok ? (body as unknown as ResidentPoints) : null;
}

function parseHistory(body: unknown): ResidentHistory | null {
  const ok = isRecord(body) && wholeNumber(body.page) && wholeNumber(body.total) && body.pageSize === HISTORY_PAGE_SIZE && Array.isArray(body.movements)
    && body.movements.every((m) => isRecord(m) && typeof m.at === 'string' && wholeNumber(m.points) && bilingual(m.reason));
  return ok ? (body as unknown as ResidentHistory) : null;
}

function parseRecordViews(body: unknown): ResidentRecordViews | null {
  const ok = isRecord(body) && wholeNumber(body.page) && wholeNumber(body.total) && body.pageSize === RECORD_VIEWS_PAGE_SIZE && Array.isArray(body.views)
    && body.views.every((v) => isRecord(v) && typeof v.at === 'string' && isRecord(v.municipality) && bilingual(v.municipality.name)
      && Array.isArray(v.roles) && v.roles.every((r) => typeof r === 'string') && typeof v.look === 'boolean' && bilingual(v.what));
  return ok ? (body as unknown as ResidentRecordViews) : null;
}

/** Hands the card's signed resident_page challenge in: the browser keeps the session's cookie. */
export const openResidentPage = (proof: string) => request('/api/v1/resident/sessions', parseSession, { method: 'POST', body: { proof } });

/** Whether the page is still open, and for how long; not a use. */
export const residentSession = () => request('/api/v1/resident/session', parseSession);

export const residentPoints = () => request('/api/v1/resident/points', parsePoints);

export const residentHistory = (page: number) => request(`/api/v1/resident/history?page=${page}`, parseHistory);

/** A page of what staff looked at and did on the resident's record. */
export const residentRecordViews = (page: number) => request(`/api/v1/resident/record-views?page=${page}`, parseRecordViews);

/** Ends the page at the backend: the card left the reader, or the resident closed it. */
export const closeResidentPage = (reason: 'card_removed' | 'closed') => requestNoContent(`/api/v1/resident/session?reason=${reason}`, { method: 'DELETE' });
