// The partner simulator: what a card company or an airline does against the partner API
// (docs/partner-api.md), as real HTTP on both sides. It submits signed conversions at a chosen
// rate, re-sends some (also at the same time), sends a few bad ones, and retries its own
// timeouts and 5xx with the same partnerTxId and body, as a partner must. Its webhook receiver
// checks every delivery's signature (401 otherwise), records the outcomes, and can be told to
// misbehave: answer 500, never answer, or drop the connection. It keeps its own record of what
// it sent, what was acknowledged and what the webhooks said, and reconciles that against
// GET /api/v1/partner/conversions/{partnerTxId}.
// Used by the fault tests, the conversions benchmark and `npm run partner-sim`.
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { once } from 'node:events';
import type { AddressInfo } from 'node:net';
import {
  PARTNER_HEADER, SIGNATURE_HEADER, TIMESTAMP_HEADER,
  bodySha256, parseTimestamp, signatureMatches, signedHeaders, signedUploadHeaders, timestampFresh,
} from '@mykey/contracts/partner-signature.ts';

export const CONVERSIONS_PATH = '/api/v1/partner/conversions';
export const BATCHES_PATH = '/api/v1/partner/conversion-batches';

export interface PartnerIdentity {
  /** The partner's id as sent in X-MyKey-Partner (its slug). */
  partner: string;
  /** The HMAC key: the API secret's bytes (partnerKey turns the secret as issued into them). */
  key: Uint8Array;
}

export interface ConversionBody { partnerTxId: string; mykeyId: string; municipality: string; partnerPoints: number }

export interface Reply { status: number; body: any; attempts: number }

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

// ---- the signing client ----

export interface ClientOptions extends PartnerIdentity {
  baseUrl: string;
  /**
   * More API servers of the same platform (a cluster's): requests take the servers in turn, and
   * each retry goes to the next one, as through a load balancer that fails over.
   */
  otherUrls?: string[];
  /** How long one attempt may take before the partner gives up on it and retries. */
  timeoutMs?: number;
  /** How long the partner keeps retrying a request that timed out, failed to connect or got a 5xx. */
  retryForMs?: number;
}

/** Answers a partner retries: no answer at all, or the server's own trouble. */
const retryable = (status: number) => status >= 500 || status === 429;

/** Signed requests to the partner API, retried like a partner would. */
export class PartnerClient {
  readonly retries = { timeouts: 0, connectionErrors: 0, serverErrors: 0 };
  private readonly servers: string[];
  private turn = 0;

  constructor(readonly options: ClientOptions) {
    this.servers = [options.baseUrl, ...(options.otherUrls ?? [])];
  }

  /**
   * One signed request, retried with backoff on timeouts, connection errors, 5xx and 429 until
   * `retryForMs` has passed. An `upload` is signed over its declared length and hash (a batch).
   */
  async request(method: string, path: string, body?: string, contentType = 'application/json', upload = false): Promise<Reply> {
    const { timeoutMs = 10_000, retryForMs = 120_000 } = this.options;
    const giveUpAt = Date.now() + retryForMs;
    const first = this.turn++;
    for (let attempt = 1; ; attempt++) {
      const server = this.servers[(first + attempt - 1) % this.servers.length]!;
      const outcome = await this.once(server, method, path, body, contentType, timeoutMs, upload);
      const failed = 'error' in outcome || retryable(outcome.status);
      if (!failed) return { ...outcome, attempts: attempt };
      if (Date.now() >= giveUpAt) {
        if ('error' in outcome) throw new Error(`${method} ${path}: gave up after ${attempt} attempts: ${outcome.error}`);
        return { ...outcome, attempts: attempt };
      }
      await sleep(Math.min(1_000, 20 * 2 ** Math.min(attempt, 6)) * (0.5 + Math.random()));
    }
  }

  private async once(server: string, method: string, path: string, body: string | undefined, contentType: string, timeoutMs: number, upload: boolean): Promise<{ status: number; body: any } | { error: string }> {
    const sign = upload
      ? () => signedUploadHeaders(this.options.partner, this.options.key, method, path, { sha256: bodySha256(body ?? ''), length: Buffer.byteLength(body ?? '') })
      : () => signedHeaders(this.options.partner, this.options.key, method, path, body ?? '');
    const headers: Record<string, string> = {
      ...sign(),
      ...(body === undefined ? {} : { 'Content-Type': contentType }),
    };
    try {
      const response = await fetch(`${server}${path}`, { method, headers, body, signal: AbortSignal.timeout(timeoutMs) });
      const text = await response.text();
      if (retryable(response.status)) this.retries.serverErrors++;
      return { status: response.status, body: parseJson(text) };
    } catch (error) {
      const timedOut = (error as Error).name === 'TimeoutError';
      if (timedOut) this.retries.timeouts++;
      else this.retries.connectionErrors++;
      return { error: timedOut ? `no answer within ${timeoutMs} ms` : String((error as Error).cause ?? error) };
    }
  }

