// Every mutating call carries a client-chosen Idempotency-Key. The effect and its stored
// answer commit in one transaction, so a crash leaves neither, a retry after success gets
// the first answer, and two concurrent copies of one request meet at the primary key: the
// second waits for the first's commit, then replays its answer.
import { createHash } from 'node:crypto';
import type { Context } from 'koa';
import type { Knex } from 'knex';
import { z } from 'zod';
import { retryTransient, type Db } from '../db.ts';
import { Problem } from './problems.ts';
import { idempotencyRepository } from './repository.ts';
import { routeDescription } from './described.ts';

const KEY = /^[A-Za-z0-9_.:-]{8,128}$/;

/** The header as the API's document shows it. */
export const IDEMPOTENCY_KEY = z.string().regex(KEY).meta({
  description: 'Chosen by the client, new for each operation and the same for its retries: a retry gets the first answer, never a second effect.',
  example: '2f1c9a4e-grant-0001',
});
const DUPLICATE_KEY = 'ER_DUP_ENTRY';

export interface IdempotentCall { scope: string; key: string; request: unknown }
export interface Answer { status: number; body: unknown }

/** The request's Idempotency-Key header; a mutating call without a usable one is refused. */
export function idempotencyKey(ctx: Context): string {
  // The API's document shows the header only on routes whose description says so.
  if (!routeDescription(ctx).idempotent) throw new Error(`${ctx.method} ${ctx.path} reads an Idempotency-Key its description does not declare (idempotent: true)`);
  const key = ctx.get('Idempotency-Key');
  if (!key) throw new Problem('idempotency_key_required');
  if (!KEY.test(key)) throw new Problem('idempotency_key_required', 'Idempotency-Key must be 8 to 128 characters of A-Z a-z 0-9 _ . : -');
  return key;
}

function requestHash(request: unknown): Buffer {
  return createHash('sha256').update(JSON.stringify(request) ?? '').digest();
}

/**
 * The stored answer, sent again. InnoDB shows a commit to other sessions before its redo is on
 * disk, so a replay read by a session that wrote nothing could acknowledge what a crash of the
 * database then loses. The replay is counted first, in the same transaction: its commit flushes
 * the log past the first call's commit (docs/architecture.md#a-replay-is-answered-only-once-durable).
 */
async function storedAnswer(db: Db, call: IdempotentCall): Promise<Answer & { replayed: true }> {
  const row = await db.transaction(async (trx) => {
    await idempotencyRepository.countReplay(trx, call);
    return idempotencyRepository.find(trx, call);
  });
  if (!row) throw new Error('idempotency key vanished after a duplicate-key error');
  if (!Buffer.from(row.request_hash).equals(requestHash(call.request))) {
    throw new Problem('idempotency_key_reused');
  }
  const body = typeof row.response === 'string' ? JSON.parse(row.response) : row.response;
  return { status: row.status_code, body, replayed: true };
}

/**
 * Runs `effect` at most once per (scope, key). A thrown error rolls the effect back and
 * stores nothing, so the same key may be retried; only answers that happened are kept. A
 * transient failure (a deadlock; on a Galera cluster, a transaction that lost certification at
 * commit to one committed on another node, as every two audited changes at once do) is retried
 * here, as the client would retry it with the same key, so no caller answers it with a 500.
 */
export function runIdempotent(db: Db, call: IdempotentCall, effect: (trx: Knex.Transaction) => Promise<Answer>): Promise<Answer & { replayed: boolean }> {
  return retryTransient(() => runOnce(db, call, effect));
}

async function runOnce(db: Db, call: IdempotentCall, effect: (trx: Knex.Transaction) => Promise<Answer>): Promise<Answer & { replayed: boolean }> {
  const answer = await db.transaction(async (trx) => {
    if (!(await claim(trx, call))) return undefined;
    const fresh = await effect(trx);
    await idempotencyRepository.storeAnswer(trx, call, fresh.status, JSON.stringify(fresh.body ?? null));
    return fresh;
  });
  return answer ? { ...answer, replayed: false } : storedAnswer(db, call);
}

/** Claims the key; false if it is taken. A concurrent twin blocks here until the owner's transaction ends. */
async function claim(trx: Knex.Transaction, call: IdempotentCall): Promise<boolean> {
  try {
    await idempotencyRepository.claim(trx, call, requestHash(call.request));
    return true;
  } catch (error) {
    // Only this insert's duplicate means "answered before"; the effect's own duplicates are its business.
    if ((error as { code?: string }).code === DUPLICATE_KEY) return false;
    throw error;
  }
}

/** A call whose answer and rows were decided by reads before any transaction: it commits them, nothing else. */
export interface PlannedCall<Rows> extends IdempotentCall { answer: Answer; rows: Rows }

interface Waiting<Rows> { call: PlannedCall<Rows>; committed: (done: boolean) => void }

/**
 * Group commit for planned calls (a tap's use row): the calls that arrive while one group commits
 * go together in the next transaction, their keys claimed with their answers in one insert and
 * their rows in another, so 32 counters at once cost a few statements between them instead of
 * several each. Nothing waits for a timer: an idle committer commits a lone call at once.
 *
 * `commit` resolves true when the call's answer and rows committed. False when its group could
 * not commit (a key answered before, a twin in the same group, a row named gone meanwhile, a
 * deadlock): nothing of the group is stored, and the caller runs the call alone through
 * runIdempotent, which replays, refuses or runs it as for any call.
 */
export function groupCommitter<Rows>(db: Db, insertRows: (trx: Knex.Transaction, rows: Rows[]) => Promise<void>, onGroupFailed: (error: unknown, calls: number) => void, maxGroup = 256) {
  let waiting: Array<Waiting<Rows>> = [];
  let committing = false;

  async function commitGroup(): Promise<void> {
    if (committing || waiting.length === 0) return;
    committing = true;
    const group = waiting.slice(0, maxGroup);
    waiting = waiting.slice(maxGroup);
    let done = true;
    try {
      await db.transaction(async (trx) => {
        await idempotencyRepository.insertAnswered(trx, group.map(({ call }) => ({
          scope: call.scope, key: call.key, requestHash: requestHash(call.request), status: call.answer.status, responseJson: JSON.stringify(call.answer.body ?? null),
        })));
        await insertRows(trx, group.map(({ call }) => call.rows));
      });
    } catch (error) {
      done = false;
      onGroupFailed(error, group.length);
    }
    for (const { committed } of group) committed(done);
    committing = false;
    void commitGroup();
  }

  return {
    commit(call: PlannedCall<Rows>): Promise<boolean> {
      return new Promise((committed) => {
        waiting.push({ call, committed });
        void commitGroup();
      });
    },
  };
}

export type GroupCommitter<Rows> = ReturnType<typeof groupCommitter<Rows>>;

/** Sends an answer, marking replays so clients and logs can tell. */
export function respond(ctx: Context, answer: Answer & { replayed: boolean }): void {
  ctx.status = answer.status;
  ctx.body = answer.body;
  if (answer.replayed) ctx.set('Idempotent-Replayed', 'true');
}
