// The audit log: every issuance, relink, suspension, device enrollment and revocation is
// appended to audit_events in the same transaction as the change, and each event's hash
// covers the one before it, so an edited, removed or reordered event shows.
//
// hash(seq) = SHA-256( prev_hash ‖ UTF-8( canonicalJson({
//               action, actor_id, actor_kind, details, occurred_at, seq, subject }) ) )
// with occurred_at as ISO 8601 UTC with milliseconds (2026-11-22T01:02:03.004Z), seq a JSON
// number, and prev_hash the hash of seq - 1 (32 zero bytes for seq 1). canonicalJson is JSON
// with no spaces and object keys sorted by UTF-16 code units at every depth.
import { createHash } from 'node:crypto';
import type { Knex } from 'knex';
import type { Db } from '../db.ts';

export interface AuditEvent {
  /** What happened, e.g. `mykey.issued`, `device.revoked`. */
  action: string;
  actor: { kind: 'staff' | 'device' | 'resident' | 'system' | 'partner'; id: string };
  /** What it happened to, e.g. a MyKey ID or `device:12`. */
  subject: string;
  /** Ids and keyed hashes only: never a name, a certificate or a serial number. JSON values only. */
  details?: Record<string, unknown>;
}

const ZERO_HASH = Buffer.alloc(32);
const MAX_TEXT = 64; // the VARCHAR(64) columns
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

interface HashedFields {
  seq: number;
  occurred_at: Date;
  action: string;
  actor_kind: string;
  actor_id: string;
  subject: string;
  details: unknown;
}

function eventHash(prevHash: Buffer, fields: HashedFields): Buffer {
  const body = canonicalJson({ ...fields, occurred_at: fields.occurred_at.toISOString() });
  return createHash('sha256').update(prevHash).update(body, 'utf8').digest();
}

// A text that the database would truncate or re-encode would no longer match its hash.
function checkText(name: string, value: string): void {
  const length = [...value].length;
  if (length === 0 || length > MAX_TEXT || /\p{Cs}/u.test(value)) {
    throw new TypeError(`audit ${name} must be 1 to ${MAX_TEXT} characters of well-formed text`);
  }
}

/**
 * Appends an event in the caller's transaction: it commits or rolls back with the change it
 * records. Holds the audit head's row lock until the transaction ends, so call it as the last
 * write of the transaction to keep other appenders waiting as briefly as possible.
 */
export async function appendAudit(trx: Knex.Transaction, event: AuditEvent): Promise<{ seq: number }> {
  checkText('action', event.action);
  checkText('actor id', event.actor.id);
  checkText('subject', event.subject);
  const details = event.details ?? {};
  const detailsJson = canonicalJson(details);
  const head = await trx('audit_head').where({ id: 1 }).forUpdate().first('last_seq', 'last_hash');
  if (!head) throw new Error('audit_head has no row: the audit migration did not run');
  const fields: HashedFields = {
    seq: Number(head.last_seq) + 1,
    // Taken under the lock, so times never go backwards along the chain (on one clock).
    occurred_at: new Date(),
    action: event.action,
    actor_kind: event.actor.kind,
    actor_id: event.actor.id,
    subject: event.subject,
    details,
  };
  const hash = eventHash(head.last_hash, fields);
  await trx('audit_events').insert({ ...fields, details: detailsJson, prev_hash: head.last_hash, hash });
  await trx('audit_head').where({ id: 1 }).update({ last_seq: fields.seq, last_hash: hash });
  return { seq: fields.seq };
}

/** An event as people read it back. */
export interface RecordedEvent {
  seq: number;
  occurredAt: Date;
  action: string;
  actor: AuditEvent['actor'] & { name: string | null };
  details: Record<string, unknown>;
}

/**
 * The latest events about one subject, newest first: its history for a clerk. A staff actor
 * comes with the account's display name as it is now (the log itself holds ids only).
 */