  submit(conversion: ConversionBody | string): Promise<Reply> {
    return this.request('POST', CONVERSIONS_PATH, typeof conversion === 'string' ? conversion : JSON.stringify(conversion));
  }

  /** Uploads a batch file (NDJSON), signed over its length and hash; a busy answer (429) is retried like a 5xx. */
  uploadBatch(batchId: string, ndjson: string): Promise<Reply> {
    return this.request('PUT', `${BATCHES_PATH}/${encodeURIComponent(batchId)}`, ndjson, 'application/x-ndjson', true);
  }

  status(partnerTxId: string): Promise<Reply> {
    return this.request('GET', `${CONVERSIONS_PATH}/${encodeURIComponent(partnerTxId)}`);
  }
}

function parseJson(text: string): unknown {
  try {
    return text ? JSON.parse(text) : undefined;
  } catch {
    return text;
  }
}

// ---- the webhook receiver ----

/** How the receiver answers a delivery: 2xx, 500, never (the sender must time out), or by closing the connection. */
export type Behaviour = 'ok' | 'error' | 'timeout' | 'close';

/** What a `conversion.finished` webhook says, as recorded (first delivery per partnerTxId). */
export interface Outcome {
  conversionId: string;
  partnerTxId: string;
  state: string;
  points?: number;
  basePoints?: number;
  premiumPoints?: number;
  rejectCode?: string;
}

/** The fields two deliveries of one outcome must agree on. */
const OUTCOME_FIELDS = ['conversionId', 'state', 'points', 'basePoints', 'premiumPoints', 'rejectCode'] as const;

function outcomeOf(body: any): Outcome {
  const outcome: Outcome = { conversionId: String(body.conversionId), partnerTxId: String(body.partnerTxId), state: String(body.state) };
  for (const field of ['points', 'basePoints', 'premiumPoints'] as const) if (body[field] != null) outcome[field] = Number(body[field]);
  if (body.rejectCode != null) outcome.rejectCode = String(body.rejectCode);
  return outcome;
}

export interface Disagreement { partnerTxId: string; first: Outcome; later: Outcome }

/** Receives signed webhooks at `path`; refuses bad signatures with 401. */
export class WebhookReceiver {
  readonly outcomes = new Map<string, Outcome>();
  readonly disagreements: Disagreement[] = [];
  readonly counts = { deliveries: 0, accepted: 0, repeated: 0, unsigned: 0, malformed: 0, error: 0, timeout: 0, close: 0 };
  private server: Server | undefined;
  private plan: { behaviour: Behaviour; calls: number; fraction: number } = { behaviour: 'ok', calls: 0, fraction: 0 };
  /** Misbehaviours armed for the deliveries of one partnerTxId, whenever they arrive. */
  private readonly planFor = new Map<string, { behaviour: Behaviour; calls: number }>();
  /** Deliveries per partnerTxId whose answer (or silence) has been decided. */
  private readonly handled = new Map<string, number>();
  private waiters: Array<() => void> = [];

  constructor(readonly identity: PartnerIdentity, readonly path = '/mykey/webhooks') {}

  /** Listens on loopback (port 0: any free one) and resolves to the webhook URL to register. */
  async start(port = 0, host = '127.0.0.1'): Promise<string> {
    this.server = createServer((req, res) => void this.handle(req, res));
    this.server.listen(port, host);
    await once(this.server, 'listening');
    const address = this.server.address() as AddressInfo;
    return `http://${host}:${address.port}${this.path}`;
  }

  async stop(): Promise<void> {
    if (!this.server) return;
    this.server.closeAllConnections();
    await new Promise((resolve) => this.server!.close(resolve));
  }

