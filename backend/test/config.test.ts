import test from 'ava';
import { spawnSync } from 'node:child_process';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { auditExportDir, batchUploadSettings, ConfigError, loadAuditConfig, loadConfig, mykeySecret, staffPasswordCost } from '../src/config.ts';
import { redisTarget } from '../src/redis.ts';
import { DEFAULT_PORT } from '@mykey/reader-agent/agent/local-api.ts';

const valid = { NODE_ENV: 'development', DATABASE_URL: 'mysql://u:p@127.0.0.1:3306/mykey', REDIS_URL: 'redis://127.0.0.1:6379' };

test('a valid environment gives typed values and defaults', (t) => {
  const config = loadConfig({ ...valid, PORT: '8080' });
  t.is(config.PORT, 8080);
  t.is(config.HOST, '127.0.0.1');
  t.is(config.NODE_ENV, 'development');
  t.is(config.QUEUE_PREFIX, 'mykey');
  t.deepEqual(config.READER_AGENT_ORIGINS, [`http://127.0.0.1:${DEFAULT_PORT}`, `http://localhost:${DEFAULT_PORT}`], 'the reader agent at its default port');
});

test('an unset NODE_ENV is production: it needs its own secret and anchors, and says how to ask for development', (t) => {
  const { NODE_ENV: _development, ...unset } = valid;
  const error = t.throws(() => loadConfig(unset), { instanceOf: ConfigError });
  t.deepEqual(error.problems.map((p) => p.split(':')[0]).sort(), ['JPKI_TRUST_ANCHORS', 'MYKEY_SECRET']);
  t.true(error.problems.every((p) => p.includes('development needs NODE_ENV=development')), error.message);
  t.is(loadConfig({ ...unset, MYKEY_SECRET: 'a1'.repeat(32), JPKI_TRUST_ANCHORS: '/etc/mykey/jpki-auth-ca.pem' }).NODE_ENV, 'production');
});

test('the reader agent\'s origins are http on loopback, a port or *; anything else is named', (t) => {
  t.deepEqual(loadConfig({ ...valid, READER_AGENT_ORIGINS: 'http://127.0.0.1:47200, http://localhost:*' }).READER_AGENT_ORIGINS,
    ['http://127.0.0.1:47200', 'http://localhost:*']);
  for (const bad of ['https://127.0.0.1:47110', 'http://agent.example:47110', 'http://127.0.0.1', 'http://127.0.0.1:47110/', '*']) {
    const error = t.throws(() => loadConfig({ ...valid, READER_AGENT_ORIGINS: bad }), { instanceOf: ConfigError }, bad);
    t.regex(error.message, /READER_AGENT_ORIGINS\.0: must be http:\/\/127\.0\.0\.1:PORT or http:\/\/localhost:PORT/);
  }
});

test('batch uploads: a spool folder, its cap and the uploads per partner, with defaults', (t) => {
  t.like(batchUploadSettings(loadConfig(valid)), { spoolDir: path.join(tmpdir(), 'mykey-spool'), spoolMaxBytes: 2 * 1024 ** 3, perPartner: 2 });
  t.deepEqual(batchUploadSettings(loadConfig({ ...valid, BATCH_SPOOL_DIR: '/srv/spool', BATCH_SPOOL_MAX_BYTES: '1000000', BATCH_UPLOADS_PER_PARTNER: '5' })),
    { spoolDir: '/srv/spool', spoolMaxBytes: 1_000_000, perPartner: 5 });
  t.deepEqual(batchUploadSettings(), batchUploadSettings(loadConfig(valid)), 'an app given no settings uses the same defaults');
  const error = t.throws(() => loadConfig({ ...valid, BATCH_SPOOL_MAX_BYTES: 'lots', BATCH_UPLOADS_PER_PARTNER: '0' }), { instanceOf: ConfigError });
  t.deepEqual(error.problems.map((p) => p.split(':')[0]).sort(), ['BATCH_SPOOL_MAX_BYTES', 'BATCH_UPLOADS_PER_PARTNER']);
});

test('service uses are kept one by one for 90 days unless told, 1 to 3660; the fold runs hourly', (t) => {
  t.like(loadConfig(valid), { SERVICE_USE_RETENTION_DAYS: 90, SERVICE_USE_RETENTION_INTERVAL_MS: 3_600_000 });
  t.is(loadConfig({ ...valid, SERVICE_USE_RETENTION_DAYS: '400' }).SERVICE_USE_RETENTION_DAYS, 400);
  for (const bad of ['0', '3661', '1.5', 'forever']) {
    const error = t.throws(() => loadConfig({ ...valid, SERVICE_USE_RETENTION_DAYS: bad }), { instanceOf: ConfigError }, bad);
    t.deepEqual(error.problems.map((p) => p.split(':')[0]), ['SERVICE_USE_RETENTION_DAYS'], bad);
  }
});

