// Partner conversions under faults: a partner simulator sends signed conversions (with
// duplicates, some at the same moment, and bad ones) to the real API server, real worker
// processes credit them, and meanwhile a worker is killed with SIGKILL, Redis is killed and
// loses its data, MariaDB is killed, or the partner's webhook endpoint fails for a while.
// Afterwards every conversion the partner got a 202 for must be credited exactly once: by the
// partner's own record and what GET answers, by the webhooks it received (each outcome at
// least once, repeats agreeing), and by the ledger (checkLedger ok, one conversion entry per
// credited request, resident balances adding up to what was credited).
// These tests kill servers, so the file has a MariaDB and a Redis of its own and runs serially.
import test, { type ExecutionContext } from 'ava';
import { randomBytes } from 'node:crypto';
import type { Knex } from 'knex';
import { mykeySecret } from '../src/config.ts';
import type { Db } from '../src/db.ts';
import { checkLedger } from '../src/ledger/check.ts';
import { newPartnerSecret } from '../src/partners/credentials.ts';
import { setPartnerCredentials } from '../src/partners/service.ts';
import { partnerKey } from '@mykey/contracts/partner-signature.ts';
import { freePort } from '@mykey/dev-tools/ports.ts';
import { waitFor } from '@mykey/dev-tools/wait.ts';
import { dedicatedServices, type DedicatedServices } from './helpers/dedicated-services.ts';
import { consoleDir, fileFixture, testPool } from './helpers/env.ts';
import { town, type Town } from './helpers/ledger.ts';
import { addResident } from './helpers/partners.ts';
import { startServer, startWorker, type BackendProcess } from './helpers/processes.ts';
import { PartnerClient, PartnerSimulator, WebhookReceiver, type TrafficPlan, type TrafficReport } from '@mykey/dev-tools/partner-sim/index.ts';

const setup = fileFixture(test, async (cleanup) => {
  const services = await dedicatedServices(cleanup);
  const db = testPool(services.databaseUrl);
  cleanup(() => db.destroy());
  const queuePrefix = `mykey_faults_${randomBytes(4).toString('hex')}`;
  const [port, metricsPort] = [await freePort(), await freePort()];
  const env = { NODE_ENV: 'test', DATABASE_URL: services.databaseUrl, REDIS_URL: services.redisUrl, QUEUE_PREFIX: queuePrefix, CONSOLE_DIR: consoleDir() };
  const server = await startServer(port, { ...env, METRICS_PORT: String(metricsPort) });
  cleanup(() => server.stop());
  return { services, db, env, server, baseUrl: `http://127.0.0.1:${port}`, metricsUrl: `http://127.0.0.1:${metricsPort}/metrics` };
});

// Short intervals, so recovery takes seconds: the sweeper looks every half second at what has
// waited a second, and webhooks are retried after 0.2 s, doubling to at most 1 s.
const WORKER_SETTINGS = {
  CONVERSION_SWEEP_INTERVAL_MS: '500', CONVERSION_REQUEUE_AFTER_MS: '1000',
  WEBHOOK_POLL_INTERVAL_MS: '200', WEBHOOK_TIMEOUT_MS: '1000', WEBHOOK_RETRY_BASE_MS: '200', WEBHOOK_RETRY_MAX_MS: '1000',
  HEARTBEAT_INTERVAL_MS: '60000',
};

interface Scene {
  t: ExecutionContext;
  db: Db;
  services: DedicatedServices;
  server: BackendProcess;
  city: Town;
  sim: PartnerSimulator;
  receiver: WebhookReceiver;
  workers: BackendProcess[];
  startWorker(): Promise<BackendProcess>;
}

/** A town of the test's own whose partner has an API secret and the simulator's webhook URL, and one worker. */
async function scene(t: ExecutionContext): Promise<Scene> {
  const { db, services, env, server, baseUrl } = await setup();
  const city = await town(db, { premiumPercent: 10 });
  const { slug } = await db('partners').where({ id: city.partnerId }).first('slug');
  const apiSecret = newPartnerSecret();
  const identity = { partner: slug as string, key: partnerKey(apiSecret) };
  const receiver = new WebhookReceiver(identity);
  const webhookUrl = await receiver.start();
  t.teardown(() => receiver.stop());
  await setPartnerCredentials(db, mykeySecret({ NODE_ENV: 'test' }), slug, { apiSecret, webhookUrl });
  const sim = new PartnerSimulator(new PartnerClient({ ...identity, baseUrl, timeoutMs: 5_000, retryForMs: 150_000 }), receiver);
  const workers: BackendProcess[] = [];
  t.teardown(() => Promise.all(workers.map((w) => w.stop('SIGKILL'))));
  const s: Scene = {
    t, db, services, server, city, sim, receiver, workers,
    async startWorker() {
      const worker = await startWorker({ ...env, ...WORKER_SETTINGS });
      workers.push(worker);
      return worker;
    },
  };
  await s.startWorker();
  return s;
}

