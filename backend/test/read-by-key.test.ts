// readByKey (db.ts): reads by key asked at the same moment on the pool go to MySQL as one
// statement, each caller gets its own row (or nothing), and a read in a transaction runs alone.
import test from 'ava';
import type { Knex } from 'knex';
import { fileFixture, testDatabase } from './helpers/env.ts';
import { readByKey } from '../src/db.ts';

const fixture = fileFixture(test, async (cleanup) => {
  const { db } = await testDatabase(cleanup);
  await db.schema.createTable('things', (t) => { t.integer('id').primary(); t.string('name', 32); });
  await db('things').insert(Array.from({ length: 20 }, (_, i) => ({ id: i + 1, name: `thing ${i + 1}` })));
  return { db };
});

/** A read of things by id that records the keys of each statement it sends. */
function thingsReader(statements: number[][]) {
  return readByKey(async (conn, ids: readonly number[]) => {
    statements.push([...ids]);
    const rows: Array<{ id: number; name: string }> = await conn('things').whereIn('id', ids).select('id', 'name');
    return new Map(rows.map((row) => [String(row.id), row.name]));
  }, String);
}

test('reads asked together are one statement; each gets its own row, an unknown key nothing', async (t) => {
  const { db } = await fixture();
  const statements: number[][] = [];
  const thing = thingsReader(statements);
  const names = await Promise.all([3, 1, 20, 99, 3].map((id) => thing(db, id)));
  t.deepEqual(names, ['thing 3', 'thing 1', 'thing 20', undefined, 'thing 3']);
  t.deepEqual(statements, [[3, 1, 20, 99, 3]]);
  // Nothing is kept between reads: a change is seen by the next one.
  await db('things').where({ id: 3 }).update({ name: 'renamed' });
  t.is(await thing(db, 3), 'renamed');
  t.is(statements.length, 2);
});

test('a read alone waits for no timer and no other read: reads one after the other are a statement each', async (t) => {
  const { db } = await fixture();
  const statements: number[][] = [];
  const thing = thingsReader(statements);
  t.is(await thing(db, 5), 'thing 5');
  t.is(await thing(db, 6), 'thing 6');
  t.deepEqual(statements, [[5], [6]]);
});

test('in a transaction a read runs alone and sees what the transaction wrote', async (t) => {
  const { db } = await fixture();
  const statements: number[][] = [];
  const thing = thingsReader(statements);
  await db.transaction(async (trx: Knex.Transaction) => {
    await trx('things').where({ id: 7 }).update({ name: 'changed in the transaction' });
    t.deepEqual(await Promise.all([thing(trx, 7), thing(trx, 8)]), ['changed in the transaction', 'thing 8']);
  });
  t.deepEqual(statements, [[7], [8]]);
});

test('a failed statement fails every read that was in it, and the next reads work', async (t) => {
  const { db } = await fixture();
  let fail = true;
  const thing = readByKey(async (conn, ids: readonly number[]) => {
    if (fail) throw new Error('the database went away');
    const rows: Array<{ id: number; name: string }> = await conn('things').whereIn('id', ids).select('id', 'name');
    return new Map(rows.map((row) => [String(row.id), row.name]));
  }, String);
  const failed = await Promise.allSettled([thing(db, 1), thing(db, 2)]);
  t.deepEqual(failed.map((r) => r.status), ['rejected', 'rejected']);
  fail = false;
  t.is(await thing(db, 2), 'thing 2');
});