test('shelter records are kept 30 days after the closing unless told, 1 to 3660; the deletion runs hourly', (t) => {
  t.like(loadConfig(valid), { SHELTER_RECORD_RETENTION_DAYS: 30, SHELTER_RECORD_RETENTION_INTERVAL_MS: 3_600_000 });
  t.is(loadConfig({ ...valid, SHELTER_RECORD_RETENTION_DAYS: '365' }).SHELTER_RECORD_RETENTION_DAYS, 365);
  for (const bad of ['0', '3661', '1.5', 'forever']) {
    const error = t.throws(() => loadConfig({ ...valid, SHELTER_RECORD_RETENTION_DAYS: bad }), { instanceOf: ConfigError }, bad);
    t.deepEqual(error.problems.map((p) => p.split(':')[0]), ['SHELTER_RECORD_RETENTION_DAYS'], bad);
  }
});

test('staff passwords cost OWASP\'s scrypt N=2^17 unless told; less only for the test suite', (t) => {
  t.is(loadConfig(valid).STAFF_PASSWORD_SCRYPT_N, 131072);
  t.is(loadConfig({ ...valid, STAFF_PASSWORD_SCRYPT_N: '262144' }).STAFF_PASSWORD_SCRYPT_N, 262144);
  t.is(staffPasswordCost({ NODE_ENV: 'test', STAFF_PASSWORD_SCRYPT_N: '1024' }), 1024);
  t.is(staffPasswordCost({}), 131072, 'production');
  for (const env of [{ ...valid, STAFF_PASSWORD_SCRYPT_N: '1024' }, { NODE_ENV: 'production', STAFF_PASSWORD_SCRYPT_N: '65536' }]) {
    const error = t.throws(() => loadConfig(env), { instanceOf: ConfigError });
    t.true(error.problems.includes('STAFF_PASSWORD_SCRYPT_N: must be at least 131072 (OWASP\'s cost); a lower cost is for the test suite only (NODE_ENV=test)'), error.message);
    t.throws(() => staffPasswordCost(env), { instanceOf: ConfigError, message: /STAFF_PASSWORD_SCRYPT_N: must be at least 131072/ });
  }
  for (const bad of ['100000', '512', String(2 ** 21), 'cheap']) {
    t.throws(() => staffPasswordCost({ NODE_ENV: 'test', STAFF_PASSWORD_SCRYPT_N: bad }), { instanceOf: ConfigError, message: /STAFF_PASSWORD_SCRYPT_N: must be/ }, bad);
  }
});

test('a missing variable is named', (t) => {
  const error = t.throws(() => loadConfig({ REDIS_URL: valid.REDIS_URL }), { instanceOf: ConfigError });
  t.regex(error.message, /DATABASE_URL: required/);
});

test('Redis is one URL or a group of Sentinels, never both nor neither', (t) => {
  const { REDIS_URL: _url, ...noRedis } = valid;
  const sentinels = loadConfig({ ...noRedis, REDIS_SENTINELS: '127.0.0.1:26601, 10.0.0.2:26379', REDIS_SENTINEL_NAME: 'town' });
  t.deepEqual(redisTarget(sentinels), { sentinels: [{ host: '127.0.0.1', port: 26601 }, { host: '10.0.0.2', port: 26379 }], name: 'town' });
  t.is(redisTarget(loadConfig(valid)), valid.REDIS_URL, 'one server: its URL, as before');
  t.regex(t.throws(() => loadConfig({ ...valid, REDIS_SENTINELS: '127.0.0.1:26601' }), { instanceOf: ConfigError }).message, /REDIS_URL: set REDIS_URL or REDIS_SENTINELS, not both/);
  t.regex(t.throws(() => loadConfig(noRedis), { instanceOf: ConfigError }).message, /REDIS_URL: required \(or REDIS_SENTINELS\)/);
  t.regex(t.throws(() => loadConfig({ ...noRedis, REDIS_SENTINELS: 'sentinel.example' }), { instanceOf: ConfigError }).message, /REDIS_SENTINELS.0: must be HOST:PORT/);
});

test('every bad variable is named at once', (t) => {
  const error = t.throws(() => loadConfig({ ...valid, PORT: 'eighty', REDIS_URL: 'http://x', LOG_LEVEL: 'loud' }), { instanceOf: ConfigError });
  t.deepEqual(error.problems.map((p) => p.split(':')[0]).sort(), ['LOG_LEVEL', 'PORT', 'REDIS_URL']);
});

