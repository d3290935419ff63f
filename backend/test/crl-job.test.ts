// The CRL job against a real HTTP server that misbehaves, and against real files; then the
// job inside real worker processes sharing one schedule.
import test from 'ava';
import { once } from 'node:events';
import type { RequestListener } from 'node:http';
import { createCa, issueCertificate, issueCrl, type CertificateAuthority } from '@mykey/dev-tools/dev-ca/index.ts';
import { freePort } from '@mykey/dev-tools/ports.ts';
import { waitFor } from '@mykey/dev-tools/wait.ts';
import { CRL_QUEUE, refreshCrls } from '../src/jpki/crl-job.ts';
import { crlRepository } from '../src/jpki/crl-repository.ts';
import type { CrlFetchLimits, CrlSource } from '../src/jpki/crl-sources.ts';
import { caKey } from '../src/jpki/revocation.ts';
import { createQueue } from '../src/queue.ts';
import { fileFixture, queuePrefix, redisUrl, silentLog, testDatabase } from './helpers/env.ts';
import { httpServer, writeFiles } from './helpers/jpki.ts';
import { startBackend } from './helpers/processes.ts';

const DAY = 86_400_000;
// Whole seconds, as a CRL's UTCTime holds them.
const NOW = Math.floor(Date.now() / 1000) * 1000;
// Generous time: a loaded test machine must not turn a prompt answer into a timeout. The
// sources that are meant to time out get a short limit of their own.
const LIMITS: CrlFetchLimits = { timeoutMs: 30_000, maxBytes: 16_000, maxRedirects: 2 };
const SHORT_TIME: CrlFetchLimits = { ...LIMITS, timeoutMs: 300 };

const setup = fileFixture(test, async (cleanup) => {
  const [ca, newCa, stranger] = [await createCa({ kind: 'auth' }), await createCa({ kind: 'auth' }), await createCa({ kind: 'auth' })];
  // What each path of the CRL server does; tests set their own paths.
  const routes = new Map<string, RequestListener>();
  const base = await httpServer(cleanup, (req, res) => {
    const route = routes.get(req.url ?? '');
    if (route) route(req, res);
    else res.writeHead(404).end();
  });
  return { ca, newCa, stranger, routes, base };
});

const crlFrom = async (ca: CertificateAuthority, daysAgo: number, revoked: string[] = []) =>
  issueCrl(ca, { revoked: revoked.map((serialNumberHex) => ({ serialNumberHex })), thisUpdate: new Date(NOW - daysAgo * DAY), nextUpdate: new Date(NOW + DAY) });

const url = (base: string, path: string): CrlSource => ({ kind: 'url', location: `${base}${path}` });

async function sourceRows(db: Awaited<ReturnType<typeof testDatabase>>['db']) {
  const rows: Array<{ source: string; outcome: string; error_code: string | null }> = await db('jpki_crl_sources').select('source', 'outcome', 'error_code');
  return Object.fromEntries(rows.map((row) => [row.source, row]));
}

test('a PEM file and a DER URL from two anchors (rollover) are checked and stored; a second pass stores nothing new', async (t) => {
  const { ca, newCa, routes, base } = await setup();
  const { db } = await testDatabase((fn) => t.teardown(fn));
  const [oldCrl, newCrl] = [await crlFrom(ca, 1), await crlFrom(newCa, 1)];
  routes.set('/t1/new.crl', (_req, res) => res.writeHead(200, { 'content-type': 'application/pkix-crl' }).end(newCrl.der));
  const files = writeFiles((fn) => t.teardown(fn), { 'old.pem': oldCrl.pem });
  const sources: CrlSource[] = [{ kind: 'file', location: files['old.pem'] }, url(base, '/t1/new.crl')];
  const deps = { db, anchors: [ca.certificate, newCa.certificate], sources, log: silentLog, limits: LIMITS };

  t.deepEqual((await refreshCrls(deps)).map((o) => o.outcome), ['stored', 'stored']);
  const stored = await db('jpki_crls').select('issuer_key', 'der', 'this_update', 'source');
  t.is(stored.length, 2, 'one row per CA key, though both CAs have the same name');
  const byKey = new Map(stored.map((row) => [Buffer.from(row.issuer_key).toString('hex'), row]));
  t.deepEqual(byKey.get(caKey(ca.certificate).toString('hex'))?.der, oldCrl.der, 'the PEM file is stored as DER');
  t.deepEqual(byKey.get(caKey(newCa.certificate).toString('hex'))?.der, newCrl.der);

  t.deepEqual((await refreshCrls(deps)).map((o) => o.outcome), ['unchanged', 'unchanged']);
  t.deepEqual(Object.values(await sourceRows(db)).map((row) => row.outcome), ['unchanged', 'unchanged']);
});