async function plan(s: Scene, count: number, ratePerSecond: number): Promise<TrafficPlan> {
  const mykeyIds = await Promise.all(Array.from({ length: 25 }, () => addResident(s.db)));
  return { count, mykeyIds, municipality: s.city.code, ratePerSecond, concurrency: 32, duplicateFraction: 0.15, bad: 7, txPrefix: `tx-${randomBytes(4).toString('hex')}` };
}

async function countOf(query: Knex.QueryBuilder): Promise<number> {
  const [row] = await query.count({ n: '*' });
  return Number((row as { n: number | string }).n);
}

/** The partner's conversion requests, narrowed by `where`. */
const requests = (s: Scene) => s.db('conversion_requests').where({ partner_id: s.city.partnerId });

/** How many of the partner's conversions are past `accepted` (credited or rejected). */
const finished = (s: Scene) => countOf(requests(s).whereNot({ state: 'accepted' }));

const acknowledged = (s: Scene) => [...s.sim.sent.values()].filter((sent) => sent.conversionId !== undefined).length;

/** Everything the partner was told 202 for is credited exactly once, by every account of it. */
async function assertCreditedExactlyOnce(s: Scene, traffic: TrafficReport): Promise<void> {
  const { t, db, city, sim, receiver } = s;
  if (traffic.inconsistent.length > 0) await explainInconsistency(s, traffic);
  t.deepEqual(traffic.unacknowledged, [], 'the partner got an answer for every conversion, retrying as long as it took');
  t.deepEqual(traffic.inconsistent, [], 'every answer to a conversion and its duplicates was 202 with one conversion id');
  t.deepEqual(traffic.bad.notRefused, [], 'every bad request was refused with a 4xx');
  t.is(traffic.accepted, traffic.conversions);

  await waitFor('every accepted conversion to be processed', async () => (await finished(s)) === traffic.accepted, 150_000);
  const partnerTxIds = [...sim.sent.values()].filter((sent) => sent.conversionId !== undefined).map((sent) => sent.body.partnerTxId);
  await receiver.waitForOutcomes(partnerTxIds, 60_000);

  const reconciled = await sim.reconcile({ rate: { units: 1, points: 1 } });
  t.like(reconciled, { credited: traffic.accepted, rejected: 0, pending: [], mismatches: [], missingWebhooks: [], storedRefusals: [] });
  t.deepEqual(receiver.disagreements, [], 'repeated webhooks agree with the first');
  for (const id of partnerTxIds) t.is(receiver.outcomes.get(id)?.state, 'credited');

  const report = await checkLedger(db);
  t.true(report.ok, JSON.stringify(report.violations.slice(0, 5)));
  const [{ entries, references }] = await db('ledger_entries').where({ municipality_code: city.code, kind: 'conversion' })
    .select(db.raw('COUNT(*) AS entries'), db.raw('COUNT(DISTINCT reference) AS `references`'));
  const credited = await countOf(requests(s).where({ state: 'credited' }));
  t.is(Number(entries), credited, 'one conversion entry per credited request');
  t.is(Number(references), credited, 'each under its own reference');
  const [balances] = await db('ledger_accounts').where({ municipality_code: city.code, kind: 'resident' }).sum({ balance: 'balance' });
  t.is(Number(balances!.balance), reconciled.pointsCredited, 'the residents hold exactly what was credited');
}

/**
 * What a double acceptance left behind, shown with the failure: the rows of those partnerTxIds,
 * the server's warnings and errors, and MariaDB's log (its crash recovery).
 */
