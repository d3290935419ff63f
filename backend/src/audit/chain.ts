// The audit log: every issuance, relink, suspension, device enrollment and revocation is
// appended to audit_events in the same transaction as the change, and each event's hash
// covers the one before it, so an edited, removed or reordered event shows.
//
// hash(seq) = HMAC-SHA-256( chain key, prev_hash ‖ UTF-8( canonicalJson({
//               action, actor_id, actor_kind, details, occurred_at, seq, subject }) ) )
// with occurred_at as ISO 8601 UTC with milliseconds (2026-11-22T01:02:03.004Z), seq a JSON
// number, and prev_hash the hash of seq - 1 (32 zero bytes for seq 1). canonicalJson is JSON
// with no spaces and object keys sorted by UTF-16 code units at every depth. Events before
// audit_head.keyed_from (written before the chain was keyed) are SHA-256 of the same bytes.
// The key is not in MySQL (keys.ts), so someone who can only change the database cannot
// recompute the hashes of events they changed.
//
// Free text (a reason staff wrote) is not in the chain: it is a row of audit_texts, and the
// event's details.texts names it by HMAC-SHA-256(text key, nonce ‖ text), so the text can be
// erased on a lawful request while the chain stays intact.
import { createHash, createHmac, randomBytes } from 'node:crypto';
import type { Knex } from 'knex';
import { ConcurrentChange, retryTransient, type Db } from '../db.ts';
import { auditKeys, type AuditKeys } from './keys.ts';
import { auditRepository as repo, type EventRow, type TextRow, type TextsToErase, type TownView } from './repository.ts';
import type { StaffRole } from '@mykey/contracts/staff.ts';

export interface AuditEvent {
  /** What happened, e.g. `mykey.issued`, `device.revoked`. */
  action: string;
  actor: { kind: 'staff' | 'device' | 'resident' | 'system' | 'partner'; id: string };
  /** What it happened to, e.g. a MyKey ID or `device:12`. */
  subject: string;
  /** Ids and keyed hashes only: never a name, a certificate or a serial number. JSON values only. */
  details?: Record<string, unknown>;
  /**
   * What people wrote, e.g. `{ reason }`: kept beside the chain so it can be erased on a lawful
   * request; readers (eventsAbout) see it among the details again, as null once erased.
   */
  texts?: Record<string, string>;
}

/** The action of the event that erases texts (eraseAuditTexts). */
const TEXT_ERASED = 'audit.text_erased';

const ZERO_HASH = Buffer.alloc(32);
const MAX_TEXT = 64; // the VARCHAR(64) columns
const MAX_FREE_TEXT = 2000;
const TEXT_NAME = /^[a-z][A-Za-z]{0,31}$/;
const BATCH = 1000;

/**
 * JSON with object keys sorted at every depth. Keys whose value is undefined are left out,
 * as JSON.stringify does; anything else JSON cannot carry unchanged (NaN, Infinity, Dates,
 * Buffers, class instances, undefined in arrays) is refused rather than silently altered.
 */
export function canonicalJson(value: unknown): string {
  if (value === null || typeof value === 'string' || typeof value === 'boolean') return JSON.stringify(value);
  if (typeof value === 'number') {
    if (!Number.isFinite(value)) throw new TypeError(`audit details cannot hold the number ${value}`);
    return JSON.stringify(value);
  }
  if (Array.isArray(value)) return `[${value.map(canonicalJson).join(',')}]`;
  if (typeof value === 'object' && [Object.prototype, null].includes(Object.getPrototypeOf(value))) {
    const entries = Object.entries(value).filter(([, v]) => v !== undefined).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
    return `{${entries.map(([k, v]) => `${JSON.stringify(k)}:${canonicalJson(v)}`).join(',')}}`;
  }
  const kind = typeof value === 'object' ? value.constructor?.name ?? 'object' : typeof value;
  throw new TypeError(`audit details hold JSON values only, not ${kind}`);
}

/** What an event's hash covers: the row but its links. */
type HashedFields = Omit<EventRow, 'prev_hash' | 'hash'>;