test('every misbehaving source fails with its own code, is recorded, and the CRL held stays', async (t) => {
  const { ca, stranger, routes, base } = await setup();
  const { db } = await testDatabase((fn) => t.teardown(fn));
  const held = await crlFrom(ca, 1);
  const strangers = await crlFrom(stranger, 0);
  const p = '/t2';
  routes.set(`${p}/good`, (_req, res) => res.end(held.der));
  routes.set(`${p}/silent`, () => { /* never answers */ });
  routes.set(`${p}/slow-body`, (_req, res) => { res.writeHead(200); res.write(held.der.subarray(0, 10)); });
  routes.set(`${p}/error`, (_req, res) => res.writeHead(500).end('oops'));
  routes.set(`${p}/garbage`, (_req, res) => res.end('<html>maintenance</html>'));
  routes.set(`${p}/stranger`, (_req, res) => res.end(strangers.der));
  routes.set(`${p}/announced-huge`, (_req, res) => res.writeHead(200, { 'content-length': String(LIMITS.maxBytes + 1) }).end(Buffer.alloc(LIMITS.maxBytes + 1)));
  routes.set(`${p}/streamed-huge`, (_req, res) => {
    res.writeHead(200); // chunked: no length announced, the limit is found while reading
    for (let i = 0; i < 10; i++) res.write(Buffer.alloc(LIMITS.maxBytes / 4));
    res.end();
  });
  routes.set(`${p}/loop`, (_req, res) => res.writeHead(302, { location: `${p}/loop` }).end());
  routes.set(`${p}/redirect-ftp`, (_req, res) => res.writeHead(301, { location: 'ftp://crl.example.jp/x.crl' }).end());
  routes.set(`${p}/moved`, (_req, res) => res.writeHead(307, { location: `${p}/good` }).end());
  const deps = (sources: CrlSource[], limits = LIMITS) => ({ db, anchors: [ca.certificate], sources, log: silentLog, limits });

  t.deepEqual((await refreshCrls(deps([url(base, `${p}/moved`)]))).map((o) => o.outcome), ['stored'], 'one redirect is followed');
  const slow = await refreshCrls(deps([url(base, `${p}/silent`), url(base, `${p}/slow-body`)], SHORT_TIME));
  t.deepEqual(slow.map((o) => o.error?.code), ['crl_timeout', 'crl_timeout'], 'no answer, and an answer that never ends');
  const expected: Record<string, string> = {
    error: 'crl_http_status', garbage: 'crl_malformed', stranger: 'crl_untrusted',
    'announced-huge': 'crl_too_large', 'streamed-huge': 'crl_too_large', loop: 'crl_too_many_redirects', 'redirect-ftp': 'crl_fetch_failed',
    missing: 'crl_fetch_failed',
  };
  // Nothing listens on a port that was free a moment ago: connection refused.
  const refused = `http://127.0.0.1:${await freePort()}`;
  const sources = [...Object.keys(expected).filter((name) => name !== 'missing').map((name) => url(base, `${p}/${name}`)), { kind: 'url' as const, location: `${refused}/nothing-here.crl` }];
  const missingFile: CrlSource = { kind: 'file', location: '/nonexistent/mykey/auth.crl' };
  const outcomes = await refreshCrls(deps([...sources, missingFile]));
  t.true(outcomes.every((o) => o.outcome === 'failed'));
  const codes = Object.fromEntries(outcomes.map((o) => [o.source.replace(`${base}${p}/`, '').replace(`${refused}/nothing-here.crl`, 'missing'), o.error?.code]));
  t.deepEqual(codes, { ...expected, '/nonexistent/mykey/auth.crl': 'crl_unreadable' });

  const rows = await sourceRows(db);
  t.is(rows[`${base}${p}/error`]?.error_code, 'crl_http_status', 'each outcome is recorded for operators');
  t.is(rows[`${base}${p}/moved`]?.outcome, 'stored');
  t.deepEqual((await db('jpki_crls').first('der'))?.der, held.der, 'the CRL held before is still there');
});