  /**
   * Misbehave: for the next `calls` deliveries, or (with `fraction`) on that share of deliveries
   * until told otherwise. With `partnerTxId`, for the next `calls` deliveries of that conversion
   * only, however late they arrive: a delivery still on its way cannot take another's plan.
   * `behave()` goes back to answering 204.
   */
  misbehave(behaviour: Exclude<Behaviour, 'ok'>, how: { calls: number; partnerTxId?: string } | { fraction: number }): void {
    if ('partnerTxId' in how && how.partnerTxId !== undefined) this.planFor.set(how.partnerTxId, { behaviour, calls: how.calls });
    else this.plan = 'calls' in how ? { behaviour, calls: how.calls, fraction: 0 } : { behaviour, calls: 0, fraction: how.fraction };
  }

  behave(): void {
    this.plan = { behaviour: 'ok', calls: 0, fraction: 0 };
    this.planFor.clear();
  }

  /** Resolves once every one of `partnerTxIds` has an outcome (or rejects after `timeoutMs`). */
  waitForOutcomes(partnerTxIds: Iterable<string>, timeoutMs: number): Promise<void> {
    const wanted = [...partnerTxIds];
    return this.waitUntil(() => wanted.filter((id) => !this.outcomes.has(id)).length, timeoutMs,
      (missing) => `webhooks: ${missing} of ${wanted.length} outcomes still missing after ${timeoutMs} ms`);
  }

  /** Resolves once a delivery of `partnerTxId` has reached the receiver and been answered, or deliberately not. */
  delivered(partnerTxId: string, timeoutMs = 30_000): Promise<void> {
    return this.waitUntil(() => (this.handled.has(partnerTxId) ? 0 : 1), timeoutMs,
      () => `webhooks: no delivery of ${partnerTxId} reached the receiver within ${timeoutMs} ms`);
  }

  /** Waits, woken by every delivery, until `missing()` is 0; rejects with `failure(missing)` after `timeoutMs`. */
  private async waitUntil(missing: () => number, timeoutMs: number, failure: (missing: number) => string): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    while (missing() > 0) {
      const left = deadline - Date.now();
      if (left <= 0) throw new Error(failure(missing()));
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, Math.min(left, 1_000));
        this.waiters.push(() => { clearTimeout(timer); resolve(); });
      });
    }
  }

  private wake(): void {
    for (const wake of this.waiters.splice(0)) wake();
  }

  private nextBehaviour(partnerTxId: unknown): Behaviour {
    const named = typeof partnerTxId === 'string' ? this.planFor.get(partnerTxId) : undefined;
    if (named) {
      if (--named.calls === 0) this.planFor.delete(partnerTxId as string);
      return named.behaviour;
    }
    const { behaviour, calls, fraction } = this.plan;
    if (calls > 0) {
      this.plan.calls--;
      if (this.plan.calls === 0) this.behave();
      return behaviour;
    }
    return fraction > 0 && Math.random() < fraction ? behaviour : 'ok';
  }

  private async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    this.counts.deliveries++;
    const raw = await readBody(req);
    if (!raw) return; // the sender gave up before its delivery was read whole
    let body: any;
    try {
      body = JSON.parse(raw.toString('utf8'));
    } catch {
      body = undefined;
    }
    const behaviour = this.nextBehaviour(body?.partnerTxId);
    try {
      this.respond(req, res, raw, body, behaviour);
    } finally {
      if (typeof body?.partnerTxId === 'string') this.handled.set(body.partnerTxId, (this.handled.get(body.partnerTxId) ?? 0) + 1);
      this.wake();
    }
  }

  private respond(req: IncomingMessage, res: ServerResponse, raw: Buffer, body: any, behaviour: Behaviour): void {
    if (behaviour === 'timeout') { this.counts.timeout++; return; } // never answered; the connection stays open
    if (behaviour === 'close') { this.counts.close++; req.socket.destroy(); return; }
    if (!this.signedByMyKey(req, raw)) { this.counts.unsigned++; return answer(res, 401, { code: 'signature_invalid' }); }
    if (req.url !== this.path || req.method !== 'POST' || body?.event !== 'conversion.finished' || typeof body.partnerTxId !== 'string') {
      this.counts.malformed++;
      return answer(res, 400, { code: 'not_a_conversion_webhook' });
    }
    // Recorded before answering: a delivery answered 500 was still seen, as at a real partner
    // whose database write succeeded and whose answer failed.
    this.record(outcomeOf(body));
    if (behaviour === 'error') { this.counts.error++; return answer(res, 500, { code: 'partner_down' }); }
    this.counts.accepted++;
    answer(res, 204);
  }

  /** The same check the platform makes of partner requests, with the partner's own secret. */
  private signedByMyKey(req: IncomingMessage, raw: Buffer): boolean {
    const header = (name: string) => { const value = req.headers[name]; return Array.isArray(value) ? undefined : value; };
    const timestamp = parseTimestamp(header(TIMESTAMP_HEADER));
    const given = header(SIGNATURE_HEADER);
    if (timestamp === undefined || given === undefined || !timestampFresh(timestamp, new Date())) return false;
    if (header(PARTNER_HEADER) !== undefined && header(PARTNER_HEADER) !== this.identity.partner) return false;
    return signatureMatches(this.identity.key, { timestamp, method: req.method ?? '', path: req.url ?? '', bodySha256: bodySha256(raw) }, given);
  }

  private record(outcome: Outcome): void {
    const first = this.outcomes.get(outcome.partnerTxId);
    if (!first) {
      this.outcomes.set(outcome.partnerTxId, outcome);
      return;
    }
    this.counts.repeated++;
    if (OUTCOME_FIELDS.some((field) => first[field] !== outcome[field])) this.disagreements.push({ partnerTxId: outcome.partnerTxId, first, later: outcome });
  }
}