test('a URL of the wrong kind is refused with an example of the right one', (t) => {
  const error = t.throws(() => loadConfig({ ...valid, DATABASE_URL: 'postgres://x@y/z' }), { instanceOf: ConfigError });
  t.regex(error.message, /DATABASE_URL: must be a mysql:\/\/ URL, e\.g\. mysql:\/\//);
});

test('a port out of range is refused', (t) => {
  const error = t.throws(() => loadConfig({ ...valid, PORT: '70000' }), { instanceOf: ConfigError });
  t.regex(error.message, /PORT: must be at most 65535/);
});

for (const entry of ['server', 'worker']) {
  test(`the ${entry} process stops at start-up with a message naming the bad variable`, (t) => {
    const env = { PATH: process.env.PATH, REDIS_URL: valid.REDIS_URL, DATABASE_URL: 'not a url' };
    const run = spawnSync(process.execPath, ['--import', 'tsx', `backend/src/${entry}.ts`], { env, encoding: 'utf8', timeout: 30_000 });
    t.is(run.status, 1);
    t.regex(run.stderr, /Configuration error:\n {2}- DATABASE_URL: must be a mysql:\/\/ URL/);
    t.notRegex(run.stderr, /\n\s+at /, 'no stack trace');
  });
}

const secret = 'a1'.repeat(32);

test('MYKEY_SECRET is hex of at least 32 bytes; anything else is refused with how to make one', (t) => {
  for (const bad of ['a1'.repeat(31), 'a1'.repeat(32).slice(1), Buffer.alloc(32, 1).toString('base64'), 'g'.repeat(64), ' '.repeat(64)]) {
    const error = t.throws(() => loadConfig({ ...valid, MYKEY_SECRET: bad }), { instanceOf: ConfigError }, bad);
    t.regex(error.message, /MYKEY_SECRET: must be at least 32 bytes written as hex .*`openssl rand -hex 32`/);
  }
  t.deepEqual(mykeySecret(loadConfig({ ...valid, MYKEY_SECRET: secret.toUpperCase() })), Buffer.alloc(32, 0xa1));
  t.is(mykeySecret(loadConfig({ ...valid, MYKEY_SECRET: 'ab'.repeat(64) })).length, 64);
});

test('production needs a MYKEY_SECRET of its own, named with the other problems', (t) => {
  const missing = t.throws(() => loadConfig({ ...valid, NODE_ENV: 'production', PORT: 'eighty' }), { instanceOf: ConfigError });
  t.regex(missing.message, /MYKEY_SECRET: required in production: make one with `openssl rand -hex 32`/);
  t.regex(missing.message, /PORT: /);
  const development = mykeySecret(loadConfig(valid)).toString('hex');
  const reused = t.throws(() => loadConfig({ ...valid, NODE_ENV: 'production', MYKEY_SECRET: development }), { instanceOf: ConfigError });
  t.regex(reused.message, /MYKEY_SECRET: is a development secret/);
  t.throws(() => mykeySecret({ NODE_ENV: 'production' }), { instanceOf: ConfigError }, 'nor can a hand-made production config go without');
});

test('development and tests fall back on the one fixed development secret', (t) => {
  const development = mykeySecret(loadConfig(valid));
  t.is(development.length, 32);
  t.deepEqual(mykeySecret(loadConfig({ ...valid, NODE_ENV: 'test' })), development);
  t.deepEqual(mykeySecret({ NODE_ENV: 'test' }), development);
  t.notDeepEqual(mykeySecret(loadConfig({ ...valid, MYKEY_SECRET: secret })), development);
});

test('the audit head is exported daily to AUDIT_EXPORT_DIR, which production must name', (t) => {
  t.is(loadConfig(valid).AUDIT_EXPORT_INTERVAL_MS, 86_400_000);
  t.is(auditExportDir(loadConfig(valid)), undefined, 'outside production nothing is exported unless asked');
  t.is(auditExportDir(loadConfig({ ...valid, AUDIT_EXPORT_DIR: 'heads' })), path.resolve('heads'));
  const error = t.throws(() => auditExportDir({ NODE_ENV: 'production' }), { instanceOf: ConfigError });
  t.regex(error.message, /AUDIT_EXPORT_DIR: required in production/);
  t.is(auditExportDir({ NODE_ENV: 'production', AUDIT_EXPORT_DIR: '/srv/audit' }), '/srv/audit');
  t.regex(t.throws(() => loadAuditConfig({ NODE_ENV: 'production', AUDIT_EXPORT_DIR: '/srv/audit' }), { instanceOf: ConfigError }).message, /MYKEY_SECRET: required in production/);
  t.is(loadAuditConfig({ NODE_ENV: 'development', AUDIT_EXPORT_INTERVAL_MS: '3600000' }).AUDIT_EXPORT_INTERVAL_MS, 3_600_000);
});
