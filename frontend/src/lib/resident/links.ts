// What is linked to the card, on the resident's own page (docs/resident.md), as the console reads
// and changes it: under the page's cookie (the browser's, never this code's), each change with
// the caller's Idempotency-Key. Moving home hands in the card's signed home_move challenge.
import type { ResidentFamily, ResidentHome, ResidentLinks } from '@mykey/contracts/resident-links.ts';
import { isRecord, request } from '../api.ts';
import { bilingual, wholeNumber } from '../resident.ts';

export type { ResidentFamilyConsent, ResidentFamilyOffer, ResidentLinks, ResidentMembership } from '@mykey/contracts/resident-links.ts';

const isString = (value: unknown): value is string => typeof value === 'string';

const isHome = (home: unknown): home is ResidentHome => isRecord(home) && isRecord(home.municipality) && isString(home.municipality.code)
  && bilingual(home.municipality.name) && typeof home.movableHere === 'boolean';

function isFamily(family: unknown): family is ResidentFamily {
  return isRecord(family) && Array.isArray(family.consents) && Array.isArray(family.offers)
    && family.consents.every((c) => isRecord(c) && wholeNumber(c.id) && isString(c.theirLabel) && isString(c.myLabel) && isString(c.since))
    && family.offers.every((o) => isRecord(o) && wholeNumber(o.id) && isString(o.code) && isString(o.myLabel) && isString(o.acceptBy));
}

function parseLinks(body: unknown): ResidentLinks | null {
  const ok = isRecord(body) && Array.isArray(body.memberships) && isFamily(body.family) && isHome(body.home)
    && body.memberships.every((m) => isRecord(m) && wholeNumber(m.id) && isRecord(m.service) && isString(m.service.nameJa) && isString(m.service.nameEn)
      && isRecord(m.municipality) && bilingual(m.municipality.name) && isString(m.memberNumber) && isString(m.linkedAt));
  return ok ? (body as unknown as ResidentLinks) : null;
}

const parseDone = (body: unknown) => (isRecord(body) ? body : null);
const parseMoved = (body: unknown) => (isRecord(body) && isHome(body.home) ? { home: body.home } : null);

export const residentLinks = () => request('/api/v1/resident/links', parseLinks);

export const unlinkMembership = (id: number, key: string) => request(`/api/v1/resident/memberships/${id}/unlink`, parseDone, { method: 'POST', idempotencyKey: key });

export const withdrawFamilyConsent = (id: number, key: string) => request(`/api/v1/resident/family-consents/${id}/withdraw`, parseDone, { method: 'POST', idempotencyKey: key });

/** Hands the card's signed home_move challenge in: the home becomes the kiosk's town. */
export const moveHomeHere = (proof: string, key: string) => request('/api/v1/resident/home-moves', parseMoved, { method: 'POST', body: { proof }, idempotencyKey: key });
