// Configuring certificate verification: the variables, and the trust-anchor bundle, which
// stops the server and the worker at start-up, naming the variable and the file, when it is bad.
import test from 'ava';
import { spawnSync } from 'node:child_process';
import { createCa, issueCertificate, issueCrl } from '@mykey/dev-tools/dev-ca/index.ts';
import { ConfigError, loadConfig, loadJpkiConfig } from '../src/config.ts';
import { loadTrustAnchors } from '../src/jpki/anchors.ts';
import { isDevelopmentCa } from '../src/jpki/development-ca.ts';
import { fileFixture } from './helpers/env.ts';
import { writeFiles } from './helpers/jpki.ts';

const valid = { NODE_ENV: 'development', DATABASE_URL: 'mysql://u:p@127.0.0.1:3306/mykey', REDIS_URL: 'redis://127.0.0.1:6379' };

const files = fileFixture(test, async (cleanup) => {
  const [oldCa, newCa] = [await createCa({ kind: 'auth' }), await createCa({ kind: 'auth' })];
  const card = await issueCertificate(oldCa);
  return writeFiles(cleanup, {
    rollover: `# old CA, until its last card expires\n${oldCa.certificatePem}subject=the new CA\n${newCa.certificatePem}`,
    empty: '',
    keyOnly: oldCa.privateKeyPem,
    cardNotCa: card.certificatePem,
    crlNotCertificate: (await issueCrl(oldCa, { revoked: [] })).pem,
    brokenBlock: '-----BEGIN CERTIFICATE-----\nnot base64 at all!\n-----END CERTIFICATE-----\n',
    notDer: `-----BEGIN CERTIFICATE-----\n${Buffer.from('hello').toString('base64')}\n-----END CERTIFICATE-----\n`,
  });
});

test('defaults: no CRL sources, hourly refresh, fail-closed; anchors unset in development', (t) => {
  const config = loadConfig(valid);
  t.is(config.JPKI_TRUST_ANCHORS, undefined);
  t.deepEqual(config.JPKI_CRL_FILES, []);
  t.deepEqual(config.JPKI_CRL_URLS, []);
  t.is(config.JPKI_CRL_REFRESH_MS, 3_600_000);
  t.is(config.JPKI_REVOCATION_POLICY, 'fail-closed');
});

test('CRL sources are comma-separated lists; URLs must be http or https, each named when bad', (t) => {
  const config = loadJpkiConfig({ NODE_ENV: 'test', JPKI_CRL_FILES: ' /a.crl, /b.crl ,', JPKI_CRL_URLS: 'http://crl.example.jp/a.crl,https://crl.example.jp/b.crl', JPKI_REVOCATION_POLICY: 'fail-open' });
  t.deepEqual(config.JPKI_CRL_FILES, ['/a.crl', '/b.crl']);
  t.deepEqual(config.JPKI_CRL_URLS, ['http://crl.example.jp/a.crl', 'https://crl.example.jp/b.crl']);
  t.is(config.JPKI_REVOCATION_POLICY, 'fail-open');
  const error = t.throws(() => loadJpkiConfig({ NODE_ENV: 'test', JPKI_CRL_URLS: 'https://ok.example.jp/a.crl,ftp://x/y.crl', JPKI_REVOCATION_POLICY: 'maybe' }), { instanceOf: ConfigError });
  t.regex(error.message, /JPKI_CRL_URLS\.1: must be a http: or https:\/\/ URL/);
  t.regex(error.message, /JPKI_REVOCATION_POLICY: /);
});

test('production requires JPKI_TRUST_ANCHORS, named together with every other bad variable', (t) => {
  const error = t.throws(() => loadConfig({ NODE_ENV: 'production', REDIS_URL: valid.REDIS_URL }), { instanceOf: ConfigError });
  const named = error.problems.map((p) => p.split(':')[0]);
  t.true(named.includes('DATABASE_URL') && named.includes('JPKI_TRUST_ANCHORS'), named.join(', '));
  t.regex(error.message, /JPKI_TRUST_ANCHORS: required in production/);
  const left = (() => {
    try {
      loadConfig({ ...valid, NODE_ENV: 'production', JPKI_TRUST_ANCHORS: '/etc/mykey/jpki-auth-ca.pem' });
      return [];
    } catch (error) {
      return (error as ConfigError).problems;
    }
  })();
  t.false(left.some((p) => p.startsWith('JPKI_')), 'with the anchors named, nothing about them is left');
  t.notThrows(() => loadJpkiConfig({ NODE_ENV: 'production', JPKI_TRUST_ANCHORS: '/etc/mykey/jpki-auth-ca.pem' }));
});