/** Keyed with `chainKey`; without one (events before the keyed boundary) plain SHA-256. */
function eventHash(prevHash: Buffer, fields: HashedFields, chainKey: Buffer | undefined): Buffer {
  const body = canonicalJson({ ...fields, occurred_at: fields.occurred_at.toISOString() });
  const hash = chainKey ? createHmac('sha256', chainKey) : createHash('sha256');
  return hash.update(prevHash).update(body, 'utf8').digest();
}

/** How an event refers to a free text: equal texts give unrelated references, and an erased one cannot be guessed back. */
function textRef(textKey: Buffer, nonce: Buffer, text: string): Buffer {
  return createHmac('sha256', textKey).update(nonce).update(text, 'utf8').digest();
}

// A text that the database would truncate or re-encode would no longer match its hash.
function checkText(name: string, value: string, max = MAX_TEXT): void {
  const length = [...value].length;
  if (length === 0 || length > max || /\p{Cs}/u.test(value)) {
    throw new TypeError(`audit ${name} must be 1 to ${max} characters of well-formed text`);
  }
}

interface NewText { name: string; text: string; nonce: Buffer; ref: Buffer }

function newTexts(event: AuditEvent, textKey: Buffer): NewText[] {
  if (event.details && Object.hasOwn(event.details, 'texts')) throw new TypeError('audit details.texts is reserved: pass free text as texts');
  return Object.entries(event.texts ?? {}).map(([name, text]) => {
    if (!TEXT_NAME.test(name)) throw new TypeError(`audit text name ${JSON.stringify(name)} must be 1 to 32 letters, starting lower-case`);
    if (event.details && Object.hasOwn(event.details, name)) throw new TypeError(`audit text ${name} is also a detail`);
    checkText(`text ${name}`, text, MAX_FREE_TEXT);
    const nonce = randomBytes(16);
    return { name, text, nonce, ref: textRef(textKey, nonce, text) };
  });
}

/**
 * Appends an event in the caller's transaction: it commits or rolls back with the change it
 * records. Holds the audit head's row lock until the transaction ends, so call it as the last
 * write of the transaction to keep other appenders waiting as briefly as possible.
 */
export async function appendAudit(trx: Knex.Transaction, event: AuditEvent): Promise<{ seq: number }> {
  const keys = auditKeys();
  checkText('action', event.action);
  checkText('actor id', event.actor.id);
  checkText('subject', event.subject);
  const texts = newTexts(event, keys.text);
  const details = texts.length === 0 ? event.details ?? {}
    : { ...event.details, texts: Object.fromEntries(texts.map((t) => [t.name, t.ref.toString('hex')])) };
  const detailsJson = canonicalJson(details);
  const head = await repo.lockHead(trx);
  if (!head) throw new Error('audit_head has no row: the audit migration did not run');
  // A transaction the server rolled back (a deadlock) while its code went on would append here
  // statement by statement, holding the head's lock for none of them: two events could take one
  // seq. Refused loudly instead, with the caller's stack.
  if (Number(head.in_transaction) !== 1) throw new Error(`audit ${event.action}: appended outside a transaction (rolled back by the server?) on connection ${head.connection}`);
  // The head is the chain's lock and a cache of its end. Should it lag behind the last event (an
  // event committed without its head: see docs/audit-log.md), the chain goes on from the event.
  const last = await repo.lastEvent(trx);
  const after = last && Number(last.seq) > Number(head.last_seq) ? { seq: Number(last.seq), hash: last.hash } : { seq: Number(head.last_seq), hash: head.last_hash };
  const fields: HashedFields = {
    seq: after.seq + 1,
    // Taken under the lock, so times never go backwards along the chain (on one clock).
    occurred_at: new Date(),
    action: event.action,
    actor_kind: event.actor.kind,
    actor_id: event.actor.id,
    subject: event.subject,
    details,
  };
  // Always keyed: the migration put the boundary at the first event appended after it.
  const hash = eventHash(after.hash, fields, keys.chain);
  try {
    await repo.insertEvent(trx, { ...fields, details: detailsJson, prev_hash: after.hash, hash });
  } catch (error) {
    // The seq taken meanwhile, though the head's lock was held: the transaction runs again
    // (retryTransient) and reads the head anew, rather than failing the request.
    if ((error as { code?: string }).code === 'ER_DUP_ENTRY') throw new ConcurrentChange(`audit seq ${fields.seq} taken (connection ${head.connection})`);
    throw error;
  }
  if (texts.length > 0) {
    await repo.insertTexts(trx, texts.map(({ name, text, nonce, ref }) => ({ seq: fields.seq, name, ref, nonce, text })));
  }
  await repo.advanceHead(trx, fields.seq, hash);
  return { seq: fields.seq };
}

