// The municipality console's MyKey ID screen: look an ID up, suspend or reinstate it, and link
// a new card after checking the person at the counter. A typed ID is checked here with the
// backend's own code and messages, so a typo shows at once; the backend still decides.
import { compactMykeyId, ID_LENGTH, MYKEY_ALPHABET, parseMykeyId } from '@mykey/contracts/mykey-id.ts';
import { problemKinds } from '@mykey/contracts/problem-kinds.ts';
import type { MykeyCard, MykeyEvent, MykeyView as FullMykeyView } from '@mykey/contracts/mykeys.ts';
import { isRecord, newIdempotencyKey, request } from './api.ts';
import type { Bilingual } from './i18n.svelte.ts';

/** What the screen shows of a MyKey ID. */
export type MykeyView = Pick<FullMykeyView, 'mykeyId' | 'status' | 'issuedAt' | 'suspension' | 'cards' | 'events'>;

/**
 * The ID in its canonical spelling, or the backend's message saying why it is not one.
 * `settled`: the input already has all its characters, or one that no ID has, so the message
 * can be shown while the clerk is still typing.
 */
export function checkMykeyId(typed: string): { ok: true; id: string } | { ok: false; settled: boolean; messages: Bilingual } {
  const parsed = parseMykeyId(typed);
  if (parsed.ok) return parsed;
  const compact = compactMykeyId(typed.slice(0, 4 * ID_LENGTH));
  const settled = compact.length >= ID_LENGTH || [...compact].some((c) => !MYKEY_ALPHABET.includes(c));
  return { ok: false, settled, messages: problemKinds[parsed.code].messages };
}

const isString = (value: unknown): value is string => typeof value === 'string';
const isNullableString = (value: unknown): value is string | null => value === null || isString(value);

function isCard(value: unknown): value is MykeyCard {
  return isRecord(value) && isString(value.status) && isString(value.linkMethod) && isString(value.linkedAt) && isNullableString(value.endedAt);
}

function isEvent(value: unknown): value is MykeyEvent {
  return isRecord(value) && typeof value.seq === 'number' && isString(value.at) && isString(value.action)
    && isRecord(value.actor) && isString(value.actor.kind) && isString(value.actor.id) && isNullableString(value.actor.name)
    && isRecord(value.details);
}

function isSuspension(value: unknown): value is MykeyView['suspension'] {
  return value === null || (isRecord(value) && isString(value.at) && isString(value.reason) && isRecord(value.staff) && isNullableString(value.staff.name));
}

function parseView(body: unknown): MykeyView | null {
  if (!isRecord(body)) return null;
  const { mykeyId, status, issuedAt, suspension, cards, events } = body;
  const ok = isString(mykeyId) && (status === 'active' || status === 'suspended') && isString(issuedAt) && isSuspension(suspension)
    && Array.isArray(cards) && cards.every(isCard) && Array.isArray(events) && events.every(isEvent);
  return ok ? (body as unknown as MykeyView) : null;
}

const acknowledged = (body: unknown): true | null => (isRecord(body) && isString(body.mykeyId) ? true : null);

export function lookUpMykey(mykeyId: string): Promise<MykeyView> {
  return request(`/api/v1/staff/mykeys/${encodeURIComponent(mykeyId)}`, parseView);
}

// One key per confirmed action: a retry after a lost answer is the clerk's new decision.
function act(mykeyId: string, action: 'suspension' | 'reinstatement' | 'relinks', body: Record<string, string>): Promise<true> {
  return request(`/api/v1/staff/mykeys/${encodeURIComponent(mykeyId)}/${action}`, acknowledged, { method: 'POST', body, idempotencyKey: newIdempotencyKey() });
}

export const suspendMykey = (mykeyId: string, reason: string) => act(mykeyId, 'suspension', { reason });
export const reinstateMykey = (mykeyId: string, reason: string) => act(mykeyId, 'reinstatement', { reason });
/** `proof`: the challengeId of the new card's 'counter_relink' card proof, made at one of this municipality's devices. */
export const relinkAtCounter = (mykeyId: string, proof: string, reason: string) => act(mykeyId, 'relinks', { proof, reason });

export { STAFF_REASON_MAX as REASON_MAX } from '@mykey/contracts/limits.ts';
