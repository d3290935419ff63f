// The agent's side of the MyKey backend API. Once enrolled, the agent is a device: every call
// carries its bearer token. Whatever goes wrong comes back as a BackendError with a stable code
// and the words for the clerk in Japanese and English — the backend's own when it answered.
import { randomUUID } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import { PURPOSE_TEXTS, type ChallengePurpose, type PurposeTerms } from '@mykey/contracts/challenge-text.ts';
import type { FamilyRequest } from '@mykey/contracts/family.ts';
import { journalIdempotencyKey, type JournalEntry } from '@mykey/contracts/tap-journal.ts';
import type { Messages } from '../jpki/errors.ts';

const TIMEOUT_MS = 15_000;
// A card session or tap is worth retrying: the card has been read (and has signed), and a challenge lives 60 seconds.
const CARD_ATTEMPTS = 3;
const RETRY_PAUSE_MS = 500;

// Failures the agent detects itself, before or instead of a backend answer.
const clientMessages = {
  backend_unreachable: {
    ja: 'MyKey のサーバーに接続できません。ネットワークとサーバーのアドレス（{url}）を確認してください。',
    en: 'Cannot reach the MyKey server. Please check the network and the server address ({url}).',
  },
  backend_timeout: {
    ja: 'MyKey のサーバーから応答がありません。しばらくしてからもう一度お試しください。',
    en: 'The MyKey server did not answer. Please try again in a moment.',
  },
  backend_unexpected_response: {
    ja: 'MyKey のサーバーから予期しない応答がありました（HTTP {status}）。サーバーのアドレスを確認してください。',
    en: 'The MyKey server sent an unexpected answer (HTTP {status}). Please check the server address.',
  },
} satisfies Record<string, Messages>;

export class BackendError extends Error {
  constructor(
    /** The backend's problem code (e.g. device_unknown), or one of clientMessages' codes. */
    readonly code: string,
    readonly messages: Messages,
    /** 0 when no HTTP answer arrived. */
    readonly status: number,
    /** Quoted to support staff; null when the backend did not see the request. */
    readonly requestId: string | null = null,
    /** The problem's own members beyond the standard ones, e.g. availablePoints. */
    readonly extra: Record<string, unknown> = {},
  ) {
    super(`${code}: ${messages.en}`);
    this.name = 'BackendError';
  }
}

function clientError(code: keyof typeof clientMessages, status: number, params: Record<string, string | number>, requestId: string | null = null): BackendError {
  const fill = (text: string) => text.replace(/\{(\w+)\}/g, (_, name: string) => String(params[name]));
  const messages = clientMessages[code];
  return new BackendError(code, { ja: fill(messages.ja), en: fill(messages.en) }, status, requestId);
}

export interface RequestOptions {
  /** Sent as Idempotency-Key on POST and PUT; a fresh one per call unless given (a retry passes the first one). */
  idempotencyKey?: string;
}

export interface Organization { kind: 'merchant' | 'municipality'; id: string; name: Messages }

export interface Enrollment { deviceId: number; token: string; name: string; organization: Organization }

/**
 * POST /api/v1/auth/challenges: `challenge` is base64 of the canonical text the card is to sign;
 * a challenge for a purpose with terms also names them, under the terms' answer field (payment:
 * `payment`, its intent, amount and shop).
 */
export interface ChallengeAnswer { challengeId: string; purpose: string; expiresAt: string; challenge: string; [answerField: string]: unknown }

/**
 * POST /api/v1/auth/card-taps: the common fields, and what the purpose's handler answered (a
 * membership lookup: the member number, say).
 */
export interface CardTapAnswer { purpose: string; revocationChecked: boolean; [field: string]: unknown }

/** What the card produced for a challenge: its certificate and signature, base64. */
export interface CardProof { challengeId: string; certificate: string; signature: string }

/**
 * POST /api/v1/auth/card-sessions: for a login the MyKey ID (issued on the card's first login);
 * for a payment the receipt (receiptNo, intentId, amount, merchant, paidAt, balanceAfter). A
 * shop's device is never told the MyKey ID: `customer`, the shop's pseudonym of the resident, instead.
 */
