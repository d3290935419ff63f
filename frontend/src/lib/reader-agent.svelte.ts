// The reader agent on this PC, as the console sees it: the pairing (the agent's local address and
// its pairing token, kept in this browser's localStorage: a secret between the agent and the
// browser of one PC, never sent to the backend), the agent's state from its event stream, and
// card sessions and PIN-less taps. The PIN passes through here to the agent only; nothing here keeps or logs it.
import type { FamilyRequest } from '@mykey/contracts/family.ts';
import { ApiError, clientErrorCodes, figuresOf, isRecord } from './api.ts';
import { inBothLanguages } from './i18n.svelte.ts';

export interface Pairing {
  /** The agent's origin, e.g. http://127.0.0.1:47110 */
  address: string;
  token: string;
}

export const DEFAULT_AGENT_ADDRESS = 'http://127.0.0.1:47110';

/** What the status light shows. */
export type AgentStatus =
  | 'unpaired' // nothing entered in this browser
  | 'checking'
  | 'token-rejected' // the agent answers, but not to this token: not paired
  | 'unreachable' // no agent at the address: not running
  | 'origin-forbidden' // an agent answers, but this console's origin is not on its allowlist
  | 'no-reader' // paired; pcscd or the reader is missing
  | 'no-card'
  | 'card-present';

const storageKey = 'mykey.readerAgent';
const retryMs = 2_000;
// A card session waits for the card: a real one signs in a second or two, a slow reader longer.
const cardTimeoutMs = 60_000;

/** http://127.0.0.1:PORT or http://localhost:PORT, as an origin; null for anything else (the agent listens on loopback only). */
export function normaliseAddress(input: string): string | null {
  let url: URL;
  try {
    url = new URL(input.trim());
  } catch {
    return null;
  }
  const loopback = url.hostname === '127.0.0.1' || url.hostname === 'localhost';
  return url.protocol === 'http:' && loopback && url.port !== '' && (url.pathname === '/' || url.pathname === '') ? url.origin : null;
}

function readPairing(): Pairing | null {
  try {
    const stored: unknown = JSON.parse(localStorage.getItem(storageKey) ?? 'null');
    if (!isRecord(stored) || typeof stored.address !== 'string' || typeof stored.token !== 'string') return null;
    const address = normaliseAddress(stored.address);
    return address && stored.token ? { address, token: stored.token } : null;
  } catch {
    return null;
  }
}

class ReaderAgent {
  pairing: Pairing | null = $state(readPairing());
  status: AgentStatus = $state(this.pairing ? 'checking' : 'unpaired');
  /** The reader holding a card, when status is card-present. */
  reader: string | null = $state(null);
  /** The backend's id of this PC's device, from the agent's status; null: the agent is not enrolled; undefined: not known (no agent answering). */
  deviceId: number | null | undefined = $state(undefined);
}

export const agent = new ReaderAgent();

/** Kept in this browser only; null forgets the pairing. */
export function savePairing(pairing: Pairing | null): void {
  try {
    if (pairing) localStorage.setItem(storageKey, JSON.stringify(pairing));
    else localStorage.removeItem(storageKey);
  } catch {
    // Storage refused (a private mode): the pairing lasts until the page closes.
  }
  agent.pairing = pairing;
  restartWatching();
}

let watchers = 0;
let watching: AbortController | null = null;

/** Keeps agent.status current while at least one screen watches; call the returned function to stop. */
export function watchAgent(): () => void {
  watchers += 1;
  if (watchers === 1) restartWatching();
  return () => {
    watchers -= 1;
    if (watchers === 0) {
      watching?.abort();
      watching = null;
    }
  };
}

function restartWatching(): void {
  watching?.abort();
  watching = null;
  if (!agent.pairing) {
    agent.status = 'unpaired';
    return;
  }
  if (watchers === 0) return;
  watching = new AbortController();
  agent.status = 'checking';
  agent.deviceId = undefined;
  void followEvents(agent.pairing, watching.signal);
}