/** The whole request body, or undefined when the sender dropped the connection before sending it all. */
async function readBody(req: IncomingMessage): Promise<Buffer | undefined> {
  const chunks: Buffer[] = [];
  try {
    for await (const chunk of req) chunks.push(chunk as Buffer);
  } catch {
    return undefined;
  }
  return req.complete ? Buffer.concat(chunks) : undefined;
}

function answer(res: ServerResponse, status: number, body?: unknown): void {
  res.writeHead(status, body === undefined ? {} : { 'Content-Type': 'application/json' });
  res.end(body === undefined ? undefined : JSON.stringify(body));
}

// ---- the traffic and the record ----

export interface TrafficPlan {
  /** How many distinct conversions to submit. */
  count: number;
  mykeyIds: string[];
  municipality: string;
  /** Requests started per second (duplicates included); unset: as fast as `concurrency` allows. */
  ratePerSecond?: number;
  /** Requests in flight at most. */
  concurrency: number;
  /** Share of conversions sent twice, the second copy at the same moment as the first or right after. */
  duplicateFraction?: number;
  /** How many deliberately bad requests to mix in (each must be refused with a 4xx). */
  bad?: number;
  /** Unique per run: the partnerTxIds are `${txPrefix}-${n}`. */
  txPrefix: string;
  /** The partner points of conversion `n` (default: 100 to 1,099, varying). */
  partnerPoints?: (n: number) => number;
}

/** A conversion sent, and its answers: a status each (0: no answer at all, -1: a second conversion id), with the problem code of any other than 202. */
export interface Sent { body: ConversionBody; conversionId?: string; answers: number[]; problems: string[] }

export interface TrafficReport {
  conversions: number;
  requests: number;
  accepted: number;
  duplicates: number;
  /** Conversions whose answers were not all 202 with the same conversion id, each with what it was answered. */
  inconsistent: string[];
  /** Conversions never acknowledged (the partner gave up retrying). */
  unacknowledged: string[];
  bad: { sent: number; refused: number; codes: Record<string, number>; notRefused: Array<{ kind: string; status: number; body: unknown }> };
  retries: PartnerClient['retries'];
  ms: number;
}

/** The kinds of bad request the simulator sends now and then; each must end in a 4xx, storing nothing. */
const BAD_KINDS = ['unknown_mykey', 'zero_points', 'negative_points', 'absurd_points', 'malformed_json', 'unknown_municipality', 'other_body_same_tx'] as const;

/** A partner: its client, its webhook receiver, and its record of every conversion it sent. */
export class PartnerSimulator {
  readonly sent = new Map<string, Sent>();
  /** Conversion requests sent, retries not counted. */
  requests = 0;
  /** partnerTxIds of bad requests that must never be stored (the 409 kind reuses a good one and is not listed). */
  readonly refusedTxIds = new Set<string>();

  constructor(readonly client: PartnerClient, readonly webhooks: WebhookReceiver) {}

