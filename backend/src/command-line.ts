// What the operators' commands of every feature share (partners/cli.ts, staff/town-cli.ts):
// one JSON line on stdout (the answer, or {error, detail} with exit 1 refused or 2 usage), a
// database for the one command, and the configuration's MyKey secret with the audit keys set.
import pino from 'pino';
import { ConfigError, loadSecretConfig, mykeySecret } from './config.ts';
import { createDb, type Db } from './db.ts';
import { useAuditSecret } from './audit/keys.ts';

export function answer(value: unknown, exit = 0): number {
  process.stdout.write(`${JSON.stringify(value)}\n`);
  return exit;
}
export const fail = (exit: number, error: string, detail: string) => answer({ error, detail }, exit);

/**
 * How long an operator's command waits for MySQL to connect and give it a connection: a command
 * run against a busy database should wait, not give up after a request's 5 s (seen: `ledger
 * check` refused with "Timeout acquiring a connection" on a loaded machine).
 */
const COMMAND_WAIT_MS = 60_000;

/** The database of one command, waiting patiently; knex's own warnings go to stderr, so stdout holds the answer alone. */
export function commandDb(databaseUrl: string, name: string): Db {
  return createDb(databaseUrl, pino({ name, level: 'warn' }, pino.destination(2)), COMMAND_WAIT_MS);
}

/** A database for one command (commandDb), closed after it. */
export async function withDb<T>(databaseUrl: string, name: string, work: (db: Db) => Promise<T>): Promise<T> {
  const db = commandDb(databaseUrl, name);
  try {
    return await work(db);
  } finally {
    await db.destroy();
  }
}

/**
 * The configuration's MyKey secret, with this process's audit keys set from it (the commands
 * audit what they change), or what is wrong with the configuration.
 */
export function configuredSecret(env: NodeJS.ProcessEnv): Buffer | ConfigError {
  try {
    const secret = mykeySecret(loadSecretConfig(env));
    useAuditSecret(secret);
    return secret;
  } catch (error) {
    if (!(error instanceof ConfigError)) throw error;
    return error;
  }
}