export async function eventsAbout(conn: Db | Knex.Transaction, subject: string, limit = 200): Promise<RecordedEvent[]> {
  const rows = await conn('audit_events as e')
    .leftJoin('staff_accounts as s', function staffActor() {
      this.on('e.actor_kind', '=', conn.raw('?', ['staff'])).andOn('s.id', '=', 'e.actor_id');
    })
    .where('e.subject', subject).orderBy('e.seq', 'desc').limit(limit)
    .select('e.seq', 'e.occurred_at', 'e.action', 'e.actor_kind', 'e.actor_id', 'e.details', 's.display_name');
  return rows.map((row) => ({
    seq: Number(row.seq),
    occurredAt: row.occurred_at,
    action: row.action,
    actor: { kind: row.actor_kind, id: row.actor_id, name: row.display_name ?? null },
    // Text or already parsed, depending on the server and the driver.
    details: typeof row.details === 'string' ? JSON.parse(row.details) : row.details,
  }));
}

interface EventRow extends HashedFields { prev_hash: Buffer; hash: Buffer }

/** Events in seq order, a page at a time (keyset pagination: a million rows are never held at once). */
async function* eventsInOrder(trx: Knex.Transaction): AsyncGenerator<EventRow> {
  for (let after = -1; ;) {
    const rows: EventRow[] = await trx('audit_events').where('seq', '>', after).orderBy('seq').limit(BATCH);
    yield* rows;
    if (rows.length < BATCH) return;
    after = rows.at(-1)!.seq;
  }
}

/** Why this row does not continue the chain after `prevHash`, or undefined when it does. */
function brokenLink(row: EventRow, prevHash: Buffer): string | undefined {
  if (!row.prev_hash.equals(prevHash)) return `prev_hash does not match the hash of seq ${row.seq - 1}`;
  let details: unknown;
  try {
    // MariaDB returns a JSON column as text, MySQL as a parsed value.
    details = typeof row.details === 'string' ? JSON.parse(row.details) : row.details;
  } catch {
    return 'details is not valid JSON';
  }
  if (!(row.occurred_at instanceof Date) || Number.isNaN(row.occurred_at.getTime())) return 'occurred_at is not a valid time';
  const { seq, occurred_at, action, actor_kind, actor_id, subject } = row;
  const hash = eventHash(prevHash, { seq, occurred_at, action, actor_kind, actor_id, subject, details });
  return hash.equals(row.hash) ? undefined : 'hash does not match the event\'s contents';
}

export type ChainVerdict =
  | { ok: true; events: number }
  | { ok: false; events: number; firstBroken: { seq: number; reason: string } };

/**
 * Walks the whole chain in seq order and names the first broken link: a missing or unexpected
 * seq, a prev_hash or hash that does not match, or a head that disagrees with the last event.
 * `events` counts the intact events before the first break (firstBroken.seq - 1). One consistent snapshot,
 * so appends running meanwhile are neither half-seen nor reported as breaks.
 */
export async function verifyAuditChain(db: Db): Promise<ChainVerdict> {
  return db.transaction(async (trx) => {
    const head: { last_seq: number; last_hash: Buffer } | undefined = await trx('audit_head').where({ id: 1 }).first('last_seq', 'last_hash');
    let events = 0;
    let prevHash: Buffer = ZERO_HASH;
    const broken = (seq: number, reason: string): ChainVerdict => ({ ok: false, events: seq - 1, firstBroken: { seq, reason } });
    for await (const row of eventsInOrder(trx)) {
      const expected = events + 1;
      if (row.seq > expected) return broken(expected, `seq ${expected} is missing (the next event is seq ${row.seq})`);
      if (row.seq < expected) return broken(expected, `an event with seq ${row.seq} stands before seq ${expected}`);
      const reason = brokenLink(row, prevHash);
      if (reason) return broken(row.seq, reason);
      prevHash = row.hash;
      events++;
    }
    if (!head) return broken(events + 1, 'the audit head row is missing');
    const lastSeq = Number(head.last_seq);
    if (lastSeq > events) return broken(events + 1, `the head records ${lastSeq} events but the log ends at seq ${events}`);
    if (lastSeq < events) return broken(lastSeq + 1, `the log goes on past the head, which records ${lastSeq} events`);
    if (!head.last_hash.equals(prevHash)) return broken(events, `the head's hash differs from the hash of seq ${events}`);
    return { ok: true, events };
  }, { isolationLevel: 'repeatable read' });
}
