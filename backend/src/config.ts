// Configuration comes from the environment and is validated once, at start-up: a bad or
// missing variable stops the process with a message naming it, before anything connects.
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { z } from 'zod';

const repoRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');

const url = (schemes: string[], example: string) =>
  z.string({ error: `required, e.g. ${example}` })
    .refine((value) => URL.canParse(value) && schemes.includes(new URL(value).protocol),
      { error: `must be a ${schemes.join(' or ')}// URL, e.g. ${example}` });

const port = z.coerce.number({ error: 'must be a port number' })
  .int({ error: 'must be a whole number' }).min(0).max(65535, { error: 'must be at most 65535' });

const positiveMs = z.coerce.number({ error: 'must be a number of milliseconds' }).int().min(10);

// MYKEY_SECRET keys the MyKey IDs and the stored certificate keys (docs/mykey-id.md). Hex only:
// 64 hex digits would pass as base64 too, and one spelling must mean one secret.
const MIN_SECRET_BYTES = 32;
const secretHex = z.string().regex(new RegExp(`^(?:[0-9a-fA-F]{2}){${MIN_SECRET_BYTES},}$`),
  { error: `must be at least ${MIN_SECRET_BYTES} bytes written as hex (${MIN_SECRET_BYTES * 2} or more hex digits); make one with \`openssl rand -hex 32\`` });

/**
 * The MyKey secret of development and tests: fixed and public, so a development database keeps
 * its IDs across restarts. Safe only there, where every card comes from the development CA and
 * stands for no one; production refuses to start without a secret of its own.
 */
const DEVELOPMENT_MYKEY_SECRET = Buffer.from('mykey development secret, public', 'utf8');

function mykeySecretOwnInProduction(env: { NODE_ENV?: unknown; MYKEY_SECRET?: unknown }, ctx: z.RefinementCtx): void {
  if (env.NODE_ENV !== 'production') return;
  if (!env.MYKEY_SECRET) {
    ctx.addIssue({ code: 'custom', path: ['MYKEY_SECRET'], message: 'required in production: make one with `openssl rand -hex 32`, and keep it for good (docs/mykey-id.md)' });
  } else if (typeof env.MYKEY_SECRET === 'string' && Buffer.from(env.MYKEY_SECRET, 'hex').equals(DEVELOPMENT_MYKEY_SECRET)) {
    ctx.addIssue({ code: 'custom', path: ['MYKEY_SECRET'], message: 'is the public development secret; make one with `openssl rand -hex 32`' });
  }
}

const schema = z.object({
  NODE_ENV: z.enum(['development', 'production', 'test']).default('development'),
  HOST: z.string().min(1).default('127.0.0.1'),
  PORT: port.default(3000),
  DATABASE_URL: url(['mysql:'], 'mysql://mykey:secret@127.0.0.1:3306/mykey'),
  REDIS_URL: url(['redis:', 'rediss:'], 'redis://127.0.0.1:6379'),
  LOG_LEVEL: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info'),
  CONSOLE_DIR: z.string().min(1).default(path.join(repoRoot, 'frontend', 'dist')),
  QUEUE_PREFIX: z.string().regex(/^[A-Za-z0-9_:-]{1,64}$/, { error: 'must be 1-64 letters, digits, _ : -' }).default('mykey'),
  HEARTBEAT_INTERVAL_MS: positiveMs.default(10_000),
  SHUTDOWN_TIMEOUT_MS: positiveMs.default(30_000),
  /** Hex, at least 32 bytes. Unset outside production: DEVELOPMENT_MYKEY_SECRET. Read it with mykeySecret(). */
  MYKEY_SECRET: secretHex.optional(),
  // `when`: checked even when other variables are bad, so one run names every problem.
}).superRefine(mykeySecretOwnInProduction, { when: () => true });

export type Config = z.infer<typeof schema>;

export class ConfigError extends Error {
  constructor(readonly problems: string[]) {
    super(`Configuration error:\n${problems.map((p) => `  - ${p}`).join('\n')}`);
  }
}

/** Reads and validates the configuration; throws ConfigError naming every bad variable. */
export function loadConfig(env: NodeJS.ProcessEnv = process.env): Config {
  const result = schema.safeParse(env);
  if (result.success) return result.data;
  throw new ConfigError(result.error.issues.map((issue) => `${issue.path.join('.')}: ${issue.message}`));
}

/** For entry points: the configuration, or a clear message on stderr and exit code 1. */
export function loadConfigOrExit(env: NodeJS.ProcessEnv = process.env): Config {
  try {
    return loadConfig(env);
  } catch (error) {
    if (!(error instanceof ConfigError)) throw error;
    process.stderr.write(`${error.message}\n`);
    process.exit(1);
  }
}

/** The MyKey secret as bytes: the configured one, or outside production the development one. */
export function mykeySecret(config: Pick<Config, 'NODE_ENV' | 'MYKEY_SECRET'>): Buffer {
  if (config.MYKEY_SECRET) return Buffer.from(config.MYKEY_SECRET, 'hex');
  if (config.NODE_ENV === 'production') throw new ConfigError(['MYKEY_SECRET: required in production']);
  return Buffer.from(DEVELOPMENT_MYKEY_SECRET);
}
