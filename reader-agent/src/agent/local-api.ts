// The agent's API for the console in the same PC: 127.0.0.1 only, a browser origin on the
// allowlist, and the pairing token on every call. It keeps only what the console needs: the
// readers' state, card sessions, in which the card signs nothing but the backend's canonical
// challenge and its proof goes to the backend, never to the page, and PIN-less taps, whose
// certificate likewise goes to the backend only, and a family consent's request, which the town
// lets its devices open and not its staff (docs/family.md). The PIN arrives
// here, goes to the card when the PIN rule allows (pin-rule.ts), and is neither logged nor kept.
import { createHash, timingSafeEqual } from 'node:crypto';
import http from 'node:http';
import { z } from 'zod';
import { PURPOSE_TEXTS, termsFieldProblem } from '@mykey/contracts/challenge-text.ts';
import { FAMILY_LABEL_MAX } from '@mykey/contracts/family.ts';
import { CardError, type CardErrorCode } from '../jpki/errors.ts';
import type { PcscService } from '../pcsc/pcsc.ts';
import { BackendError, termsOf } from './backend-client.ts';
import { CHALLENGE_PURPOSES, cardLogin, type EnrolledDevice } from './card-login.ts';
import { cardTap } from './card-tap.ts';
import type { JournalSender } from './tap-journal.ts';
import { AgentError, type AgentErrorCode } from './errors.ts';
import { PinRule } from './pin-rule.ts';

export interface LocalApiOptions {
  pcsc: PcscService;
  token: string;
  allowedOrigins: string[];
  port: number;
  log: (entry: Record<string, unknown>) => void;
  /** The backend as this enrolled device; null until `enroll` has been run. */
  device: EnrolledDevice | null;
  /** The device's journal of taps that wait for the backend; null until enrolled. */
  journal: JournalSender | null;
}

/** Where the agent listens unless told otherwise; the console and the login command look here. */
export const DEFAULT_PORT = 47110;

const BODY_LIMIT = 8 * 1024;

const STATUS_OF: Record<CardErrorCode, number> = {
  no_reader: 404, no_card: 409, card_removed: 409, reader_gone: 409, reader_busy: 409, pcsc_unavailable: 503,
  not_my_number_card: 422, pin_format: 400, pin_wrong: 422, pin_last_try: 422, pin_blocked: 423, card_error: 502,
  apdu_forbidden: 500,
};

const AGENT_STATUS_OF: Record<AgentErrorCode, number> = { not_enrolled: 409, challenge_not_canonical: 502, pin_needs_card_again: 409, pin_one_try_left: 423 };

/** A purpose's name as the backend registers it; which ones exist, and take a tap, is the backend's to say. */
export const PURPOSE_NAME = /^[a-z][a-z0-9_]{0,39}$/;

/**
 * A request for `purpose`, with the terms field of each purpose that has terms, in the form the
 * shared contract gives it (payment: paymentIntentId, pi_…; a membership link: membershipRequestId,
 * mr_…): the purpose's own field is required and no other taken (termsFieldProblem). Its value
 * comes out as `requested`. So a new purpose with terms needs nothing here.
 */
function purposeRequest<Shape extends { purpose: z.ZodType<string> } & z.ZodRawShape>(shape: Shape) {
  const termsFields: z.ZodRawShape = Object.fromEntries(PURPOSE_TEXTS.flatMap(([, terms]) => (terms
    ? [[terms.requestField, z.string().regex(terms.requestPattern, { error: terms.requestError }).optional()]] : [])));
  // The fields' names are the contract's data, not types: they are read by name.
  const fieldsOf = (body: object) => body as { purpose: string } & Record<string, unknown>;
  return z.object({ reader: z.string().max(200).optional(), ...shape }).extend(termsFields as {}).strict().superRefine((body, ctx) => {
    const problem = termsFieldProblem(PURPOSE_TEXTS, fieldsOf(body).purpose, fieldsOf(body));
    if (problem) ctx.addIssue({ code: 'custom', message: problem.message, path: [problem.path] });
  }).transform((body) => {
    const field = termsOf(fieldsOf(body).purpose)?.requestField;
    return { ...body, requested: field === undefined ? undefined : fieldsOf(body)[field] as string | undefined };
  });
}