/** Reads the agent's event stream until aborted, reconnecting while the agent is away. */
async function followEvents(pairing: Pairing, signal: AbortSignal): Promise<void> {
  while (!signal.aborted) {
    try {
      // fetch rather than EventSource: the token goes in a header, never in a URL.
      const response = await fetch(`${pairing.address}/v1/events`, { headers: { Authorization: `Bearer ${pairing.token}` }, signal, cache: 'no-store' });
      if (response.status === 401) {
        agent.status = 'token-rejected';
        return;
      }
      if (!response.ok || !response.body) throw new Error(`HTTP ${response.status}`);
      agent.deviceId = await deviceIdOf(pairing, signal);
      await readEvents(response.body, signal);
      agent.status = 'checking';
    } catch {
      if (signal.aborted) return;
      agent.status = (await agentAnswersAt(pairing.address)) ? 'origin-forbidden' : 'unreachable';
    }
    agent.reader = null;
    agent.deviceId = undefined;
    await new Promise((resolve) => setTimeout(resolve, retryMs));
  }
}

/** The agent's `GET /v1/status`, or undefined when it cannot be read. */
async function statusOf(pairing: Pairing, signal?: AbortSignal): Promise<Record<string, unknown> | undefined> {
  try {
    const response = await fetch(`${pairing.address}/v1/status`, { headers: { Authorization: `Bearer ${pairing.token}` }, signal, cache: 'no-store' });
    const status: unknown = await response.json();
    return response.ok && isRecord(status) ? status : undefined;
  } catch {
    return undefined;
  }
}

/** The device the agent is enrolled as (null: none), or undefined when its status cannot be read. */
async function deviceIdOf(pairing: Pairing, signal: AbortSignal): Promise<number | null | undefined> {
  const status = await statusOf(pairing, signal);
  return typeof status?.deviceId === 'number' || status?.deviceId === null ? status.deviceId : undefined;
}

/**
 * How many taps wait in the agent's journal for the backend (docs/tap-journal.md), or undefined
 * when the agent's status cannot be read (not paired, not running).
 */
export async function journalWaiting(): Promise<number | undefined> {
  const status = agent.pairing ? await statusOf(agent.pairing) : undefined;
  const waiting = isRecord(status?.journal) ? status.journal.waiting : undefined;
  return typeof waiting === 'number' && Number.isSafeInteger(waiting) && waiting >= 0 ? waiting : undefined;
}

/**
 * Whether anything answers at `address`. A refused CORS call and an agent that is not running
 * look the same to a page; a no-cors request tells them apart: it succeeds (with an opaque
 * answer) whenever a server answers, and fails only when nothing listens.
 */
async function agentAnswersAt(address: string): Promise<boolean> {
  try {
    await fetch(`${address}/v1/status`, { mode: 'no-cors', cache: 'no-store' });
    return true;
  } catch {
    return false;
  }
}

async function readEvents(body: ReadableStream<Uint8Array>, signal: AbortSignal): Promise<void> {
  const reader = body.getReader();
  const decoder = new TextDecoder();
  signal.addEventListener('abort', () => void reader.cancel(), { once: true });
  let buffer = '';
  for (;;) {
    const { value, done } = await reader.read();
    if (done) return;
    buffer += decoder.decode(value, { stream: true });
    let end: number;
    while ((end = buffer.indexOf('\n\n')) >= 0) {
      onEvent(buffer.slice(0, end));
      buffer = buffer.slice(end + 2);
    }
  }
}

