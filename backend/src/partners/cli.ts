// `npm run mykey -- partner-secret PARTNER [--webhook-url URL]`: issues a partner a new API
// secret (the old one stops working at once) and prints it once, as JSON, to hand over.
import pino from 'pino';
import { ConfigError, loadIdentityConfig, mykeySecret } from '../config.ts';
import { createDb } from '../db.ts';
import { newPartnerSecret } from './credentials.ts';
import { PartnerNotFound, setPartnerCredentials } from './repository.ts';

const USAGE = 'npm run mykey -- partner-secret PARTNER [--webhook-url URL]';

function webhookUrl(value: string | undefined): string | undefined {
  if (value === undefined || value.length > 2048) return undefined;
  try {
    const url = new URL(value);
    return url.protocol === 'https:' || url.protocol === 'http:' ? url.toString() : undefined;
  } catch {
    return undefined;
  }
}

export async function partnerSecretCommand(args: string[], databaseUrl: string, env: NodeJS.ProcessEnv = process.env): Promise<number> {
  const fail = (exit: number, error: string, detail: string) => {
    process.stdout.write(`${JSON.stringify({ error, detail })}\n`);
    return exit;
  };
  const [partner, flag, url, ...rest] = args;
  if (!partner || partner.startsWith('-') || rest.length > 0 || (flag !== undefined && flag !== '--webhook-url')) {
    return fail(2, 'usage', `usage: ${USAGE}`);
  }
  const webhook = flag === undefined ? undefined : webhookUrl(url);
  if (flag !== undefined && webhook === undefined) return fail(2, 'usage', '--webhook-url needs an http(s) URL of at most 2048 characters');
  let secret: Buffer;
  try {
    secret = mykeySecret(loadIdentityConfig(env));
  } catch (error) {
    if (!(error instanceof ConfigError)) throw error;
    return fail(2, 'config_invalid', error.problems.join('; '));
  }
  // knex's own warnings go to stderr, so stdout holds the answer alone.
  const db = createDb(databaseUrl, pino({ name: 'partner-secret', level: 'warn' }, pino.destination(2)));
  try {
    const apiSecret = newPartnerSecret();
    const { webhookUrl: stored } = await setPartnerCredentials(db, secret, partner, { apiSecret, webhookUrl: webhook });
    process.stdout.write(`${JSON.stringify({ partner, apiSecret, webhookUrl: stored })}\n`);
    return 0;
  } catch (error) {
    if (!(error instanceof PartnerNotFound)) throw error;
    return fail(1, 'partner_not_found', error.message);
  } finally {
    await db.destroy();
  }
}
