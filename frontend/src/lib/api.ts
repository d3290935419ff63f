import { inBothLanguages, type Bilingual } from './i18n.svelte.ts';

// Codes for failures the browser detects itself; everything else carries the backend's code.
export const clientErrorCodes = {
  network: 'client_network_unreachable',
  timeout: 'client_timeout',
  unexpectedResponse: 'client_unexpected_response',
} as const;

interface ApiErrorFields {
  code: string;
  status: number;
  messages: Bilingual;
  requestId: string | null;
  figures?: Figures;
  members?: Record<string, unknown>;
}

/** A problem's numbers beside its message, such as availablePoints or triesLeft. */
export type Figures = Record<string, number>;

export class ApiError extends Error {
  readonly code: string;
  /** 0 when no HTTP answer arrived at all. */
  readonly status: number;
  readonly messages: Bilingual;
  /** Quoted by clerks to support staff; null when the request never reached the server. */
  readonly requestId: string | null;
  readonly figures: Figures;
  /** The problem's other members, for a screen that shows more (the shops a transfer file cannot pay). */
  readonly members: Record<string, unknown>;

  constructor(fields: ApiErrorFields) {
    super(`${fields.code}: ${fields.messages.en}`);
    this.name = 'ApiError';
    this.code = fields.code;
    this.status = fields.status;
    this.messages = fields.messages;
    this.requestId = fields.requestId;
    this.figures = fields.figures ?? {};
    this.members = fields.members ?? {};
  }
}

export type Method = 'GET' | 'POST' | 'PUT' | 'PATCH' | 'DELETE';

export interface RequestOptions {
  method?: Method;
  body?: unknown;
  /** Non-2xx statuses whose JSON body is data rather than a problem document. */
  acceptStatuses?: readonly number[];
  /** Sent as Idempotency-Key: the backend applies one key's request at most once. */
  idempotencyKey?: string;
  /** A file sent as the body itself (a CSV upload), instead of `body` as JSON. */
  file?: { data: Blob; type: string };
  /** For calls that take long by nature, such as a large upload; the default suits a counter. */
  timeoutMs?: number;
}

// A counter clerk needs an answer, not an endless spinner, when the server hangs.
const timeoutMs = 15_000;

/** Checks an answer's shape; null means the backend sent something this screen cannot use. */
export type Parser<T> = (body: unknown) => T | null;

export async function request<T>(path: string, parse: Parser<T>, options: RequestOptions = {}): Promise<T> {
  const response = await send(path, options);
  if (!response.ok && !options.acceptStatuses?.includes(response.status)) {
    throw await problemFrom(response);
  }
  const parsed = parse(await readBody(response));
  if (parsed === null) throw unexpectedResponse(response);
  return parsed;
}

/** A file the backend answers (a download), or its problem: the screen saves it or shows why not. */
export async function requestFile(path: string): Promise<{ blob: Blob; fileName: string }> {
  const response = await send(path, {});
  if (!response.ok) throw await problemFrom(response);
  const fileName = /filename="([^"]+)"/.exec(response.headers.get('Content-Disposition') ?? '')?.[1] ?? 'download';
  try {
    return { blob: await response.blob(), fileName };
  } catch (error) {
    throw transportError(error);
  }
}

/** For calls answered with 204, where only success or failure matters. */
export async function requestNoContent(path: string, options: RequestOptions = {}): Promise<void> {
  const response = await send(path, options);
  if (!response.ok) throw await problemFrom(response);
}

async function send(path: string, options: RequestOptions): Promise<Response> {
  const headers: Record<string, string> = { Accept: 'application/json, application/problem+json' };
  const init: RequestInit = {
    method: options.method ?? 'GET',
    headers,
    credentials: 'same-origin',
    signal: AbortSignal.timeout(options.timeoutMs ?? timeoutMs),
  };
  if (options.idempotencyKey !== undefined) headers['Idempotency-Key'] = options.idempotencyKey;
  if (options.file !== undefined) {
    headers['Content-Type'] = options.file.type;
    init.body = options.file.data;
  }
  if (options.body !== undefined) {
    headers['Content-Type'] = 'application/json';
    init.body = JSON.stringify(options.body);
  }
  try {
    return await fetch(path, init);
  } catch (error) {
    throw transportError(error);
  }
}

function transportError(error: unknown): ApiError {
  const timedOut = error instanceof DOMException && error.name === 'TimeoutError';
  return new ApiError({
    code: timedOut ? clientErrorCodes.timeout : clientErrorCodes.network,
    status: 0,
    messages: inBothLanguages(timedOut ? 'errorTimeout' : 'errorNetwork'),
    requestId: null,
  });
}

async function readBody(response: Response): Promise<unknown> {
  const text = await readText(response);
  if (text === '') return undefined;
  try {
    return JSON.parse(text) as unknown;
  } catch {
    throw unexpectedResponse(response);
  }
}

// The body stream can still fail (connection dropped mid-answer) after the headers arrived.
async function readText(response: Response): Promise<string> {
  try {
    return await response.text();
  } catch (error) {
    throw transportError(error);
  }
}

async function problemFrom(response: Response): Promise<ApiError> {
  let body: unknown;
  try {
    body = JSON.parse(await readText(response));
  } catch (error) {
    if (error instanceof ApiError) return error;
    return unexpectedResponse(response);
  }
  if (!isProblem(body)) return unexpectedResponse(response);
  return new ApiError({
    code: body.code,
    status: response.status,
    messages: { ja: body.messages.ja, en: body.messages.en },
    requestId: body.requestId,
    figures: figuresOf(body),
    members: { ...body },
  });
}

/** The number-valued members of a problem besides its HTTP status. */
export function figuresOf(body: object): Figures {
  return Object.fromEntries(Object.entries(body).filter((entry): entry is [string, number] => entry[0] !== 'status' && typeof entry[1] === 'number'));
}

// Answers that are not problem documents (a proxy's HTML error page, a truncated body)
// still need a message and, when the backend saw the request, its id.
function unexpectedResponse(response: Response): ApiError {
  return new ApiError({
    code: clientErrorCodes.unexpectedResponse,
    status: response.status,
    messages: inBothLanguages('errorUnexpectedResponse', { status: response.status }),
    requestId: response.headers.get('X-Request-Id'),
  });
}

interface ProblemDocument {
  code: string;
  messages: Bilingual;
  requestId: string;
}

function isProblem(value: unknown): value is ProblemDocument {
  if (!isRecord(value) || !isRecord(value.messages)) return false;
  return (
    typeof value.code === 'string' &&
    typeof value.requestId === 'string' &&
    typeof value.messages.ja === 'string' &&
    typeof value.messages.en === 'string'
  );
}

/** A fresh Idempotency-Key. crypto.randomUUID needs HTTPS; a console on plain HTTP in an office LAN has only getRandomValues. */
export function newIdempotencyKey(): string {
  const bytes = crypto.getRandomValues(new Uint8Array(16));
  return Array.from(bytes, (byte) => byte.toString(16).padStart(2, '0')).join('');
}

/**
 * One Idempotency-Key per request a person sends, kept until `clear`: sending the same request
 * again after a lost answer reuses its key (the backend answers it once), a changed one gets a new key.
 */
export class AttemptKeys {
  readonly #keys = new Map<string, string>();

  for(request: unknown): string {
    const sent = JSON.stringify(request);
    let key = this.#keys.get(sent);
    if (key === undefined) {
      key = newIdempotencyKey();
      this.#keys.set(sent, key);
    }
    return key;
  }

  clear(): void {
    this.#keys.clear();
  }
}

export function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}
