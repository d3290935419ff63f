// What a production process checks in the database before it starts. The configuration
// (config.ts) and the trust anchors (jpki/anchors.ts) already refuse development secrets and
// CAs; demo staff accounts, whose password is published, only the database can tell.
import { ConfigError, isDevelopment, type Config } from './config.ts';
import type { Db } from './db.ts';
import { staffRepository } from './staff/repository.ts';

/** Throws ConfigError in production while a demo account exists, or when that cannot be known. */
export async function refuseDemoAccounts(config: Pick<Config, 'NODE_ENV'>, db: Db): Promise<void> {
  if (isDevelopment(config)) return;
  let logins: string[];
  try {
    logins = await staffRepository.demoLogins(db);
  } catch (error) {
    const reason = (error as { code?: string }).code ?? (error instanceof Error ? error.message : String(error));
    throw new ConfigError([`DATABASE_URL: cannot check the database for demo staff accounts (${reason}); production starts only once it can: is MySQL up, and the schema migrated (npm run db:migrate)?`]);
  }
  if (logins.length > 0) {
    throw new ConfigError([`DATABASE_URL: the database holds demo staff accounts (${logins.join(', ')}), whose password is published: it was seeded with the demo (npm start, npm run db:seed). Give production a database of its own, or set NODE_ENV=development for a demo`]);
  }
}
