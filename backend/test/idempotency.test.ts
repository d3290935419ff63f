import test from 'ava';
import type { Knex } from 'knex';
import { fileFixture, testDatabase } from './helpers/env.ts';
import { groupCommitter, runIdempotent, type PlannedCall } from '../src/http/idempotency.ts';
import { Problem } from '../src/http/problems.ts';

const fixture = fileFixture(test, async (cleanup) => {
  const { db } = await testDatabase(cleanup);
  await db.schema.createTable('effects', (t) => { t.increments('id'); t.string('what', 32); });
  return { db };
});

/** An effect that leaves a row behind, so a test can count how often it really ran. */
function effect(what: string) {
  return async (trx: import('knex').Knex.Transaction) => {
    const [id] = await trx('effects').insert({ what });
    return { status: 201, body: { id, what } };
  };
}

async function ran(what: string): Promise<number> {
  const { db } = await fixture();
  return Number((await db('effects').where({ what }).count({ n: '*' }))[0]!.n);
}

test('a retry with the same key and request replays the first answer; the effect ran once', async (t) => {
  const { db } = await fixture();
  const call = { scope: 'staff:1', key: 'retry-key-0001', request: { amount: 5 } };
  const first = await runIdempotent(db, call, effect('retry'));
  const second = await runIdempotent(db, call, effect('retry'));
  t.like(first, { status: 201, replayed: false });
  t.deepEqual(second, { ...first, replayed: true });
  t.is(await ran('retry'), 1);
  // The count is the write that holds a replay back until the first answer is on disk (docs/architecture.md#a-replay-is-answered-only-once-durable).
  await runIdempotent(db, call, effect('retry'));
  t.is((await db('idempotency_keys').where({ scope: call.scope, idempotency_key: call.key }).first('replays')).replays, 2);
});

test('the same key with a different request is refused with idempotency_key_reused', async (t) => {
  const { db } = await fixture();
  await runIdempotent(db, { scope: 'staff:1', key: 'changed-key-01', request: { amount: 5 } }, effect('changed'));
  const error = await t.throwsAsync(runIdempotent(db, { scope: 'staff:1', key: 'changed-key-01', request: { amount: 6 } }, effect('changed')));
  t.is((error as Problem).code, 'idempotency_key_reused');
  t.is(await ran('changed'), 1);
});

test('keys belong to their caller: another scope with the same key is a call of its own', async (t) => {
  const { db } = await fixture();
  await runIdempotent(db, { scope: 'device:1', key: 'shared-key-001', request: {} }, effect('scoped'));
  const other = await runIdempotent(db, { scope: 'device:2', key: 'shared-key-001', request: {} }, effect('scoped'));
  t.false(other.replayed);
  t.is(await ran('scoped'), 2);
});

test('an effect that fails stores nothing, so the same key can be tried again', async (t) => {
  const { db } = await fixture();
  const call = { scope: 'staff:1', key: 'failing-key-01', request: {} };
  await t.throwsAsync(runIdempotent(db, call, async (trx) => {
    await effect('failing')(trx);
    throw new Problem('request_invalid');
  }));
  t.is(await ran('failing'), 0, 'the effect was rolled back with the key');
  t.false((await runIdempotent(db, call, effect('failing'))).replayed);
  t.is(await ran('failing'), 1);
});

test('twenty concurrent copies of one request: one effect, twenty identical answers', async (t) => {
  const { db } = await fixture();
  const call = { scope: 'device:9', key: 'concurrent-key', request: { n: 1 } };
  const answers = await Promise.all(Array.from({ length: 20 }, () => runIdempotent(db, call, effect('concurrent'))));
  t.is(await ran('concurrent'), 1);
  t.is(answers.filter((a) => !a.replayed).length, 1);
  t.true(answers.every((a) => JSON.stringify(a.body) === JSON.stringify(answers[0]!.body)));
});

test("a duplicate-key error of the effect's own is the effect's failure, not a replay", async (t) => {
  const { db } = await fixture();
  const error = await t.throwsAsync(runIdempotent(db, { scope: 'staff:1', key: 'effect-dup-001', request: {} }, async (trx) => {
    await trx('effects').insert({ id: 1_000_000, what: 'dup' });
    await trx('effects').insert({ id: 1_000_000, what: 'dup' });
    return { status: 201, body: {} };
  }));
  t.is((error as { code?: string }).code, 'ER_DUP_ENTRY');
  t.is(await ran('dup'), 0);
});

/** A committer of `effects` rows that notes the size of each group it inserts. */
function effectsCommitter(db: Knex, groups: number[], fail?: () => boolean) {
  return groupCommitter<string>(db, async (trx, rows) => {
    groups.push(rows.length);
    if (fail?.()) throw new Error('a row could not be inserted');
    await trx('effects').insert(rows.map((what) => ({ what })));
  }, () => {});
}

const planned = (key: string, what: string): PlannedCall<string> => ({ scope: 'device:7', key, request: { what }, answer: { status: 201, body: { what } }, rows: what });

test('planned calls at once commit in groups: the first alone at once, those that came meanwhile together; each key holds its answer', async (t) => {
  const { db } = await fixture();
  const groups: number[] = [];
  const committer = effectsCommitter(db, groups);
  const done = await Promise.all(Array.from({ length: 10 }, (_, i) => committer.commit(planned(`group-key-${i}`, 'grouped'))));
  t.deepEqual(done, Array(10).fill(true));
  t.deepEqual(groups, [1, 9], 'an idle committer does not wait; the nine that came during its commit went in one transaction');
  t.is(await ran('grouped'), 10);
  const replay = await runIdempotent(db, { scope: 'device:7', key: 'group-key-4', request: { what: 'grouped' } }, effect('grouped'));
  t.deepEqual(replay, { status: 201, body: { what: 'grouped' }, replayed: true }, 'a retry replays the answer committed with the group');
});

test('a group with a key answered before, or twins, or a failing insert commits nothing, and says so to every call in it', async (t) => {
  const { db } = await fixture();
  const groups: number[] = [];
  const committer = effectsCommitter(db, groups);
  t.true(await committer.commit(planned('answered-before', 'first')));
  // The first of these commits alone; the rest form one group holding the answered key.
  const calls = [planned('lone-call', 'lone'), planned('fresh-1', 'doomed'), planned('answered-before', 'doomed'), planned('fresh-2', 'doomed')];
  t.deepEqual(await Promise.all(calls.map((call) => committer.commit(call))), [true, false, false, false]);
  const twins = [planned('lone-call-2', 'lone'), planned('twin', 'twin'), planned('twin', 'twin')];
  t.deepEqual(await Promise.all(twins.map((call) => committer.commit(call))), [true, false, false]);
  t.is(await ran('doomed'), 0, 'nothing of the group with the answered key');
  t.is(await ran('twin'), 0);
  t.is(await db('idempotency_keys').where({ scope: 'device:7' }).whereIn('idempotency_key', ['fresh-1', 'fresh-2', 'twin']).count({ n: '*' }).then((r) => Number(r[0]!.n)), 0);
  const flaky = effectsCommitter(db, [], () => true);
  t.false(await flaky.commit(planned('insert-fails', 'failed')));
  t.is(await db('idempotency_keys').where({ scope: 'device:7', idempotency_key: 'insert-fails' }).count({ n: '*' }).then((r) => Number(r[0]!.n)), 0, 'the key is free for the call to run alone');
});