/**
 * An event in a transaction of its own, for what changes nothing else: a staff member viewing
 * or downloading something. Call it before answering, so nothing is handed out unrecorded.
 */
export async function recordAudit(db: Db, event: AuditEvent): Promise<{ seq: number }> {
  return retryTransient(() => db.transaction((trx) => appendAudit(trx, event)));
}

/** An event as people read it back. */
export interface RecordedEvent {
  seq: number;
  occurredAt: Date;
  action: string;
  actor: AuditEvent['actor'] & { name: string | null };
  /** Its details with its texts among them again: a text's value is null once it was erased. */
  details: Record<string, unknown>;
}

// MariaDB returns a JSON column as text, MySQL as a parsed value.
const parsedDetails = (value: unknown): Record<string, unknown> => (typeof value === 'string' ? JSON.parse(value) : value) as Record<string, unknown>;

/**
 * The towns an event belongs to, for its details: whose staff see it in a MyKey ID's history.
 * An event with none belongs to the identity as a whole and shows to its home town
 * (docs/security/tenancy.md). Part of the hashed details, so attribution cannot be edited unseen.
 */
export function towns(...codes: string[]): { municipalities: string[] } {
  return { municipalities: [...new Set(codes)].sort() };
}

export type { TownView, TextsToErase } from './repository.ts';

/**
 * The latest events about one subject, newest first: its history for a clerk. A staff actor
 * comes with the account's display name as it is now (the log itself holds ids only). With
 * `town`, only the events that town may see: its own and, for the home town, the identity's;
 * `exceptActions` leaves out events of those actions.
 */
export async function eventsAbout(conn: Db | Knex.Transaction, subject: string,
  { limit = 200, town, exceptActions = [] }: { limit?: number; town?: TownView; exceptActions?: string[] } = {}): Promise<RecordedEvent[]> {
  const rows = await repo.history(conn, subject, { limit, town, exceptActions });
  const texts = rows.length === 0 ? [] : await repo.textsOf(conn, rows.map((row) => row.seq));
  const textsOf = new Map<number, Record<string, string | null>>();
  for (const { seq, name, text } of texts) textsOf.set(Number(seq), { ...textsOf.get(Number(seq)), [name]: text });
  return rows.map((row) => {
    const { texts: refs, ...details } = parsedDetails(row.details);
    // A reference whose row is missing reads as erased; audit-verify names it.
    const resolved = refs ? Object.fromEntries(Object.keys(refs as object).map((name) => [name, textsOf.get(Number(row.seq))?.[name] ?? null])) : {};
    return {
      seq: Number(row.seq),
      occurredAt: row.occurred_at,
      action: row.action,
      actor: { kind: row.actor_kind as AuditEvent['actor']['kind'], id: row.actor_id, name: row.display_name ?? null },
      details: { ...details, ...resolved },
    };
  });
}

/** What staff did about a subject, as the one it is about reads it: never who, only their roles and town. */
export interface StaffEvent {
  seq: number;
  occurredAt: Date;
  action: string;
  /** The roles the staff member held when they did it (rolesAt). */
  roles: StaffRole[];
  /** The town of the account's organization (a shop's town for a shop's staff). */
  municipalityCode: string;
  /** Ids only, as recorded; free texts (a reason staff wrote) are left out. */
  details: Record<string, unknown>;
}

