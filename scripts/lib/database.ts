import { createDb, knexConfig } from '../../backend/src/db.ts';
import knex from 'knex';

/** Creates the database named in the URL when it is missing (needs the right to), so a bare server is enough. */
export async function ensureDatabase(databaseUrl: string): Promise<void> {
  const url = new URL(databaseUrl);
  const name = url.pathname.replace(/^\//, '');
  if (!/^[A-Za-z0-9_]{1,64}$/.test(name)) throw new Error(`DATABASE_URL must name a database (letters, digits, _), got "${name}"`);
  url.pathname = '/';
  const server = knex(knexConfig(url.toString()));
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
