import { existsSync, readdirSync, rmSync } from 'node:fs';
import path from 'node:path';
import knex, { type Knex } from 'knex';
import { createDb, knexConfig } from './db.ts';

/** How long chores and tests wait for MySQL to give a connection on a busy machine. */
export const PATIENT_WAIT_MS = 60_000;

/**
 * A connection for creating and dropping databases. Requests fail fast when MySQL is slow to
 * give a connection (db.ts); these one-off chores, run by npm start, npm test and test files'
 * set-up and teardown while the machine is busiest, wait for it instead.
 */
export function adminConnection(databaseUrl: string): Knex {
  return knex(knexConfig(databaseUrl, PATIENT_WAIT_MS));
}

/** Creates the database named in the URL when it is missing (needs the right to), so a bare server is enough. */
export async function ensureDatabase(databaseUrl: string): Promise<void> {
  const url = new URL(databaseUrl);
  const name = url.pathname.replace(/^\//, '');
  if (!/^[A-Za-z0-9_]{1,64}$/.test(name)) throw new Error(`DATABASE_URL must name a database (letters, digits, _), got "${name}"`);
  url.pathname = '/';
  const server = adminConnection(url.toString());
  try {
    await server.raw(`CREATE DATABASE IF NOT EXISTS \`${name}\` CHARACTER SET utf8mb4 COLLATE utf8mb4_bin`);
  } finally {
    await server.destroy();
  }
}

/** Brings the schema up to date and loads the demo town; both are safe to repeat. */
export async function migrateAndSeed(databaseUrl: string, options: { seed: boolean } = { seed: true }): Promise<void> {
  await ensureDatabase(databaseUrl);
  const db = createDb(databaseUrl);
  try {
    const [, applied] = await db.migrate.latest();
    console.log(applied.length ? `[db] applied migrations: ${applied.join(', ')}` : '[db] schema is up to date');
    if (options.seed) {
      await db.seed.run();
      console.log('[db] demo town seeded');
    }
  } finally {
    await db.destroy();
  }
}

const STRAY_TRIGGER_BACKUP = /\.(TRG|TRN)-$/;

/**
 * Drops a database. MariaDB 10.11 now and then leaves the backup of a trigger file
 * (`table.TRG-`) in the database's directory, and DROP DATABASE then fails with "Directory
 * not empty" (1010). Triggers are dropped first; if the directory still holds such a backup
 * and the server's data folder is on this machine (ours always is), it is removed and the
 * drop tried again.
 */
export async function dropDatabase(server: Knex, name: string): Promise<void> {
  const [triggers] = await server.raw('SELECT TRIGGER_NAME AS name FROM information_schema.TRIGGERS WHERE TRIGGER_SCHEMA = ?', [name]);
  for (const { name: trigger } of triggers as Array<{ name: string }>) {
    await server.raw(`DROP TRIGGER IF EXISTS \`${name}\`.\`${trigger}\``);
  }
  try {
    await server.raw(`DROP DATABASE IF EXISTS \`${name}\``);
  } catch (error) {
    if ((error as { errno?: number }).errno !== 1010) throw error;
    const [[{ datadir }]] = await server.raw('SELECT @@datadir AS datadir');
    const dir = path.join(datadir, name);
    if (!existsSync(dir)) throw error;
    for (const file of readdirSync(dir).filter((f) => STRAY_TRIGGER_BACKUP.test(f))) rmSync(path.join(dir, file));
    await server.raw(`DROP DATABASE IF EXISTS \`${name}\``);
  }
}