interface RolesChange { seq: number; from: StaffRole[]; to: StaffRole[] }

/**
 * The roles an account held at event `seq`, from the log's own record of its role changes: those
 * set by the last change before it; else, when it changed later, those the first later change
 * found; else the roles it holds now, which it has always held.
 */
function rolesAt(seq: number, changes: RolesChange[], now: StaffRole[]): StaffRole[] {
  const before = changes.filter((c) => c.seq < seq).at(-1);
  return before?.to ?? changes.find((c) => c.seq > seq)?.from ?? now;
}

/** A page of the events done by staff about `subject`, newest first, and how many there are in all. */
export async function staffEventsAbout(conn: Db | Knex.Transaction, subject: string, page: { limit: number; offset: number }): Promise<{ total: number; events: StaffEvent[] }> {
  const { total, rows } = await repo.staffEventsAbout(conn, subject, page);
  const changes = new Map<string, RolesChange[]>();
  for (const change of await repo.rolesChangesOf(conn, [...new Set(rows.map((row) => row.actor_id))])) {
    const { from, to } = parsedDetails(change.details) as { from: StaffRole[]; to: StaffRole[] };
    const staffId = change.subject.slice('staff:'.length);
    changes.set(staffId, [...changes.get(staffId) ?? [], { seq: Number(change.seq), from, to }]);
  }
  return {
    total,
    events: rows.map((row) => {
      const { texts: _texts, ...details } = parsedDetails(row.details);
      const roles = rolesAt(Number(row.seq), changes.get(row.actor_id) ?? [], row.roles.split(',') as StaffRole[]);
      return { seq: Number(row.seq), occurredAt: row.occurred_at, action: row.action, roles, municipalityCode: String(row.town), details };
    }),
  };
}

export interface ErasedText { seq: number; name: string; ref: string }

/** Nothing to erase: no such text, or it is erased already. */
export class TextNotErasable extends Error {
  constructor(readonly code: 'text_not_found' | 'text_already_erased', message: string) {
    super(message);
  }
}

/**
 * Erases free texts on a lawful request: the texts of the event at `seq` (or its text `name`
 * only), or the text with reference `ref`. Who asked and why is itself an event (TEXT_ERASED),
 * its own words kept as erasable texts; the chain is untouched, so audit-verify still passes.
 */
export async function eraseAuditTexts(db: Db, target: TextsToErase, request: { by: string; why: string }, now = new Date()): Promise<{ seq: number; erased: ErasedText[] }> {
  return db.transaction(async (trx) => {
    const rows = await repo.lockTexts(trx, target);
    if (rows.length === 0) throw new TextNotErasable('text_not_found', 'no free text of the audit log matches');
    const toErase = rows.filter((row) => row.erased_at === null);
    if (toErase.length === 0) throw new TextNotErasable('text_already_erased', 'the matching texts are erased already');
    const erased = toErase.map((row): ErasedText => ({ seq: Number(row.seq), name: row.name, ref: row.ref.toString('hex') }));
    const { seq } = await appendAudit(trx, {
      action: TEXT_ERASED, actor: { kind: 'system', id: 'operator' }, subject: `audit:${erased[0]!.seq}`,
      details: { erased }, texts: { by: request.by, why: request.why },
    });
    await repo.markTextsErased(trx, toErase.map((row) => row.ref), now, seq);
    return { seq, erased };
  });
}

/** The chain's head as exported outside the database (heads.ts). */
export interface ChainHead { seq: number; hash: Buffer; keyedFrom: number }

export async function chainHead(db: Db): Promise<ChainHead> {
  const head = await repo.head(db);
  if (!head) throw new Error('audit_head has no row: the audit migration did not run');
  return { seq: Number(head.last_seq), hash: head.last_hash, keyedFrom: Number(head.keyed_from) };
}

/** A head as written to the export file: what the database must still agree with. */
export interface ExportedHead { at: string; seq: number; hash: string; keyedFrom: number }