// A card session's card signs, so its purpose must be one whose text the contract gives.
const cardSessionBody = purposeRequest({ purpose: z.enum(CHALLENGE_PURPOSES), pin: z.string() });
// A tap signs nothing: it may name any purpose, and the backend says whether it has it and takes a tap for it.
const cardTapBody = purposeRequest({ purpose: z.string().regex(PURPOSE_NAME, { error: 'must be a purpose name' }), offline: z.literal('journal').optional() });

// A family consent's request, opened by this device for the console (docs/family.md); the backend
// checks the label and the code, the agent only their form. `attempt` becomes its Idempotency-Key.
const familyRequestBody = z.object({
  attempt: z.string().regex(/^[A-Za-z0-9_.:-]{8,128}$/, { error: 'must be an Idempotency-Key' }),
  request: z.discriminatedUnion('action', [
    z.object({ action: z.literal('offer'), label: z.string().max(FAMILY_LABEL_MAX * 2) }).strict(),
    z.object({ action: z.literal('accept'), code: z.string().max(20), label: z.string().max(FAMILY_LABEL_MAX * 2) }).strict(),
  ]),
}).strict();

class HttpError extends Error {
  constructor(readonly status: number, readonly code: string, readonly messages: { ja: string; en: string }) {
    super(code);
  }
}

const unauthorized = new HttpError(401, 'pairing_required', { ja: 'このコンソールはカードリーダーとペアリングされていません。', en: 'This console is not paired with the card reader agent.' });
const forbiddenOrigin = new HttpError(403, 'origin_forbidden', { ja: 'このページからはカードリーダーを使えません。', en: 'This page may not use the card reader.' });
const badRequest = (detail: string) => new HttpError(400, 'request_invalid', { ja: `リクエストに誤りがあります: ${detail}`, en: `The request is not valid: ${detail}` });
const notFound = new HttpError(404, 'not_found', { ja: '見つかりません。', en: 'Not found.' });

function sameSecret(offered: string, expected: string): boolean {
  // Hash first so the comparison takes the same time whatever the lengths.
  const digest = (value: string) => createHash('sha256').update(value).digest();
  return timingSafeEqual(digest(offered), digest(expected));
}

async function readBody(request: http.IncomingMessage): Promise<unknown> {
  if (!(request.headers['content-type'] ?? '').startsWith('application/json')) throw badRequest('send application/json');
  let size = 0;
  const chunks: Buffer[] = [];
  for await (const chunk of request as AsyncIterable<Buffer>) {
    size += chunk.length;
    if (size > BODY_LIMIT) throw badRequest(`body over ${BODY_LIMIT} bytes`);
    chunks.push(chunk);
  }
  try {
    return JSON.parse(Buffer.concat(chunks).toString('utf8'));
  } catch {
    throw badRequest('malformed JSON');
  }
}

function parse<S extends z.ZodType>(schema: S, value: unknown): z.infer<S> {
  const result = schema.safeParse(value);
  if (!result.success) throw badRequest(result.error.issues.map((i) => `${i.path.join('.') || 'body'}: ${i.message}`).join('; '));
  return result.data;
}

/** The backend's request view, as this device asked it (no card is read: the resident sees it before the PIN). */
function familyRequest(device: EnrolledDevice | null, { attempt, request }: z.infer<typeof familyRequestBody>): Promise<unknown> {
  if (!device) throw new AgentError('not_enrolled');
  return device.backend.familyRequest(request, attempt);
}