/** One server-sent event: `event: readers` with `data: {available, readers: [{name, cardPresent}]}`. */
function onEvent(text: string): void {
  const lines = text.split('\n');
  if (!lines.includes('event: readers')) return;
  const data = lines.filter((line) => line.startsWith('data: ')).map((line) => line.slice(6)).join('\n');
  let snapshot: unknown;
  try {
    snapshot = JSON.parse(data);
  } catch {
    return;
  }
  if (!isRecord(snapshot) || !Array.isArray(snapshot.readers)) return;
  const readers = snapshot.readers.filter((r): r is { name: string; cardPresent: boolean } => isRecord(r) && typeof r.name === 'string');
  const withCard = readers.find((r) => r.cardPresent === true);
  agent.reader = withCard?.name ?? null;
  agent.status = withCard ? 'card-present' : snapshot.available === true && readers.length > 0 ? 'no-card' : 'no-reader';
}

/**
 * Has the card on this PC's reader sign after `pin` for `body`'s purpose and returns the
 * backend's answer that the agent passes on. Failures are ApiErrors with the agent's code and
 * words, and its figures (triesLeft for a wrong PIN, availablePoints when points are short).
 */
export function cardSession(pin: string, body: Record<string, unknown>): Promise<unknown> {
  return askAgent('/v1/card-sessions', { ...body, pin });
}

/**
 * The card signs `purpose` after the PIN and the signed challenge is kept as a proof (the
 * resident's page: resident_page, home_move): its challengeId, for the browser to hand in.
 */
export async function cardProof(pin: string, purpose: string): Promise<string> {
  const signed = await cardSession(pin, { purpose });
  if (!isRecord(signed) || typeof signed.challengeId !== 'string') {
    throw new ApiError({ code: clientErrorCodes.unexpectedResponse, status: 200, messages: inBothLanguages('readerUnexpectedResponse', { status: 200 }), requestId: null });
  }
  return signed.challengeId;
}

/**
 * A PIN-less tap for `body`'s purpose: the agent reads the card's certificate and returns the
 * backend's answer (the backend refuses a purpose or a service that wants the PIN).
 */
export function cardTap(body: Record<string, unknown>): Promise<unknown> {
  return askAgent('/v1/card-taps', body);
}

/**
 * Has this PC's device open a family consent's request (docs/family.md): the backend lets a
 * town's devices open one, not its staff. `attempt` is the Idempotency-Key, one per attempt.
 */
export function familyRequest(request: FamilyRequest, attempt: string): Promise<unknown> {
  return askAgent('/v1/family-requests', { attempt, request });
}

async function askAgent(path: string, body: Record<string, unknown>): Promise<unknown> {
  const pairing = agent.pairing;
  if (!pairing) throw agentError('reader_agent_not_paired', 'readerNotPaired');
  let response: Response;
  try {
    response = await fetch(`${pairing.address}${path}`, {
      method: 'POST',
      headers: { Authorization: `Bearer ${pairing.token}`, 'Content-Type': 'application/json' },
      body: JSON.stringify(body),
      cache: 'no-store',
      signal: AbortSignal.timeout(cardTimeoutMs),
    });
  } catch {
    throw (await agentAnswersAt(pairing.address)) ? agentError('reader_agent_origin_forbidden', 'readerOriginForbidden', { origin: window.location.origin }) : agentError('reader_agent_unreachable', 'readerUnreachable');
  }
  const answer: unknown = await response.json().catch(() => undefined);
  if (response.ok && answer !== undefined) return answer;
  if (isRecord(answer) && typeof answer.code === 'string' && isRecord(answer.messages) && typeof answer.messages.ja === 'string' && typeof answer.messages.en === 'string') {
    const requestId = typeof answer.requestId === 'string' ? answer.requestId : null;
    throw new ApiError({ code: answer.code, status: response.status, messages: { ja: answer.messages.ja, en: answer.messages.en }, requestId, figures: figuresOf(answer) });
  }
  throw agentError('reader_agent_unexpected_response', 'readerUnexpectedResponse', { status: response.status });
}

function agentError(code: string, key: 'readerNotPaired' | 'readerOriginForbidden' | 'readerUnreachable' | 'readerUnexpectedResponse', params?: Record<string, string | number>): ApiError {
  return new ApiError({ code, status: 0, messages: inBothLanguages(key, params), requestId: null });
}