  /** Sends the plan's traffic and waits for every answer. */
  async run(plan: TrafficPlan): Promise<TrafficReport> {
    const started = Date.now();
    const points = plan.partnerPoints ?? ((n: number) => 100 + ((n * 37) % 1_000));
    const jobs: Array<() => Promise<unknown>> = [];
    let duplicates = 0;
    for (let n = 0; n < plan.count; n++) {
      const body: ConversionBody = { partnerTxId: `${plan.txPrefix}-${n}`, mykeyId: plan.mykeyIds[n % plan.mykeyIds.length]!, municipality: plan.municipality, partnerPoints: points(n) };
      this.sent.set(body.partnerTxId, { body, answers: [], problems: [] });
      const twice = Math.random() < (plan.duplicateFraction ?? 0);
      if (twice) duplicates++;
      // A duplicate is either sent at the same moment (two requests racing) or right after.
      if (twice && n % 2 === 0) jobs.push(() => Promise.all([this.submit(body), this.submit(body)]));
      else jobs.push(() => this.submit(body));
      if (twice && n % 2 === 1) jobs.push(() => this.submit(body));
    }
    const bad: TrafficReport['bad'] = { sent: 0, refused: 0, codes: {}, notRefused: [] };
    for (let i = 0; i < (plan.bad ?? 0); i++) {
      const kind = BAD_KINDS[i % BAD_KINDS.length]!;
      // Spread through the stream; the 409 kind comes after the conversion it reuses.
      jobs.splice(Math.floor(((i + 1) * jobs.length) / ((plan.bad ?? 0) + 1)), 0, () => this.submitBad(plan, kind, i, bad));
    }
    const requestsBefore = this.requests;
    await paced(jobs, plan.concurrency, plan.ratePerSecond);
    const ids = [...this.sent.keys()].filter((id) => id.startsWith(`${plan.txPrefix}-`));
    return {
      conversions: plan.count,
      requests: this.requests - requestsBefore,
      accepted: ids.filter((id) => this.sent.get(id)!.conversionId !== undefined).length,
      duplicates,
      inconsistent: ids.filter((id) => !consistent(this.sent.get(id)!)).map((id) => {
        const { answers, problems } = this.sent.get(id)!;
        return `${id} answered ${answers.join(', ')}${problems.length > 0 ? ` (${problems.join('; ')})` : ''}`;
      }),
      unacknowledged: ids.filter((id) => this.sent.get(id)!.conversionId === undefined),
      bad,
      retries: { ...this.client.retries },
      ms: Date.now() - started,
    };
  }

  private async submit(body: ConversionBody): Promise<void> {
    const record = this.sent.get(body.partnerTxId)!;
    let reply: Reply;
    this.requests++;
    try {
      reply = await this.client.submit(body);
    } catch {
      record.answers.push(0); // gave up: no answer at all
      return;
    }
    record.answers.push(reply.status);
    if (reply.status !== 202) {
      record.problems.push(`${reply.status} after ${reply.attempts} attempts: ${JSON.stringify(reply.body).slice(0, 300)}`);
      return;
    }
    const id = String(reply.body?.conversionId);
    // A second acknowledgement with another id is a double acceptance: recorded as inconsistent.
    if (record.conversionId === undefined) record.conversionId = id;
    else if (record.conversionId !== id) {
      record.answers.push(-1);
      record.problems.push(`202 with conversion ${id} after ${reply.attempts} attempts, where an earlier 202 said ${record.conversionId}: ${JSON.stringify(reply.body).slice(0, 300)}`);
    }
  }

  private async submitBad(plan: TrafficPlan, kind: typeof BAD_KINDS[number], i: number, into: TrafficReport['bad']): Promise<void> {
    const partnerTxId = `${plan.txPrefix}-bad-${i}`;
    const good = { partnerTxId, mykeyId: plan.mykeyIds[0]!, municipality: plan.municipality, partnerPoints: 500 };
    const requests: Record<typeof kind, () => string> = {
      unknown_mykey: () => JSON.stringify({ ...good, mykeyId: 'ZZZZZZZZ' }),
      zero_points: () => JSON.stringify({ ...good, partnerPoints: 0 }),
      negative_points: () => JSON.stringify({ ...good, partnerPoints: -5 }),
      absurd_points: () => JSON.stringify({ ...good, partnerPoints: 1e15 }),
      malformed_json: () => `{"partnerTxId":"${partnerTxId}",`,
      unknown_municipality: () => JSON.stringify({ ...good, municipality: plan.municipality === '999999' ? '999998' : '999999' }),
      // The first conversion of the run, its body changed: 409, and the original stands.
      other_body_same_tx: () => JSON.stringify({ ...this.sent.get(`${plan.txPrefix}-0`)!.body, partnerPoints: 7 }),
    };
    if (kind !== 'other_body_same_tx') this.refusedTxIds.add(partnerTxId);
    into.sent++;
    this.requests++;
    const reply = await this.client.submit(requests[kind]()).catch((error: Error) => ({ status: 0, body: error.message }));
    if (reply.status >= 400 && reply.status < 500) {
      into.refused++;
      const code = String(reply.body?.code ?? reply.status);
      into.codes[code] = (into.codes[code] ?? 0) + 1;
    } else {
      into.notRefused.push({ kind, status: reply.status, body: reply.body });
    }
  }