export interface CardSessionAnswer {
  challengeId: string;
  purpose: ChallengePurpose;
  revocationChecked: boolean;
  mykeyId?: string | null;
  issued?: boolean;
  receiptNo?: number;
  intentId?: string;
  amount?: number;
  merchant?: { id: number; nameJa: string; nameEn: string };
  customer?: string;
  paidAt?: string;
  balanceAfter?: number;
}

/** `https://mykey.example.jp/` → `https://mykey.example.jp`; anything but an http(s) URL is refused. */
export function normalizeBackendUrl(value: string): string {
  const url = URL.canParse(value) ? new URL(value) : null;
  if (!url || !['http:', 'https:'].includes(url.protocol) || url.search || url.hash) {
    throw new Error(`--backend must be the server's http(s) URL, e.g. https://mykey.example.jp, got "${value}"`);
  }
  return url.toString().replace(/\/+$/, '');
}

const LOOPBACK_HOSTS = new Set(['127.0.0.1', 'localhost', '[::1]']);

/**
 * Why the agent may not talk to `backendUrl`, or null when it may. Over plain http:// the device
 * token, the challenges and the card's proofs would cross the network readable and changeable by
 * anyone on the way; only this PC (loopback), or a development setup that says so with
 * NODE_ENV=development, may use it. An unset NODE_ENV is production.
 */
export function insecureBackendProblem(backendUrl: string, env: NodeJS.ProcessEnv = process.env): Messages | null {
  const url = new URL(backendUrl);
  if (url.protocol !== 'http:' || LOOPBACK_HOSTS.has(url.hostname) || env.NODE_ENV === 'development') return null;
  return {
    ja: `サーバーのアドレス ${backendUrl} は暗号化されない http:// です。端末のトークンやカードの署名が通信の途中で読まれたり書き換えられたりしないよう、https:// のアドレスを指定してください（http:// が使えるのはこの PC 自身（127.0.0.1、localhost、::1）か、開発用に NODE_ENV=development を設定したときだけです）。`,
    en: `The server address ${backendUrl} is plain http://, which is not encrypted. So that the device token and the card's signatures cannot be read or changed on the way, give its https:// address (http:// is allowed only for this PC itself, 127.0.0.1, localhost or ::1, or in development with NODE_ENV=development).`,
  };
}

export class BackendClient {
  readonly baseUrl: string;

  /** Without a token only enrollment is possible; every other endpoint wants an enrolled device. */
  constructor(baseUrl: string, private readonly token?: string) {
    this.baseUrl = normalizeBackendUrl(baseUrl);
  }

  /** Turns a one-time code from the console into this agent's device token. */
  enroll(code: string, name?: string): Promise<Enrollment> {
    return this.request('POST', '/api/v1/devices', name === undefined ? { code } : { code, name });
  }

  /** The device the token belongs to; device_unknown once it was revoked. */
  self(): Promise<{ deviceId: number; organization: { kind: string; id: string } }> {
    return this.request('GET', '/api/v1/devices/self');
  }

  /** A fresh challenge for `purpose`, bound to this device (and to the terms `requested` names: a payment's intent, say). */
  challenge(purpose: ChallengePurpose, requested?: string): Promise<ChallengeAnswer> {
    return this.request('POST', '/api/v1/auth/challenges', { purpose, ...termsRequest(purpose, requested) });
  }

  /** Hands the card's proof of a challenge to the backend. */
  cardSession(proof: CardProof): Promise<CardSessionAnswer> {
    return this.postRetrying('/api/v1/auth/card-sessions', proof);
  }

  /** Reports the certificate this device read from the card, without a PIN, for `purpose` (and the terms `requested` names). */
  cardTap(purpose: string, certificate: string, requested?: string): Promise<CardTapAnswer> {
    return this.postRetrying('/api/v1/auth/card-taps', { purpose, certificate, ...termsRequest(purpose, requested) });
  }

  /**
   * Opens a family consent's request as this device (docs/family.md): what the card will sign,
   * to show the resident first. `idempotencyKey` is the console's, one per attempt, so a retry
   * after a lost answer opens one request.
   */
  familyRequest(body: FamilyRequest, idempotencyKey: string): Promise<unknown> {
    return this.request('POST', '/api/v1/family/requests', body, { idempotencyKey });
  }

