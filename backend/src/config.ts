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
});

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