export function createLocalApi(options: LocalApiOptions): http.Server {
  const { pcsc, token, allowedOrigins, port, log, device, journal } = options;
  const hosts = new Set([`127.0.0.1:${port}`, `localhost:${port}`]);
  const streams = new Set<http.ServerResponse>();
  const pinRule = new PinRule(pcsc);

  const snapshot = () => ({ available: pcsc.available, readers: pcsc.states() });
  const broadcast = () => {
    const event = `event: readers\ndata: ${JSON.stringify(snapshot())}\n\n`;
    for (const stream of streams) stream.write(event);
  };
  pcsc.on('change', broadcast);
  pcsc.on('available', broadcast);

  function cors(request: http.IncomingMessage, response: http.ServerResponse): void {
    const origin = request.headers.origin;
    if (origin === undefined) return;
    if (!allowedOrigins.includes(origin)) throw forbiddenOrigin;
    response.setHeader('Access-Control-Allow-Origin', origin);
    response.setHeader('Vary', 'Origin');
  }

  function authorize(request: http.IncomingMessage): void {
    // A page on another site that resolves its name to 127.0.0.1 still sends its own Host.
    if (!hosts.has(request.headers.host ?? '')) throw forbiddenOrigin;
    const offered = /^Bearer (.+)$/.exec(request.headers.authorization ?? '')?.[1];
    if (!offered || !sameSecret(offered, token)) throw unauthorized;
  }

  async function route(request: http.IncomingMessage, response: http.ServerResponse): Promise<unknown> {
    const key = `${request.method} ${new URL(request.url ?? '/', 'http://agent').pathname}`;
    switch (key) {
      // The device id lets the console tell which service this counter serves.
      // The journal's count: a shelter's PC shows how many taps wait for the network.
      case 'GET /v1/status': return {
        ...snapshot(), enrolled: device !== null, deviceId: device?.deviceId ?? null, backendUrl: device?.backend.baseUrl ?? null, journal: { waiting: journal?.waiting ?? 0 },
      };
      case 'GET /v1/events':
        response.writeHead(200, { 'Content-Type': 'text/event-stream', 'Cache-Control': 'no-store' });
        response.write(`event: readers\ndata: ${JSON.stringify(snapshot())}\n\n`);
        streams.add(response);
        request.on('close', () => streams.delete(response));
        return undefined;
      case 'POST /v1/card-sessions': return cardLogin(pcsc, pinRule, device, parse(cardSessionBody, await readBody(request)), log);
      case 'POST /v1/card-taps': return cardTap(pcsc, device, parse(cardTapBody, await readBody(request)), journal);
      case 'POST /v1/family-requests': return familyRequest(device, parse(familyRequestBody, await readBody(request)));
      default: throw notFound;
    }
  }

  function fail(response: http.ServerResponse, error: unknown): Known {
    const known = isKnown(error) ? error : new CardError('card_error');
    response.writeHead(statusOf(known), { 'Content-Type': 'application/json; charset=utf-8' });
    response.end(JSON.stringify({ code: known.code, messages: known.messages, ...details(known) }));
    return known;
  }

  return http.createServer(async (request, response) => {
    const started = Date.now();
    let outcome: Record<string, unknown> = { code: 'ok' };
    try {
      cors(request, response);
      if (request.method === 'OPTIONS') {
        response.writeHead(204, {
          'Access-Control-Allow-Methods': 'GET, POST',
          'Access-Control-Allow-Headers': 'Authorization, Content-Type',
          // Chrome asks before a public page may call a loopback address.
          ...(request.headers['access-control-request-private-network'] ? { 'Access-Control-Allow-Private-Network': 'true' } : {}),
        });
        response.end();
        return;
      }
      authorize(request);
      const result = await route(request, response);
      if (result !== undefined) {
        response.writeHead(200, { 'Content-Type': 'application/json; charset=utf-8', 'Cache-Control': 'no-store' });
        response.end(JSON.stringify(result));
      }
    } catch (error) {
      const known = fail(response, error);
      // The card's status word or PC/SC code, or the backend's request id, helps an operator; none holds a PIN.
      outcome = known instanceof CardError ? { code: known.code, ...known.details } : { code: known.code, ...details(known) };
      if (!isKnown(error)) log({ level: 'error', msg: 'unexpected error', error: String(error) });
    } finally {
      // Method, path, outcome and time only: never the body, which may hold the PIN.
      log({ level: 'info', msg: 'request', method: request.method, path: request.url?.split('?')[0], ...outcome, ms: Date.now() - started });
    }
  });
}

type Known = HttpError | CardError | AgentError | BackendError;

function isKnown(error: unknown): error is Known {
  return error instanceof HttpError || error instanceof CardError || error instanceof AgentError || error instanceof BackendError;
}

/** A backend's refusal is passed on as a bad gateway: the caller reads its code, not the status. */
function statusOf(known: Known): number {
  if (known instanceof HttpError) return known.status;
  if (known instanceof CardError) return STATUS_OF[known.code];
  if (known instanceof AgentError) return AGENT_STATUS_OF[known.code];
  return 502;
}

/** What the caller may show beside the code and messages: tries left, or where the backend's answer came from. */
function details(known: Known): Record<string, unknown> {
  if (known instanceof CardError) return known.details.triesLeft === undefined ? {} : { triesLeft: known.details.triesLeft };
  if (known instanceof BackendError) return { ...known.extra, backendStatus: known.status, ...(known.requestId ? { requestId: known.requestId } : {}) };
  return {};
}
