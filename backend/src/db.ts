import path from 'node:path';
import { fileURLToPath } from 'node:url';
import DataLoader from 'dataloader';
import knex, { type Knex } from 'knex';
import type { Logger } from './log.ts';

const repoRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');

/** How long a request waits for MySQL to give it a connection before it is told the database is unavailable. */
const REQUEST_WAIT_MS = 5_000;

/**
 * knex configuration for a mysql:// URL; the one source for the app, scripts and knexfile.ts.
 * `waitMs` bounds both connecting and waiting for a free connection of the pool.
 */
export function knexConfig(databaseUrl: string, waitMs = REQUEST_WAIT_MS): Knex.Config {
  const url = new URL(databaseUrl);
  return {
    client: 'mysql2',
    connection: {
      host: url.hostname,
      port: Number(url.port || 3306),
      user: decodeURIComponent(url.username),
      password: decodeURIComponent(url.password),
      database: url.pathname.replace(/^\//, '') || undefined,
      charset: 'utf8mb4',
      timezone: 'Z',
      connectTimeout: waitMs,
    },
    pool: { min: 0, max: 20 },
    acquireConnectionTimeout: waitMs,
    migrations: {
      directory: path.join(repoRoot, 'backend', 'migrations'),
      loadExtensions: ['.ts'],
      tableName: 'knex_migrations',
    },
    seeds: {
      directory: path.join(repoRoot, 'seeds'),
      loadExtensions: ['.ts'],
    },
  };
}

export type Db = Knex;

/** A connection pool; knex's own warnings go to our JSON log instead of bare console lines. */
export function createDb(databaseUrl: string, log?: Logger, waitMs = REQUEST_WAIT_MS): Db {
  const config = knexConfig(databaseUrl, waitMs);
  if (log) {
    const db = log.child({ component: 'knex' });
    config.log = {
      warn: (message: unknown) => db.warn({ detail: String(message) }, 'knex warning'),
      error: (message: unknown) => db.error({ detail: String(message) }, 'knex error'),
      deprecate: (method: string, alternative: string) => db.warn({ method, alternative }, 'knex deprecation'),
      debug: () => {},
    };
  }
  const db = knex(config);
  reopenTablesOnUnloadedTriggers(db, log);
  return db;
}

/** The reopening of tables a failed statement's error started, awaited before running it again. */
const reopenings = new WeakMap<object, Promise<void>>();

/**
 * MariaDB parses a table's triggers whenever it opens an instance of the table, and keeps the
 * instance in its table cache. Under a Galera cluster's load an instance has now and then come out
 * with its triggers not loaded (ER_PARSE_ERROR "Unknown trigger has an error in its body: 'Query
 * was empty'", the .TRG file intact): every write through that cached instance then fails, on that
 * node alone, until the instance leaves the cache; CI saw a node refuse every payment for minutes.
 * Meeting the error, the pool has the tables with triggers reopened (FLUSH LOCAL TABLES, which
 * needs the RELOAD privilege: docs/operations.md#faults-on-the-cluster), once however many
 * statements meet it together, and retryTransient runs the transaction again when they are.
 */
function reopenTablesOnUnloadedTriggers(db: Db, log?: Logger): void {
  let reopening: Promise<void> | undefined;
  db.on('query-error', (error: unknown) => {
    if (!triggersUnloaded(error)) return;
    reopening ??= reopenTablesWithTriggers(db, log).finally(() => { reopening = undefined; });
    reopenings.set(error as object, reopening);
  });
}

async function reopenTablesWithTriggers(db: Db, log?: Logger): Promise<void> {
  try {
    const [rows] = await db.raw('SELECT DISTINCT EVENT_OBJECT_TABLE AS name FROM information_schema.TRIGGERS WHERE TRIGGER_SCHEMA = DATABASE()');
    const tables = (rows as Array<{ name: string }>).map((row) => row.name);
    // The flush waits for the transactions using the tables, and statements opening them wait
    // for it: a request's bound, not MariaDB's default of a day, should one of those wait on us.
    await db.raw(`SET STATEMENT lock_wait_timeout = ${REQUEST_WAIT_MS / 1000} FOR FLUSH LOCAL TABLES ${tables.map(() => '??').join(', ')}`, tables);
    log?.warn({ tables }, 'MariaDB had not loaded the triggers of a cached table: the tables with triggers were reopened');
  } catch (error) {
    log?.error({ err: error }, 'MariaDB had not loaded the triggers of a cached table, and reopening the tables failed: it needs the RELOAD privilege, and the tables free within 5 s');
  }
}

function triggersUnloaded(error: unknown): boolean {
  const { errno, sqlMessage } = (error ?? {}) as { errno?: number; sqlMessage?: string };
  return errno === 1064 && /trigger\b.* has an error in its body/i.test(sqlMessage ?? '');
}

/**
 * A read by key whose concurrent calls on the pool become one statement: the keys asked in the
 * same turn of the event loop are read together (DataLoader, batching only: nothing is cached,
 * so the next read sees every change). Under load, 32 counters' reads of a kind cost one
 * statement, not 32; alone, a read waits for the turn to end (setImmediate), never for a timer.
 * In a transaction, a read runs alone: its snapshot and locks are that transaction's.
 */
export function readByKey<K, V>(readMany: (conn: Db | Knex.Transaction, keys: readonly K[]) => Promise<Map<string, V>>, keyOf: (key: K) => string) {
  const loaders = new WeakMap<Db, DataLoader<K, V | undefined>>();
  const loaderOf = (db: Db) => {
    let loader = loaders.get(db);
    if (!loader) {
      loader = new DataLoader<K, V | undefined>(async (keys) => {
        const found = await readMany(db, keys);
        return keys.map((key) => found.get(keyOf(key)));
      }, { cache: false, batchScheduleFn: (run) => setImmediate(run), maxBatchSize: 500 });
      loaders.set(db, loader);
    }
    return loader;
  };
  return async (conn: Db | Knex.Transaction, key: K): Promise<V | undefined> => (conn.isTransaction
    ? (await readMany(conn, [key])).get(keyOf(key))
    : loaderOf(conn).load(key));
}

/** Names of migrations present in the code but not yet applied to this database. */
export async function pendingMigrations(db: Db): Promise<string[]> {
  const [, pending] = (await db.migrate.list()) as [unknown[], Array<{ file: string }>];
  return pending.map((migration) => migration.file);
}

// Errors after which the same transaction, run again, can succeed. On a Galera cluster a
// transaction that loses certification at commit to one committed first on another node fails
// with ER_LOCK_DEADLOCK too (scripts/test/cluster.test.ts), so it is retried the same way; so is
// one that met a table cached with its triggers not loaded, once the tables are reopened.
const TRANSIENT = new Set(['ER_LOCK_DEADLOCK', 'ER_LOCK_WAIT_TIMEOUT']);

/** A conflict with a concurrent transaction that committed first: running again sees its result. */
export class ConcurrentChange extends Error {}

/**
 * Runs `work` again when it failed for a transient reason, up to six times in all, after a random
 * pause that doubles at each attempt (at most 10, 20, 40, 80, 160 ms). Growing pauses part
 * transactions that keep meeting: a shop's registers on two Galera nodes lost certification to
 * each other four times running with pauses of at most 10, 20, 30 ms (docs/operations.md).
 */
export async function retryTransient<T>(work: () => Promise<T>, attempts = 6): Promise<T> {
  for (let attempt = 1; ; attempt++) {
    try {
      return await work();
    } catch (error) {
      if (!isTransient(error) || attempt >= attempts) throw error;
      await reopenings.get(error as object);
      await new Promise((resolve) => setTimeout(resolve, Math.random() * 10 * 2 ** (attempt - 1)));
    }
  }
}

function isTransient(error: unknown): boolean {
  return error instanceof ConcurrentChange || TRANSIENT.has((error as { code?: string }).code ?? '') || triggersUnloaded(error);
}
