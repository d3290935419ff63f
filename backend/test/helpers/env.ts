// Each test file gets its own database (migrated) and its own Redis key prefix, so files
// run in parallel against the one MySQL and Redis that `npm test` provides.
import { randomBytes } from 'node:crypto';
import type { ExecutionContext, TestFn } from 'ava';
import { createDb, type Db } from '../../src/db.ts';
import { adminConnection, dropDatabase, ensureDatabase, PATIENT_WAIT_MS } from '../../src/database-admin.ts';
import { TEST_DATABASE_PREFIX } from './names.ts';
import { createLogger } from '../../src/log.ts';
import { useAuditSecret } from '../../src/audit/keys.ts';
import { mykeySecret } from '../../src/config.ts';
import { Redis } from 'ioredis';

function required(name: string): string {
  const value = process.env[name];
  if (!value) throw new Error(`${name} is not set: run the suite with \`npm test\`, which provides MySQL and Redis.`);
  return value;
}

// A test appends to and checks the audit log with the keys of the development MyKey secret, as
// startApp's app does and the servers and workers it starts without MYKEY_SECRET.
useAuditSecret(mykeySecret({ NODE_ENV: 'test' }));

/** Registers work to run at the end: `t.teardown` in a test, `test.after.always` for a file. */
export type Cleanup = (fn: () => unknown) => void;

/**
 * Shared setup for one test file, made on first use and torn down when the file ends.
 * (ava wants hooks declared synchronously, so setup cannot simply be awaited at top level.)
 */
export function fileFixture<T>(test: TestFn, setup: (cleanup: Cleanup) => Promise<T>): () => Promise<T> {
  const cleanups: Array<() => unknown> = [];
  let value: Promise<T> | undefined;
  test.after.always(async () => {
    for (const fn of cleanups.reverse()) await fn();
  });
  return () => (value ??= setup((fn) => { cleanups.push(fn); }));
}

export const silentLog = createLogger({ LOG_LEVEL: 'silent' }, 'test');

/**
 * The log of an app under test: its errors only, so a request that failed with 500 says why in
 * the suite's output (an unexpected 500 under load is otherwise a riddle).
 */
export const appErrorLog = createLogger({ LOG_LEVEL: 'error' }, 'app-under-test');

/**
 * A test file's connection pool. The app under test runs in the file's process beside its other
 * tests, which may hold the CPU for seconds on a loaded machine: the request path's 5 s would then
 * fail a test that is not about it (connect ETIMEDOUT seen in CI). Tests of the fail-fast make
 * pools of their own with createDb.
 */
export function testPool(databaseUrl: string): Db {
  return createDb(databaseUrl, silentLog, PATIENT_WAIT_MS);
}

export interface TestDatabase { url: string; name: string; db: Db }

/** A fresh database for this test file, migrated to the latest schema; dropped when the file ends. */
export async function testDatabase(cleanup: Cleanup, options: { migrate?: boolean } = {}): Promise<TestDatabase> {
  const name = `${TEST_DATABASE_PREFIX}${randomBytes(6).toString('hex')}`;
  const url = new URL(required('DATABASE_URL'));
  url.pathname = `/${name}`;
  await ensureDatabase(url.toString());
  const db = testPool(url.toString());
  if (options.migrate ?? true) await db.migrate.latest();
  cleanup(async () => {
    await db.destroy();
    const server = adminConnection(required('DATABASE_URL'));
    await dropDatabase(server, name);
    await server.destroy();
  });
  return { url: url.toString(), name, db };
}

/** A fresh database migrated up to just before migration `file`, for a test of what that migration does. */
export async function migratedUpTo(cleanup: Cleanup, file: string): Promise<Db> {
  const { db } = await testDatabase(cleanup, { migrate: false });
  for (;;) {
    const [, pending] = await db.migrate.list() as [unknown, Array<{ file: string }>];
    if (pending[0]!.file === file) return db;
    await db.migrate.up();
  }
}

export function redisUrl(): string {
  return required('REDIS_URL');
}

/** A queue prefix no other test file uses; its Redis keys are deleted at the end. */
export function queuePrefix(cleanup: Cleanup): string {
  const prefix = `mykey_test_${randomBytes(6).toString('hex')}`;
  cleanup(async () => {
    const redis = new Redis(redisUrl());
    for await (const keys of redis.scanStream({ match: `${prefix}:*`, count: 1000 })) {
      if ((keys as string[]).length) await redis.unlink(...(keys as string[]));
    }
    redis.disconnect();
  });
  return prefix;
}

/** The built console that `npm test` provides. */
export function consoleDir(): string {
  return required('CONSOLE_DIR');
}

export type { ExecutionContext };