/** Events in seq order a page at a time, with their texts (keyset pagination: a million rows are never held at once). */
async function* pagesInOrder(trx: Knex.Transaction): AsyncGenerator<{ events: EventRow[]; texts: TextRow[] }> {
  for (let after = -1; ;) {
    const events = await repo.eventsAfter(trx, after, BATCH);
    if (events.length === 0) return;
    const texts = await repo.textsBetween(trx, events[0]!.seq, events.at(-1)!.seq);
    yield { events, texts };
    if (events.length < BATCH) return;
    after = events.at(-1)!.seq;
  }
}

/** Why this row does not continue the chain after `prevHash`, or undefined when it does. */
function brokenLink(row: EventRow, details: unknown, prevHash: Buffer, chainKey: Buffer | undefined): string | undefined {
  if (!row.prev_hash.equals(prevHash)) return `prev_hash does not match the hash of seq ${row.seq - 1}`;
  if (!(row.occurred_at instanceof Date) || Number.isNaN(row.occurred_at.getTime())) return 'occurred_at is not a valid time';
  const { seq, occurred_at, action, actor_kind, actor_id, subject } = row;
  const hash = eventHash(prevHash, { seq, occurred_at, action, actor_kind, actor_id, subject, details }, chainKey);
  return hash.equals(row.hash) ? undefined : 'hash does not match the event\'s contents';
}

/** An erased text waits for the later event that erased it. */
interface PendingErasure { seq: number; name: string; ref: string }

/** Why the texts an event refers to are not as it recorded them, or undefined when they are. */
function brokenTexts(seq: number, refs: unknown, rows: TextRow[], textKey: Buffer, pending: Map<number, PendingErasure[]>): string | undefined {
  if (refs === undefined) return undefined;
  if (typeof refs !== 'object' || refs === null) return 'details.texts is not an object';
  for (const [name, ref] of Object.entries(refs)) {
    const row = rows.find((r) => Number(r.seq) === seq && r.name === name);
    if (!row || row.ref.toString('hex') !== ref) return `its text "${name}" is missing`;
    if (row.erased_at === null) {
      if (row.text === null || row.nonce === null || !textRef(textKey, row.nonce, row.text).equals(row.ref)) return `its text "${name}" does not match its hash`;
    } else {
      const by = Number(row.erased_seq);
      if (!(by > seq)) return `its text "${name}" is erased without a later erasure event`;
      pending.set(by, [...pending.get(by) ?? [], { seq, name, ref: ref as string }]);
    }
  }
  return undefined;
}

/** The erasures this row had to record, if it did not. */
function unrecordedErasure(row: EventRow, details: unknown, waiting: PendingErasure[]): PendingErasure | undefined {
  const erased = row.action === TEXT_ERASED ? (details as { erased?: unknown }).erased : undefined;
  const recorded = Array.isArray(erased) ? erased as PendingErasure[] : [];
  return waiting.find((w) => !recorded.some((e) => e.seq === w.seq && e.name === w.name && e.ref === w.ref));
}

type Broken = { ok: false; events: number; firstBroken: { seq: number; reason: string } };

export type ChainVerdict = { ok: true; events: number; keyedFrom: number; heads: number } | Broken;

/**
 * Walks the whole chain in seq order, recomputing every hash with the key, and names the first
 * broken link: a missing or unexpected seq, a prev_hash or hash that does not match, a text
 * that does not match its reference or was erased without an erasure event, a head that
 * disagrees with the last event, or an exported head (`heads`, from outside the database)
 * that the chain no longer reaches or agrees with. `events` counts the intact events before
 * the first break (firstBroken.seq - 1). One consistent snapshot, so appends running meanwhile
 * are neither half-seen nor reported as breaks.
 */