  /**
   * Asks the platform about every conversion sent and compares: each acknowledged one should be
   * finished (`credited` or `rejected`), agree with its webhook when one came, and credit the
   * points expected at the partner's `rate`; each refused one must be unknown (404).
   */
  async reconcile(options: { concurrency?: number; rate?: { units: number; points: number } } = {}): Promise<Reconciliation> {
    const result: Reconciliation = { credited: 0, rejected: 0, pending: [], rejectCodes: {}, mismatches: [], missingWebhooks: [], storedRefusals: [], pointsCredited: 0 };
    const acknowledged = [...this.sent.values()].filter((s) => s.conversionId !== undefined);
    await paced(acknowledged.map((sent) => async () => {
      const reply = await this.client.status(sent.body.partnerTxId);
      const mismatch = (why: string) => result.mismatches.push({ partnerTxId: sent.body.partnerTxId, why, platform: reply.body, webhook: this.webhooks.outcomes.get(sent.body.partnerTxId) });
      if (reply.status !== 200) return mismatch(`GET answered ${reply.status}`);
      const state = reply.body.state as string;
      if (state === 'accepted') return void result.pending.push(sent.body.partnerTxId);
      if (state === 'credited') {
        result.credited++;
        // What the resident got: the converted points and the campaign's premium on top.
        result.pointsCredited += Number(reply.body.basePoints) + Number(reply.body.premiumPoints);
        if (options.rate && Number(reply.body.basePoints) !== Math.floor((sent.body.partnerPoints * options.rate.points) / options.rate.units)) mismatch('basePoints is not the partner points at the rate');
      } else if (state === 'rejected') {
        result.rejected++;
        result.rejectCodes[reply.body.rejectCode] = (result.rejectCodes[reply.body.rejectCode] ?? 0) + 1;
      } else {
        return mismatch(`unknown state ${state}`);
      }
      if (reply.body.conversionId !== undefined && String(reply.body.conversionId) !== sent.conversionId) mismatch('conversionId differs from the one acknowledged');
      const webhook = this.webhooks.outcomes.get(sent.body.partnerTxId);
      if (!webhook) return void result.missingWebhooks.push(sent.body.partnerTxId);
      const platform = outcomeOf({ ...reply.body, partnerTxId: sent.body.partnerTxId, conversionId: reply.body.conversionId ?? sent.conversionId });
      for (const field of OUTCOME_FIELDS) {
        if (webhook[field] !== undefined && platform[field] !== undefined && webhook[field] !== platform[field]) mismatch(`webhook ${field} differs`);
      }
    }), options.concurrency ?? 16);
    await paced([...this.refusedTxIds].map((id) => async () => {
      const reply = await this.client.status(id);
      if (reply.status !== 404) result.storedRefusals.push(id);
    }), options.concurrency ?? 16);
    return result;
  }
}

export interface Reconciliation {
  credited: number;
  rejected: number;
  /** Acknowledged but not finished yet. */
  pending: string[];
  rejectCodes: Record<string, number>;
  mismatches: Array<{ partnerTxId: string; why: string; platform: unknown; webhook: unknown }>;
  /** Finished, but no webhook received (yet). */
  missingWebhooks: string[];
  /** Bad requests the platform knows after all. */
  storedRefusals: string[];
  /** basePoints + premiumPoints of every credited conversion, by GET. */
  pointsCredited: number;
}

/** Every answer a 202 (or a give-up, retried later by the partner) and one conversion id for all. */
function consistent(sent: Sent): boolean {
  return sent.answers.every((status) => status === 202 || status === 0);
}

/** Runs `jobs`, at most `concurrency` at once, starting no more than `ratePerSecond` of them per second. */
export async function paced(jobs: Array<() => Promise<unknown>>, concurrency: number, ratePerSecond?: number): Promise<void> {
  const started = Date.now();
  let next = 0;
  const lane = async () => {
    while (next < jobs.length) {
      const index = next++;
      if (ratePerSecond) {
        const due = started + (index * 1000) / ratePerSecond;
        if (due > Date.now()) await sleep(due - Date.now());
      }
      await jobs[index]!();
    }
  };
  await Promise.all(Array.from({ length: Math.max(1, Math.min(concurrency, jobs.length)) }, lane));
}
