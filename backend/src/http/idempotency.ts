// Every mutating call carries a client-chosen Idempotency-Key. The effect and its stored
// answer commit in one transaction, so a crash leaves neither, a retry after success gets
// the first answer, and two concurrent copies of one request meet at the primary key: the
// second waits for the first's commit, then replays its answer.
import { createHash } from 'node:crypto';
import type { Context } from 'koa';
import type { Knex } from 'knex';
import type { Db } from '../db.ts';
import { Problem } from './problems.ts';
import { idempotencyRepository } from './repository.ts';

const KEY = /^[A-Za-z0-9_.:-]{8,128}$/;
const DUPLICATE_KEY = 'ER_DUP_ENTRY';

export interface IdempotentCall { scope: string; key: string; request: unknown }
export interface Answer { status: number; body: unknown }

/** The request's Idempotency-Key header; a mutating call without a usable one is refused. */
export function idempotencyKey(ctx: Context): string {
  const key = ctx.get('Idempotency-Key');
  if (!key) throw new Problem('idempotency_key_required');
  if (!KEY.test(key)) throw new Problem('idempotency_key_required', 'Idempotency-Key must be 8 to 128 characters of A-Z a-z 0-9 _ . : -');
  return key;
}

function requestHash(request: unknown): Buffer {
  return createHash('sha256').update(JSON.stringify(request) ?? '').digest();
}

async function storedAnswer(db: Db, call: IdempotentCall): Promise<Answer & { replayed: true }> {
  const row = await idempotencyRepository.find(db, call);
  if (!row) throw new Error('idempotency key vanished after a duplicate-key error');
  if (!Buffer.from(row.request_hash).equals(requestHash(call.request))) {
    throw new Problem('idempotency_key_reused');
  }
  const body = typeof row.response === 'string' ? JSON.parse(row.response) : row.response;
  return { status: row.status_code, body, replayed: true };
}

/**
 * Runs `effect` at most once per (scope, key). A thrown error rolls the effect back and
 * stores nothing, so the same key may be retried; only answers that happened are kept.
 */
export async function runIdempotent(db: Db, call: IdempotentCall, effect: (trx: Knex.Transaction) => Promise<Answer>): Promise<Answer & { replayed: boolean }> {
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

/** Sends an answer, marking replays so clients and logs can tell. */
export function respond(ctx: Context, answer: Answer & { replayed: boolean }): void {
  ctx.status = answer.status;
  ctx.body = answer.body;
  if (answer.replayed) ctx.set('Idempotent-Replayed', 'true');
}