async function explainInconsistency(s: Scene, traffic: TrafficReport): Promise<void> {
  const ids = traffic.inconsistent.map((line) => line.split(' ')[0]!);
  s.t.log('rows:', JSON.stringify(await requests(s).whereIn('partner_tx_id', ids).select('id', 'partner_tx_id', 'state', 'accepted_at', 'queued_at')));
  const problems = s.server.output().split('\n').filter((line) => /"level":(40|50|60)/.test(line));
  s.t.log(`server warnings and errors (${problems.length}):\n${problems.slice(-40).join('\n')}`);
  s.t.log(`MariaDB:\n${s.services.mariaDbLog().split('\n').filter((line) => !/Aborted connection/.test(line)).slice(-60).join('\n')}`);
}

test.serial('a worker killed with SIGKILL in the middle of a stream: a new worker finishes it, crediting each conversion once', async (t) => {
  const s = await scene(t);
  const traffic = s.sim.run(await plan(s, 800, 200));
  await waitFor('some conversions to be credited', async () => (await finished(s)) >= 150, 60_000);
  await s.workers[0]!.stop('SIGKILL');
  t.true((await finished(s)) < 800, 'the worker died with conversions still to do');
  await waitFor('more conversions to be acknowledged while no worker runs', async () => acknowledged(s) >= (await finished(s)) + 100, 60_000);
  await s.startWorker();
  await assertCreditedExactlyOnce(s, await traffic);
});

test.serial('Redis killed and its data lost in the middle of a stream: the sweeper enqueues what was lost', async (t) => {
  const s = await scene(t);
  const traffic = s.sim.run(await plan(s, 800, 200));
  await waitFor('a third of the conversions to be acknowledged', async () => acknowledged(s) >= 250, 60_000);
  await s.services.crashRedis({ loseData: true });
  await assertCreditedExactlyOnce(s, await traffic);
});

/** The server's 5xx answers to partner conversions so far, from its metrics endpoint. */
async function refusedConversions(): Promise<number> {
  const text = await (await fetch((await setup()).metricsUrl)).text();
  const series = /^mykey_http_requests_total\{method="POST",route="\/api\/v1\/partner\/conversions",status="5\d\d"\} (\d+)$/gm;
  return [...text.matchAll(series)].reduce((sum, match) => sum + Number(match[1]), 0);
}

test.serial('MariaDB killed in the middle of a stream: the API answers 503 meanwhile, the partner retries, and everything is credited once', async (t) => {
  const s = await scene(t);
  const refusedBefore = await refusedConversions();
  const traffic = s.sim.run(await plan(s, 800, 200));
  await waitFor('a third of the conversions to be acknowledged', async () => acknowledged(s) >= 250, 60_000);
  await s.services.crashMariaDb();
  const report = await traffic;
  t.true(report.retries.serverErrors + report.retries.connectionErrors + report.retries.timeouts > 0, 'the partner saw the outage and retried');
  // The operator's view of the same outage: the server's metrics counted every 5xx it answered.
  t.true((await refusedConversions()) - refusedBefore >= report.retries.serverErrors, 'each 5xx the partner got is on the scrape');
  await assertCreditedExactlyOnce(s, report);
});

test.serial('a partner whose webhook endpoint answers 500, then never answers, then drops connections, gets every outcome once it recovers', async (t) => {
  const s = await scene(t);
  s.receiver.misbehave('error', { fraction: 1 });
  const traffic = await s.sim.run(await plan(s, 300, 300));
  await waitFor('every conversion processed', async () => (await finished(s)) === traffic.accepted, 60_000);
  await waitFor('every webhook to have failed twice', async () =>
    (await countOf(requests(s).where({ webhook_state: 'pending' }).where('webhook_attempts', '>=', 2))) === traffic.accepted, 60_000);
  t.is(s.receiver.counts.accepted, 0);
  s.receiver.misbehave('timeout', { fraction: 1 });
  await waitFor('deliveries to time out', async () => s.receiver.counts.timeout >= 20, 60_000);
  s.receiver.misbehave('close', { calls: 20 });
  await waitFor('connections to be dropped', async () => s.receiver.counts.close >= 20, 60_000);
  await waitFor('every webhook delivered', async () => (await countOf(requests(s).where({ webhook_state: 'delivered' }))) === traffic.accepted, 90_000);
  await assertCreditedExactlyOnce(s, traffic);
  t.true(s.receiver.counts.repeated > 0, 'outcomes answered 500 were sent again');
});
