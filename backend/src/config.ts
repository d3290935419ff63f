// Configuration comes from the environment and is validated once, at start-up: a bad or
// missing variable stops the process with a message naming it, before anything connects.
import { existsSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { z } from 'zod';
import { dataDir } from '@mykey/contracts/local-data.ts';

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

/**
 * Where `npm start` once kept a development secret of the machine's own (it ran the server as
 * production then): a database made by it depends on that secret, so development still uses it
 * (scripts/lib/jpki.ts), and production refuses it like the public one.
 */
const LOCAL_MYKEY_SECRET_FILE = path.join(dataDir, 'mykey-secret');

/** The development settings: the only ones that may fall back on development secrets and CAs. */
const DEVELOPMENT_SETTINGS: readonly unknown[] = ['development', 'test'];
export function isDevelopment(config: { NODE_ENV?: unknown }): boolean {
  return DEVELOPMENT_SETTINGS.includes(config.NODE_ENV);
}

/** The secret an earlier `npm start` made for this machine, as hex, if there is one. */
export function localMykeySecretHex(): string | undefined {
  return existsSync(LOCAL_MYKEY_SECRET_FILE) ? readFileSync(LOCAL_MYKEY_SECRET_FILE, 'utf8').trim() : undefined;
}

/** The development secrets this machine knows of: the public one, and the local one if there is one. */
function developmentSecrets(): Buffer[] {
  const local = localMykeySecretHex();
  return [DEVELOPMENT_MYKEY_SECRET, ...(local === undefined ? [] : [Buffer.from(local, 'hex')])];
}

function mykeySecretOwnInProduction(env: { NODE_ENV?: unknown; MYKEY_SECRET?: unknown }, ctx: z.RefinementCtx): void {
  if (isDevelopment(env)) return;
  if (!env.MYKEY_SECRET) {
    ctx.addIssue({ code: 'custom', path: ['MYKEY_SECRET'], message: 'required in production: make one with `openssl rand -hex 32`, and keep it for good (docs/mykey-id.md); development needs NODE_ENV=development' });
  } else if (typeof env.MYKEY_SECRET === 'string' && developmentSecrets().some((known) => Buffer.from(env.MYKEY_SECRET as string, 'hex').equals(known))) {
    ctx.addIssue({ code: 'custom', path: ['MYKEY_SECRET'], message: `is a development secret (the public one, or ${LOCAL_MYKEY_SECRET_FILE}); in production make one with \`openssl rand -hex 32\`` });
  }
}

/** A comma-separated list; blanks around and between items are ignored. */
const commaList = <T extends z.ZodType<unknown, string>>(item: T, fallback = '') =>
  z.string().default(fallback).transform((value) => value.split(',').map((part) => part.trim()).filter(Boolean)).pipe(z.array(item));

// Unset is production: development fallbacks must be asked for (docs/security/production.md).
const nodeEnv = z.enum(['development', 'production', 'test']).default('production');

/** Certificate verification: trust anchors, CRL sources and the revocation policy (docs/operations.md). */
const jpkiFields = {
  /** PEM bundle of user-authentication CA certificates. Unset in development: the development CA (.data/dev-ca/), which production refuses. */
  JPKI_TRUST_ANCHORS: z.string().min(1).optional(),
  JPKI_CRL_FILES: commaList(z.string()),
  JPKI_CRL_URLS: commaList(url(['http:', 'https:'], 'https://crl.example.jp/auth.crl')),
  JPKI_CRL_REFRESH_MS: positiveMs.default(3_600_000),
  /** Whether a value-moving operation fails when revocation cannot be checked; a login proceeds either way. */
  JPKI_REVOCATION_POLICY: z.enum(['fail-closed', 'fail-open']).default('fail-closed'),
};

/**
 * Production must name its anchors, said here with every other bad variable. Development names
 * them too, the development CA's, through npm start, npm run dev and npm test (scripts/lib/jpki.ts);
 * loading the anchors says when they are missing (jpki/anchors.ts).
 */
function anchorsRequiredInProduction(env: { NODE_ENV?: unknown; JPKI_TRUST_ANCHORS?: unknown }, ctx: z.RefinementCtx): void {
  if (!isDevelopment(env) && !env.JPKI_TRUST_ANCHORS) {
    ctx.addIssue({ code: 'custom', path: ['JPKI_TRUST_ANCHORS'], message: 'required in production: a PEM bundle of the JPKI user-authentication CA certificates; development needs NODE_ENV=development' });
  }
}
const count = (max: number) => z.coerce.number({ error: 'must be a number' }).int({ error: 'must be a whole number' }).min(1).max(max, { error: `must be at most ${max}` });

/** Processing partner conversions and telling partners the outcome (docs/partner-api.md#outcomes-and-webhooks). */
const conversionFields = {
  /** Conversion jobs a worker runs at once; their requests share transactions. */
  CONVERSION_CONCURRENCY: count(5000).default(1000),
  /** Most conversions credited in one transaction. */
  CONVERSION_BATCH_SIZE: count(2000).default(500),
  /** Most conversion transactions a worker runs at once. */
  CONVERSION_TRANSACTIONS: count(64).default(2),
  /** How often the sweeper looks for accepted conversions whose job is not in Bull. */
  CONVERSION_SWEEP_INTERVAL_MS: positiveMs.default(60_000),
  /** An accepted conversion queued (or, never queued, accepted) longer ago than this has its job checked by the sweeper. */
  CONVERSION_REQUEUE_AFTER_MS: positiveMs.default(300_000),
  /** How often a worker looks for webhooks due. */
  WEBHOOK_POLL_INTERVAL_MS: positiveMs.default(1_000),
  /** A webhook not answered within this is retried. */
  WEBHOOK_TIMEOUT_MS: positiveMs.default(10_000),
  /** The wait after a webhook's first failure, doubled after each further one up to WEBHOOK_RETRY_MAX_MS. */
  WEBHOOK_RETRY_BASE_MS: positiveMs.default(5_000),
  WEBHOOK_RETRY_MAX_MS: positiveMs.default(3_600_000),
  /** Webhooks in flight per partner per worker. */
  WEBHOOK_PER_PARTNER: count(1000).default(8),
};

/** Where and how often the audit chain's head is exported, outside MySQL (docs/audit-log.md). */
const auditFields = {
  /** A folder the worker and `npm run mykey -- audit-export` append audit-heads.jsonl to. Read it with auditExportDir(). */
  AUDIT_EXPORT_DIR: z.string().min(1).optional(),
  AUDIT_EXPORT_INTERVAL_MS: positiveMs.default(86_400_000),
};

const flag = z.enum(['true', 'false', '1', '0'], { error: 'must be true or false' }).default('false').transform((value) => value === 'true' || value === '1');

/** scrypt's cost for staff passwords in production: OWASP's (Password Storage Cheat Sheet: N=2^17, r=8, p=1). */
export const OWASP_SCRYPT_N = 2 ** 17;

/** A power of two from 2^10 to 2^20: scrypt takes nothing else, and 2^20 already needs 1 GiB per hash at r=8. */
const scryptN = z.coerce.number({ error: 'must be a number' }).int({ error: 'must be a whole number' })
  .refine((n) => n >= 2 ** 10 && n <= 2 ** 20 && (n & (n - 1)) === 0, { error: 'must be a power of two from 1024 to 1048576' });

/** The cost of staff passwords (docs/security/staff.md). */
const passwordFields = {
  /**
   * scrypt's N for new and re-made staff password hashes (r=8, p=1). Below OWASP's only for the
   * test suite, where every test signs in many times on a loaded machine (docs/testing.md).
   */
  STAFF_PASSWORD_SCRYPT_N: scryptN.default(OWASP_SCRYPT_N),
};

function passwordCostOwnOutsideTests(env: { NODE_ENV?: unknown; STAFF_PASSWORD_SCRYPT_N?: unknown }, ctx: z.RefinementCtx): void {
  // Run even when another variable is bad, so the value may still be the environment's string.
  if (env.NODE_ENV !== 'test' && Number(env.STAFF_PASSWORD_SCRYPT_N ?? OWASP_SCRYPT_N) < OWASP_SCRYPT_N) {
    ctx.addIssue({ code: 'custom', path: ['STAFF_PASSWORD_SCRYPT_N'], message: `must be at least ${OWASP_SCRYPT_N} (OWASP's cost); a lower cost is for the test suite only (NODE_ENV=test)` });
  }
}

/** Staff sign-in and sessions (docs/security/staff.md). */
const staffFields = {
  ...passwordFields,
  /** Whether a TLS-terminating proxy stands in front: then X-Forwarded-For/-Proto (its last hop only) give the client address and HTTPS. */
  TRUST_PROXY: flag,
  /** A staff session unused this long ends (besides its 12 hours). */
  STAFF_SESSION_IDLE_MS: positiveMs.min(60_000, { error: 'must be at least 60000 (a minute)' }).default(1_800_000),
  /** A resident's own page (docs/resident.md) unused this long closes; five minutes, shorter only for tests. */
  RESIDENT_SESSION_IDLE_MS: positiveMs.min(1_000, { error: 'must be at least 1000 (a second)' }).default(300_000),
  /** A resident's page closes this long after it opened, however it is used: the next person at a kiosk finds no page left open. */
  RESIDENT_SESSION_LIMIT_MS: positiveMs.min(1_000, { error: 'must be at least 1000 (a second)' }).default(1_800_000),
  /** How often the worker deletes resident pages that ended. */
  RESIDENT_SESSION_PURGE_INTERVAL_MS: positiveMs.default(3_600_000),
  /** How often the worker deletes ended staff sessions. */
  STAFF_SESSION_PURGE_INTERVAL_MS: positiveMs.default(3_600_000),
};

/** Partner batch uploads (docs/partner-api.md#batches): where they are spooled, how much room that has, how many at once. */
const batchUploadFields = {
  /** A folder of this machine's API servers only; they may share it, and its cap counts them all. */
  BATCH_SPOOL_DIR: z.string().min(1).default(path.join(tmpdir(), 'mykey-spool')),
  /** The most bytes all uploads in BATCH_SPOOL_DIR may hold together; one batch file is at most 256 MiB. */
  BATCH_SPOOL_MAX_BYTES: z.coerce.number({ error: 'must be a number of bytes' }).int({ error: 'must be a whole number' }).min(1).default(2 * 1024 ** 3),
  /** Batch uploads a partner may have in progress at once, across every API server (counted in Redis). */
  BATCH_UPLOADS_PER_PARTNER: count(100).default(2),
};

const batchUploadSchema = z.object(batchUploadFields);

export interface BatchUploadSettings { spoolDir: string; spoolMaxBytes: number; perPartner: number }

/** The batch upload settings of a configuration (config.ts's defaults when none is given). */
export function batchUploadSettings(config: z.infer<typeof batchUploadSchema> = batchUploadSchema.parse({})): BatchUploadSettings {
  return { spoolDir: config.BATCH_SPOOL_DIR, spoolMaxBytes: config.BATCH_SPOOL_MAX_BYTES, perPartner: config.BATCH_UPLOADS_PER_PARTNER };
}

/**
 * Where Redis is: one server (REDIS_URL), or the master a group of Sentinels watches
 * (REDIS_SENTINELS and REDIS_SENTINEL_NAME), whichever Sentinel answers; docs/operations.md#cluster.
 */
const redisFields = {
  REDIS_URL: url(['redis:', 'rediss:'], 'redis://127.0.0.1:6379').optional(),
  REDIS_SENTINELS: commaList(z.string().regex(/^[^\s:,]+:[0-9]{1,5}$/, { error: 'must be HOST:PORT of Sentinels, comma-separated, e.g. 10.0.0.1:26379,10.0.0.2:26379' })),
  REDIS_SENTINEL_NAME: z.string().regex(/^[A-Za-z0-9._-]{1,64}$/, { error: 'must be the master\'s name in the Sentinels\' configuration (letters, digits, . _ -)' }).default('mykey'),
};

function oneRedis(env: { REDIS_URL?: unknown; REDIS_SENTINELS?: unknown }, ctx: z.RefinementCtx): void {
  // Run even when another variable is bad, so REDIS_SENTINELS may still be the environment's string.
  const sentinels = Array.isArray(env.REDIS_SENTINELS) ? env.REDIS_SENTINELS.length > 0 : Boolean(env.REDIS_SENTINELS);
  if (env.REDIS_URL && sentinels) {
    ctx.addIssue({ code: 'custom', path: ['REDIS_URL'], message: 'set REDIS_URL or REDIS_SENTINELS, not both' });
  } else if (!env.REDIS_URL && !sentinels) {
    ctx.addIssue({ code: 'custom', path: ['REDIS_URL'], message: 'required (or REDIS_SENTINELS), e.g. redis://127.0.0.1:6379' });
  }
}

// `when`: checked even when other variables are bad, so one run names every problem.
const always = { when: () => true };

const schema = z.object({
  NODE_ENV: nodeEnv,
  HOST: z.string().min(1).default('127.0.0.1'),
  PORT: port.default(3000),
  DATABASE_URL: url(['mysql:'], 'mysql://mykey:secret@127.0.0.1:3306/mykey'),
  ...redisFields,
  LOG_LEVEL: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info'),
  /** Where this process serves GET /metrics for Prometheus (docs/operations.md#metrics); unset, nowhere. Never the public PORT. */
  METRICS_PORT: port.optional(),
  METRICS_HOST: z.string().min(1).default('127.0.0.1'),
  CONSOLE_DIR: z.string().min(1).default(path.join(repoRoot, 'frontend', 'dist')),
  QUEUE_PREFIX: z.string().regex(/^[A-Za-z0-9_:-]{1,64}$/, { error: 'must be 1-64 letters, digits, _ : -' }).default('mykey'),
  /** How often a worker looks for jobs a dead worker held (Bull's stalledInterval) and runs them again (docs/operations.md#faults-on-the-cluster). */
  QUEUE_STALLED_CHECK_MS: positiveMs.default(30_000),
  HEARTBEAT_INTERVAL_MS: positiveMs.default(10_000),
  /** How often the worker moves what is left of expired point lots to the expired account (docs/ledger.md). */
  LEDGER_EXPIRY_INTERVAL_MS: positiveMs.default(600_000),
  /** Days a service's uses are kept one by one; older ones remain only as hourly counts (docs/services-figures.md). */
  SERVICE_USE_RETENTION_DAYS: count(3660).default(90),
  /** How often the worker folds uses past their retention into the hourly counts. */
  SERVICE_USE_RETENTION_INTERVAL_MS: positiveMs.default(3_600_000),
  /** Days the check-ins and check-outs of a closed shelter are kept after its closing, then deleted (docs/shelters.md). */
  SHELTER_RECORD_RETENTION_DAYS: count(3660).default(30),
  /** How often the worker deletes shelter records past their retention. */
  SHELTER_RECORD_RETENTION_INTERVAL_MS: positiveMs.default(3_600_000),
  SHUTDOWN_TIMEOUT_MS: positiveMs.default(30_000),
  /**
   * The reader agent's addresses the console may call (its Content-Security-Policy connect-src):
   * the agent's default port (reader-agent/src/agent/local-api.ts DEFAULT_PORT) unless told.
   */
  READER_AGENT_ORIGINS: commaList(z.string().regex(/^http:\/\/(127\.0\.0\.1|localhost):([0-9]{1,5}|\*)$/,
    { error: 'must be http://127.0.0.1:PORT or http://localhost:PORT (the reader agent listens on loopback only); PORT may be *' }),
  'http://127.0.0.1:47110,http://localhost:47110'),
  ...conversionFields,
  ...staffFields,
  ...batchUploadFields,
  /** Hex, at least 32 bytes. Unset outside production: DEVELOPMENT_MYKEY_SECRET. Read it with mykeySecret(). */
  MYKEY_SECRET: secretHex.optional(),
  ...auditFields,
  ...jpkiFields,
}).superRefine(anchorsRequiredInProduction, always).superRefine(mykeySecretOwnInProduction, always)
  .superRefine(passwordCostOwnOutsideTests, always).superRefine(oneRedis, always);

export type Config = z.infer<typeof schema>;

/** The cost of staff passwords alone: what seeds, and tests that make accounts, hash with. */
const passwordSchema = z.object({ NODE_ENV: nodeEnv, ...passwordFields }).superRefine(passwordCostOwnOutsideTests, always);

/** Only what certificate verification reads, for commands that need no database (verify-cert). */
const jpkiSchema = z.object({ NODE_ENV: nodeEnv, ...jpkiFields }).superRefine(anchorsRequiredInProduction, always);

export type JpkiConfig = z.infer<typeof jpkiSchema>;

/** The setting and the secret every command that keys or seals anything reads. */
const secretFields = { NODE_ENV: nodeEnv, MYKEY_SECRET: secretHex.optional() };

/** What identity commands read (import-linkage): certificate verification and the MyKey secret, no servers. */
const identitySchema = z.object({ ...secretFields, ...jpkiFields })
  .superRefine(anchorsRequiredInProduction, always).superRefine(mykeySecretOwnInProduction, always);

export type IdentityConfig = z.infer<typeof identitySchema>;

/** The MyKey secret alone: what commands that seal secrets or append to the audit log read (partner-secret, partner-agreement). */
const secretSchema = z.object(secretFields).superRefine(mykeySecretOwnInProduction, always);

/** What the audit commands read (audit-export, audit-verify, audit-erase-text): the keys' secret and the export folder. */
const auditSchema = z.object({ ...secretFields, ...auditFields }).superRefine(mykeySecretOwnInProduction, always);

export type AuditConfig = z.infer<typeof auditSchema>;

export class ConfigError extends Error {
  constructor(readonly problems: string[]) {
    super(`Configuration error:\n${problems.map((p) => `  - ${p}`).join('\n')}`);
  }
}

function parse<T>(schema: z.ZodType<T>, env: NodeJS.ProcessEnv): T {
  const result = schema.safeParse(env);
  if (result.success) return result.data;
  throw new ConfigError(result.error.issues.map((issue) => `${issue.path.join('.')}: ${issue.message}`));
}

/**
 * Reads and validates the configuration; throws ConfigError naming every bad variable. Exported
 * as a seam for the tests and the conversions bench; entry points use loadConfigOrExit.
 */
export function loadConfig(env: NodeJS.ProcessEnv = process.env): Config {
  return parse(schema, env);
}

/** The certificate-verification part of the configuration alone; throws ConfigError. */
export function loadJpkiConfig(env: NodeJS.ProcessEnv = process.env): JpkiConfig {
  return parse(jpkiSchema, env);
}

/** The identity part of the configuration alone; throws ConfigError. */
export function loadIdentityConfig(env: NodeJS.ProcessEnv = process.env): IdentityConfig {
  return parse(identitySchema, env);
}

/** The MyKey secret's part of the configuration alone; throws ConfigError. */
export function loadSecretConfig(env: NodeJS.ProcessEnv = process.env): z.infer<typeof secretSchema> {
  return parse(secretSchema, env);
}

/** scrypt's N for staff passwords, from the environment (OWASP's unless told); throws ConfigError. */
export function staffPasswordCost(env: NodeJS.ProcessEnv = process.env): number {
  return parse(passwordSchema, env).STAFF_PASSWORD_SCRYPT_N;
}

/** The audit part of the configuration alone; throws ConfigError. */
export function loadAuditConfig(env: NodeJS.ProcessEnv = process.env): AuditConfig {
  return parse(auditSchema, env);
}

/**
 * The folder the audit head is exported to; undefined when unset outside production (nothing is
 * exported). Production must name one: without exported heads a truncated log goes unseen.
 */
export function auditExportDir(config: Pick<Config, 'NODE_ENV' | 'AUDIT_EXPORT_DIR'>): string | undefined {
  if (config.AUDIT_EXPORT_DIR) return path.resolve(config.AUDIT_EXPORT_DIR);
  if (!isDevelopment(config)) throw new ConfigError(['AUDIT_EXPORT_DIR: required in production: a folder outside the database (docs/audit-log.md)']);
  return undefined;
}

/** For entry points: a ConfigError (also from checks after loading, e.g. the trust anchors) becomes a clear message on stderr and exit code 1. */
export function exitOnConfigError(error: unknown): never {
  if (!(error instanceof ConfigError)) throw error;
  process.stderr.write(`${error.message}\n`);
  process.exit(1);
}

/** For entry points: the configuration, or a clear message on stderr and exit code 1. */
export function loadConfigOrExit(env: NodeJS.ProcessEnv = process.env): Config {
  try {
    return loadConfig(env);
  } catch (error) {
    exitOnConfigError(error);
  }
}

/** The MyKey secret as bytes: the configured one, or in development the development one. */
export function mykeySecret(config: Pick<Config, 'NODE_ENV' | 'MYKEY_SECRET'>): Buffer {
  if (config.MYKEY_SECRET) return Buffer.from(config.MYKEY_SECRET, 'hex');
  if (!isDevelopment(config)) throw new ConfigError(['MYKEY_SECRET: required in production']);
  return Buffer.from(DEVELOPMENT_MYKEY_SECRET);
}