  /** Registers the key this device signs its journal entries with (the same key again changes nothing). */
  registerJournalKey(spki: Buffer): Promise<{ deviceId: number }> {
    return this.request('PUT', '/api/v1/devices/self/journal-key', { publicKey: spki.toString('base64') });
  }

  /** A tap from the journal, at the time it was made, under its entry's own Idempotency-Key whatever the attempt. */
  sendJournaled(entry: JournalEntry): Promise<CardTapAnswer> {
    const { id, purpose, certificate, tappedAt, signature } = entry;
    return this.request('POST', '/api/v1/auth/card-taps', { purpose, certificate, journal: { id, tappedAt, signature } }, { idempotencyKey: journalIdempotencyKey(id) });
  }

  /**
   * When the network fails, the answer may have been lost after the backend acted on it; a
   * retry under the same Idempotency-Key then gets that first answer, where a fresh key would
   * meet challenge_reused (or a purpose's handler run twice).
   */
  private async postRetrying<T>(path: string, body: unknown): Promise<T> {
    const idempotencyKey = randomUUID();
    for (let attempt = 1; ; attempt++) {
      try {
        return await this.request<T>('POST', path, body, { idempotencyKey });
      } catch (error) {
        const networkFailure = error instanceof BackendError && error.status === 0;
        if (!networkFailure || attempt === CARD_ATTEMPTS) throw error;
        await sleep(RETRY_PAUSE_MS * attempt);
      }
    }
  }

  async request<T>(method: 'GET' | 'POST' | 'PUT', path: string, body?: unknown, options: RequestOptions = {}): Promise<T> {
    const headers: Record<string, string> = { Accept: 'application/json, application/problem+json' };
    if (this.token) headers.Authorization = `Bearer ${this.token}`;
    if (method !== 'GET') headers['Idempotency-Key'] = options.idempotencyKey ?? randomUUID();
    if (body !== undefined) headers['Content-Type'] = 'application/json';
    let response: Response;
    try {
      response = await fetch(`${this.baseUrl}${path}`, {
        method, headers, body: body === undefined ? undefined : JSON.stringify(body), signal: AbortSignal.timeout(TIMEOUT_MS),
      });
    } catch (error) {
      const timedOut = error instanceof DOMException && error.name === 'TimeoutError';
      throw clientError(timedOut ? 'backend_timeout' : 'backend_unreachable', 0, { url: this.baseUrl });
    }
    const answer = await readJson(response);
    if (response.ok && answer !== undefined) return answer as T;
    throw problemFrom(response, answer);
  }
}

/** The shared contract's terms of `purpose` (payment's: requested by paymentIntentId), null for a purpose without (or unknown to it). */
export function termsOf(purpose: string): PurposeTerms | null {
  return PURPOSE_TEXTS.find(([name]) => name === purpose)?.[1] ?? null;
}

/** `requested` under the request field of `purpose`'s terms; nothing when it names none. */
function termsRequest(purpose: string, requested: string | undefined): Record<string, string> {
  const field = termsOf(purpose)?.requestField;
  return field === undefined || requested === undefined ? {} : { [field]: requested };
}

async function readJson(response: Response): Promise<unknown> {
  try {
    return JSON.parse(await response.text());
  } catch {
    return undefined;
  }
}

// RFC 9457's members and ours that every problem has; the rest is what the problem adds.
const STANDARD_MEMBERS = new Set(['type', 'title', 'status', 'detail', 'instance', 'code', 'messages', 'requestId']);

function problemFrom(response: Response, body: unknown): BackendError {
  const requestId = response.headers.get('X-Request-Id');
  const problem = body as { code?: unknown; messages?: { ja?: unknown; en?: unknown } } | undefined;
  if (typeof problem?.code === 'string' && typeof problem.messages?.ja === 'string' && typeof problem.messages.en === 'string') {
    const extra = Object.fromEntries(Object.entries(problem).filter(([name]) => !STANDARD_MEMBERS.has(name)));
    return new BackendError(problem.code, { ja: problem.messages.ja, en: problem.messages.en }, response.status, requestId, extra);
  }
  return clientError('backend_unexpected_response', response.status, { status: response.status }, requestId);
}