test('a newer CRL replaces the one held, an older one never does; a failing source keeps its last success', async (t) => {
  const { ca, routes, base } = await setup();
  const { db } = await testDatabase((fn) => t.teardown(fn));
  const [older, newer, newest] = [await crlFrom(ca, 3), await crlFrom(ca, 2, ['0A']), await crlFrom(ca, 1, ['0A', '0B'])];
  let serving: Buffer | undefined = newer.der;
  routes.set('/t3/auth.crl', (_req, res) => (serving ? res.end(serving) : res.writeHead(503).end()));
  const deps = { db, anchors: [ca.certificate], sources: [url(base, '/t3/auth.crl')], log: silentLog, limits: LIMITS };
  const pass = async () => (await refreshCrls(deps))[0]!.outcome;
  const held = async () => (await db('jpki_crls').first('der'))?.der;

  t.is(await pass(), 'stored');
  serving = older.der;
  t.is(await pass(), 'unchanged');
  t.deepEqual(await held(), newer.der);
  serving = newest.der;
  t.is(await pass(), 'stored');
  t.deepEqual(await held(), newest.der);
  serving = undefined;
  t.is(await pass(), 'failed');
  const row = await db('jpki_crl_sources').first();
  t.is(row.error_code, 'crl_http_status');
  t.truthy(row.succeeded_at, 'the last success is still shown');
  t.deepEqual(row.this_update, newest.thisUpdate);
});

test('two workers storing at once: the newer CRL wins whatever the order', async (t) => {
  const { ca } = await setup();
  const { db } = await testDatabase((fn) => t.teardown(fn));
  const [older, newer] = [await crlFrom(ca, 2), await crlFrom(ca, 1)];
  const row = (crl: typeof older) => ({ issuerKey: caKey(ca.certificate), issuerName: 'JPKI', thisUpdate: crl.thisUpdate, nextUpdate: crl.nextUpdate, der: crl.der, source: 'test', fetchedAt: new Date() });
  for (let round = 0; round < 10; round++) {
    await db('jpki_crls').del();
    await Promise.all(round % 2 ? [crlRepository.storeIfNewer(db, row(older)), crlRepository.storeIfNewer(db, row(newer))] : [crlRepository.storeIfNewer(db, row(newer)), crlRepository.storeIfNewer(db, row(older))]);
    t.deepEqual((await db('jpki_crls').first('der'))?.der, newer.der);
  }
});

function startWorker(env: Record<string, string>) {
  const { child: worker, output } = startBackend('worker', env);
  return { worker, output };
}

test('worker processes: one CRL schedule for all, a refresh at start, a failing source logged and the worker unharmed', async (t) => {
  const { ca, routes, base } = await setup();
  const { db, url: databaseUrl } = await testDatabase((fn) => t.teardown(fn));
  const prefix = queuePrefix((fn) => t.teardown(fn));
  const card = await issueCertificate(ca);
  const fromFile = await crlFrom(ca, 1, [card.serialNumberHex]);
  routes.set('/t5/broken.crl', (_req, res) => res.writeHead(500).end());
  const files = writeFiles((fn) => t.teardown(fn), { 'anchors.pem': ca.certificatePem, 'auth.crl': fromFile.der });
  const env = {
    DATABASE_URL: databaseUrl, REDIS_URL: redisUrl(), QUEUE_PREFIX: prefix, NODE_ENV: 'test',
    JPKI_TRUST_ANCHORS: files['anchors.pem'], JPKI_CRL_FILES: files['auth.crl'], JPKI_CRL_URLS: `${base}/t5/broken.crl`, JPKI_CRL_REFRESH_MS: '600000',
  };
  const workers = [startWorker(env), startWorker(env)];
  t.teardown(() => { for (const { worker } of workers) worker.kill('SIGKILL'); });

  await waitFor('the CRL from the file in MySQL', async () => (await db('jpki_crls').first('der'))?.der, 60_000);
  t.deepEqual((await db('jpki_crls').first('der'))?.der, fromFile.der);
  const broken = await waitFor('the broken source recorded', async () => db('jpki_crl_sources').where({ source: `${base}/t5/broken.crl` }).first(), 60_000);
  t.like(broken, { outcome: 'failed', error_code: 'crl_http_status' });
  await waitFor('both workers ready', async () => workers.every(({ output }) => output().includes('worker ready')), 60_000);
  const queue = createQueue(CRL_QUEUE, { REDIS_URL: redisUrl(), QUEUE_PREFIX: prefix });
  t.teardown(() => queue.close());
  t.like(await queue.getRepeatableJobs(), [{ every: 600_000 }], 'one schedule, however many workers');

  for (const { worker } of workers) worker.kill('SIGTERM');
  const codes = await Promise.all(workers.map(async ({ worker }) => (await once(worker, 'exit'))[0]));
  t.deepEqual(codes, [0, 0], 'the failing source harmed neither worker');
  t.regex(workers[0]!.output() + workers[1]!.output(), /"code":"crl_http_status".*CRL source failed/);
});