test('a bundle of several CA certificates (with text between them) gives every one: CA key rollover', async (t) => {
  const { rollover } = await files();
  const anchors = await loadTrustAnchors({ NODE_ENV: 'test', JPKI_TRUST_ANCHORS: rollover });
  t.is(anchors.file, rollover);
  t.is(anchors.certificates.length, 2);
});

test('development CAs carry their mark, which production refuses in a bundle and development does not', async (t) => {
  const { rollover } = await files();
  const anchors = await loadTrustAnchors({ NODE_ENV: 'development', JPKI_TRUST_ANCHORS: rollover });
  t.true(anchors.certificates.every(isDevelopmentCa));
  const error = await t.throwsAsync(loadTrustAnchors({ NODE_ENV: 'production', JPKI_TRUST_ANCHORS: rollover }), { instanceOf: ConfigError });
  t.regex(error?.message ?? '', /JPKI_TRUST_ANCHORS: .*: certificate 1 of 2 is a development CA \(packages\/dev-tools\/src\/dev-ca\), which production never trusts/);
});

test('the anchors come from configuration only: without JPKI_TRUST_ANCHORS development trusts no CA either', async (t) => {
  for (const NODE_ENV of ['development', 'test'] as const) {
    const error = await t.throwsAsync(loadTrustAnchors({ NODE_ENV, JPKI_TRUST_ANCHORS: undefined }), { instanceOf: ConfigError });
    t.regex(error?.message ?? '', /- JPKI_TRUST_ANCHORS: not set: .*npm start, npm run dev and npm test name the development CA's/, NODE_ENV);
  }
});

test('a bad bundle is a ConfigError naming the variable, the file and what is wrong', async (t) => {
  const paths = await files();
  const cases: Array<[string, RegExp]> = [
    [`${paths.empty}.missing`, /cannot be read \(ENOENT\)/],
    [paths.empty, /holds no PEM "CERTIFICATE" block/],
    [paths.keyOnly, /holds no PEM "CERTIFICATE" block/],
    [paths.crlNotCertificate, /holds no PEM "CERTIFICATE" block/],
    [paths.cardNotCa, /certificate 1 of 1 is not a CA certificate/],
    [paths.brokenBlock, /PEM block "CERTIFICATE" is not valid base64/],
    [paths.notDer, /certificate 1 of 1 is not an X\.509 certificate/],
  ];
  for (const [file, problem] of cases) {
    const error = await t.throwsAsync(loadTrustAnchors({ NODE_ENV: 'test', JPKI_TRUST_ANCHORS: file }), { instanceOf: ConfigError });
    t.true(error?.message.includes(`JPKI_TRUST_ANCHORS: ${file}: `), file);
    t.regex(error?.message ?? '', problem);
  }
});

for (const entry of ['server', 'worker']) {
  test(`the ${entry} stops at start-up naming JPKI_TRUST_ANCHORS and the file when the bundle is bad`, async (t) => {
    const { cardNotCa } = await files();
    const env = { PATH: process.env.PATH, ...valid, JPKI_TRUST_ANCHORS: cardNotCa };
    const run = spawnSync(process.execPath, ['--import', 'tsx', `backend/src/${entry}.ts`], { env, encoding: 'utf8', timeout: 60_000 });
    t.is(run.status, 1);
    t.true(run.stderr.includes(`Configuration error:\n  - JPKI_TRUST_ANCHORS: ${cardNotCa}: certificate 1 of 1 is not a CA certificate`), run.stderr);
    t.notRegex(run.stderr, /\n\s+at /, 'no stack trace');
  });

  test(`the ${entry} started by hand in development without JPKI_TRUST_ANCHORS stops, saying npm start names the development CA`, (t) => {
    const run = spawnSync(process.execPath, ['--import', 'tsx', `backend/src/${entry}.ts`], { env: { PATH: process.env.PATH, ...valid }, encoding: 'utf8', timeout: 60_000 });
    t.is(run.status, 1);
    t.true(run.stderr.includes('Configuration error:\n  - JPKI_TRUST_ANCHORS: not set: '), run.stderr);
  });
}
