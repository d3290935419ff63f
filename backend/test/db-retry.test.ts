// retryTransient: what runs again, how often, and what does not; and a table MariaDB cached broken.
import { readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import test from 'ava';
import mysql from 'mysql2/promise';
import { ConcurrentChange, retryTransient } from '../src/db.ts';
import { testDatabase } from './helpers/env.ts';

const deadlock = () => Object.assign(new Error('Deadlock found when trying to get lock'), { code: 'ER_LOCK_DEADLOCK' });

/** Work that fails `failures` times with `error`, then answers; counts its calls. */
function failing(failures: number, error: () => Error) {
  const work = async () => {
    work.calls += 1;
    if (work.calls <= failures) throw error();
    return 'done';
  };
  work.calls = 0;
  return work;
}

test('a deadlock, a lost certification or a concurrent change is run again, up to six times in all', async (t) => {
  for (const error of [deadlock, () => new ConcurrentChange('changed meanwhile')]) {
    const five = failing(5, error);
    t.is(await retryTransient(five), 'done');
    t.is(five.calls, 6);
    const six = failing(6, error);
    await t.throwsAsync(retryTransient(six));
    t.is(six.calls, 6, 'the sixth failure is the answer');
  }
});

test('any other failure is the answer at once', async (t) => {
  const work = failing(1, () => Object.assign(new Error('Duplicate entry'), { code: 'ER_DUP_ENTRY' }));
  await t.throwsAsync(retryTransient(work), { message: 'Duplicate entry' });
  t.is(work.calls, 1);
});

// The state a Galera node was found in under load (CI): a table instance in MariaDB's table cache
// whose triggers were not loaded, the .TRG file intact. Made here by having MariaDB open the table
// while its .TRG file holds an empty trigger, then putting the file back: the cached instances
// stay broken until the table is reopened.
test('a table cached with its triggers not loaded is reopened, and the transaction that met it runs again', async (t) => {
  const { db, url, name } = await testDatabase((fn) => t.teardown(fn), { migrate: false });
  await db.raw('CREATE TABLE kept (id INT AUTO_INCREMENT PRIMARY KEY, v INT)');
  await db.raw("CREATE TRIGGER kept_refuse_update BEFORE UPDATE ON kept FOR EACH ROW SIGNAL SQLSTATE '45000' SET MESSAGE_TEXT = 'kept is append-only'");
  const [[{ datadir }]] = await db.raw('SELECT @@datadir AS datadir');
  const file = path.join(datadir, name, 'kept.TRG');
  const intact = readFileSync(file, 'utf8');
  const connections = await Promise.all(Array.from({ length: 16 }, () => mysql.createConnection(url)));
  t.teardown(() => Promise.all(connections.map((connection) => connection.end())));
  writeFileSync(file, intact.replace(/^triggers=.*$/m, "triggers=''"));
  await connections[0]!.query('FLUSH LOCAL TABLES kept');
  // Sixteen instances opened at once, so every partition of the table cache keeps broken ones.
  await Promise.all(connections.map((connection) => connection.query('BEGIN').then(() => connection.query('SELECT * FROM kept'))));
  await Promise.all(connections.map((connection) => connection.query('COMMIT')));
  writeFileSync(file, intact);
  await t.throwsAsync(connections[0]!.query('INSERT INTO kept (v) VALUES (0)'), { message: /trigger has an error in its body/ }, 'the cached instances are broken');

  await retryTransient(() => db.transaction((trx) => trx('kept').insert({ v: 1 })));
  t.deepEqual(await db('kept').pluck('v'), [1]);
  // Run as the platform runs it: a connection of another partition of the cache may meet a broken
  // instance first, and the table is then reopened before the update runs again.
  await t.throwsAsync(retryTransient(() => db('kept').update({ v: 2 })), { message: /kept is append-only/ }, 'the reopened table has its trigger');
});