export async function verifyAuditChain(db: Db, { keys = auditKeys(), heads = [] }: { keys?: AuditKeys; heads?: ExportedHead[] } = {}): Promise<ChainVerdict> {
  return db.transaction(async (trx) => {
    const head = await repo.head(trx);
    const broken = (seq: number, reason: string): Broken => ({ ok: false, events: seq - 1, firstBroken: { seq, reason } });
    // The boundary exported outside the database is the one to trust: a different one in the
    // database (moved to pass off a re-hashed tail as written before the upgrade) makes
    // everything from the earlier of the two suspect.
    const inDb = Number(head?.keyed_from ?? 1);
    const keyedFrom = heads[0]?.keyedFrom ?? inDb;
    const otherBoundary = [{ keyedFrom: inDb, where: 'the database keys' }, ...heads.map((h) => ({ keyedFrom: h.keyedFrom, where: `the head exported at ${h.at} keys` }))]
      .find((b) => b.keyedFrom !== keyedFrom);
    const boundary = otherBoundary && broken(Math.min(otherBoundary.keyedFrom, keyedFrom),
      `${otherBoundary.where} the chain from seq ${otherBoundary.keyedFrom}, but the head exported at ${heads[0]!.at} from seq ${keyedFrom}`);
    const exportedAt = new Map<number, ExportedHead[]>();
    for (const exported of heads) exportedAt.set(exported.seq, [...exportedAt.get(exported.seq) ?? [], exported]);
    const pending = new Map<number, PendingErasure[]>();
    let events = 0;
    let prevHash: Buffer = ZERO_HASH;
    for await (const page of pagesInOrder(trx)) {
      for (const row of page.events) {
        const expected = events + 1;
        if (boundary && expected >= boundary.firstBroken.seq) return boundary;
        if (row.seq > expected) return broken(expected, `seq ${expected} is missing (the next event is seq ${row.seq})`);
        if (row.seq < expected) return broken(expected, `an event with seq ${row.seq} stands before seq ${expected}`);
        let details: { texts?: unknown } | null;
        try {
          details = parsedDetails(row.details);
        } catch {
          return broken(row.seq, 'details is not valid JSON');
        }
        const reason = brokenLink(row, details, prevHash, row.seq >= keyedFrom ? keys.chain : undefined)
          ?? brokenTexts(row.seq, details?.texts, page.texts, keys.text, pending);
        if (reason) return broken(row.seq, reason);
        const unrecorded = unrecordedErasure(row, details, pending.get(row.seq) ?? []);
        if (unrecorded) return broken(unrecorded.seq, `its text "${unrecorded.name}" is erased, but seq ${row.seq} does not record the erasure`);
        pending.delete(row.seq);
        const differing = exportedAt.get(row.seq)?.find((exported) => exported.hash !== row.hash.toString('hex'));
        if (differing) return broken(row.seq, `hash differs from the head exported at ${differing.at}`);
        prevHash = row.hash;
        events++;
      }
    }
    const [firstPending] = [...pending.values()].flat().sort((a, b) => a.seq - b.seq);
    const beyond = heads.filter((exported) => exported.seq > events).sort((a, b) => b.seq - a.seq)[0];
    const [first] = [
      boundary,
      firstPending && broken(firstPending.seq, `its text "${firstPending.name}" is erased without a later erasure event`),
      beyond && broken(events + 1, `the log ends at seq ${events}, but the head exported at ${beyond.at} records seq ${beyond.seq}`),
    ].filter((verdict) => verdict !== undefined).sort((a, b) => a.firstBroken.seq - b.firstBroken.seq);
    if (first) return first;
    if (!head) return broken(events + 1, 'the audit head row is missing');
    const lastSeq = Number(head.last_seq);
    if (lastSeq > events) return broken(events + 1, `the head records ${lastSeq} events but the log ends at seq ${events}`);
    if (lastSeq < events) return broken(lastSeq + 1, `the log goes on past the head, which records ${lastSeq} events`);
    if (!head.last_hash.equals(prevHash)) return broken(events, `the head's hash differs from the hash of seq ${events}`);
    return { ok: true, events, keyedFrom, heads: heads.length };
  }, { isolationLevel: 'repeatable read' });
}
