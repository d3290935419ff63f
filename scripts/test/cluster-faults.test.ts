// The cluster under load and under faults (docs/operations.md#faults-on-the-cluster): card
// payments at three registers, card logins at a counter and a partner's conversions run the
// whole time through both API servers, as through a load balancer: a request refused (5xx) or
// unanswered is sent again to the other server with the same Idempotency-Key or partnerTxId.
// Meanwhile, one after another and each once the load flows again: Galera node 2 is killed with
// SIGKILL and started again (it rejoins), the Redis master is killed (the Sentinels promote the
// replica), a worker is killed, an API server is killed. Afterwards every conversion the partner
// was told 202 for is credited exactly once, every receipt a register got is one payment in the
// ledger, the ledger check and the audit chain are clean, and each fault was on the scrape of the
// metrics endpoints. The run's figures (requests refused per fault, seconds to recover) are
// printed; nothing is asserted about their size, which is the machine's.
import test, { type ExecutionContext } from 'ava';
import { execFile } from 'node:child_process';
import { randomBytes, randomUUID } from 'node:crypto';
import { readFileSync, rmSync } from 'node:fs';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { promisify } from 'node:util';
import { freeClusterProfile, sentinelMasterPort } from '@mykey/dev-tools/cluster.ts';
import { issueCertificate, loadCa, type IssuedCertificate } from '@mykey/dev-tools/dev-ca/index.ts';
import { ensureDevCa } from '@mykey/dev-tools/dev-ca/store.ts';
import { DEMO_MUNICIPALITY, DEMO_PARTNER } from '@mykey/dev-tools/demo-towns.ts';
import { PartnerClient, PartnerSimulator, WebhookReceiver, type TrafficReport } from '@mykey/dev-tools/partner-sim/index.ts';
import { dataDir, rootDir } from '@mykey/dev-tools/paths.ts';
import { freePort } from '@mykey/dev-tools/ports.ts';
import { waitFor } from '@mykey/dev-tools/wait.ts';
import { partnerKey } from '@mykey/contracts/partner-signature.ts';
import { conversionReference } from '@mykey/backend/conversions/process.ts';
import type { Knex } from 'knex';
import { testPool } from '@mykey/backend/test/helpers/env.ts';
import { cardProof, enrollDevice, signInStaff } from '@mykey/backend/test/helpers/identity.ts';
import { startClusterPlatform, type ClusterPlatform } from '../lib/cluster-platform.ts';

// Short intervals, so a recovery takes seconds: the sweeper looks every half second at what has
// waited a second, webhooks are retried after 0.2 s, doubling to at most 1 s, and a dead
// worker's jobs are looked for every second (they still wait for their 30 s lock to run out).
const WORKER_SETTINGS = {
  CONVERSION_SWEEP_INTERVAL_MS: '500', CONVERSION_REQUEUE_AFTER_MS: '1000', QUEUE_STALLED_CHECK_MS: '1000',
  WEBHOOK_POLL_INTERVAL_MS: '200', WEBHOOK_TIMEOUT_MS: '1000', WEBHOOK_RETRY_BASE_MS: '200', WEBHOOK_RETRY_MAX_MS: '1000',
};

const REGISTERS = 3;
const CARDS = 9;
/** How long a client keeps failing over before it gives up: far longer than any fault here lasts. */
const GIVE_UP_MS = 150_000;
/** One attempt's wait for an answer before the client sends it to the other server. */
const ATTEMPT_MS = 5_000;

interface Reply { status: number; body: any }

/** What the clients met while a fault lasted: answers refused with a 5xx (or 429), attempts unanswered. */
interface Refusals { refused: number; unanswered: number }

/**
 * The registers' and the counter's side of a load balancer: requests take the API servers in
 * turn, and one refused or unanswered goes to the next server with the same Idempotency-Key.
 */
class Balancer {
  phase = 'before the faults';
  readonly refusals = new Map<string, Refusals>();
  private turn = 0;

  constructor(readonly servers: string[]) {}

  async post(path: string, auth: Record<string, string>, body: unknown, key = randomUUID()): Promise<Reply> {
    const giveUpAt = Date.now() + GIVE_UP_MS;
    const first = this.turn++;
    for (let attempt = 0; ; attempt++) {
      const server = this.servers[(first + attempt) % this.servers.length]!;
      try {
        const response = await fetch(`${server}${path}`, {
          method: 'POST', headers: { ...auth, 'Content-Type': 'application/json', 'Idempotency-Key': key },
          body: JSON.stringify(body), signal: AbortSignal.timeout(ATTEMPT_MS),
        });
        const text = await response.text();
        if (response.status < 500 && response.status !== 429) return { status: response.status, body: text ? JSON.parse(text) : undefined };
        this.count('refused');
      } catch {
        this.count('unanswered');
      }
      if (Date.now() > giveUpAt) throw new Error(`POST ${path}: no answer from any server for ${GIVE_UP_MS / 1000} s`);
      // An honest client backs off a little before it tries again.
      await sleep(Math.min(1_000, 50 * 2 ** attempt));
    }
  }

  private count(what: keyof Refusals): void {
    const tally = this.refusals.get(this.phase) ?? { refused: 0, unanswered: 0 };
    tally[what]++;
    this.refusals.set(this.phase, tally);
  }
}

/** What the load has done so far; `errors`: anything answered other than success (each a failure of the test). */
interface Progress { payments: number; logins: number; receipts: Array<{ intentId: string; amount: number }>; errors: string[] }

/** `reply` as expected, else noted in `errors` (the load goes on, the test fails at the end). */
function expect(progress: Progress, what: string, reply: Reply, status: number): boolean {
  if (reply.status === status) return true;
  progress.errors.push(`${what}: ${reply.status} ${JSON.stringify(reply.body).slice(0, 300)}`);
  return false;
}

/** One card payment at a register: the clerk's intent, the card's challenge, the signed card session. */
async function pay(balancer: Balancer, clerk: { cookie: string }, register: { token: string }, card: IssuedCertificate, amount: number, progress: Progress): Promise<void> {
  const intent = await balancer.post('/api/v1/merchant/payment-intents', { cookie: clerk.cookie }, { amount });
  if (!expect(progress, 'payment intent', intent, 201)) return;
  const device = { authorization: `Bearer ${register.token}` };
  const challenge = await balancer.post('/api/v1/auth/challenges', device, { purpose: 'payment', paymentIntentId: intent.body.intentId });
  if (!expect(progress, 'payment challenge', challenge, 201)) return;
  const receipt = await balancer.post('/api/v1/auth/card-sessions', device, cardProof(challenge.body, card));
  if (!expect(progress, 'payment', receipt, 201)) return;
  progress.receipts.push({ intentId: String(receipt.body.intentId), amount: Number(receipt.body.amount) });
  progress.payments++;
}

/** One repeat card login at the counter. */
async function login(balancer: Balancer, counter: { token: string }, card: IssuedCertificate, progress: Progress): Promise<string | undefined> {
  const device = { authorization: `Bearer ${counter.token}` };
  const challenge = await balancer.post('/api/v1/auth/challenges', device, { purpose: 'login' });
  if (!expect(progress, 'login challenge', challenge, 201)) return undefined;
  const session = await balancer.post('/api/v1/auth/card-sessions', device, cardProof(challenge.body, card));
  if (!expect(progress, 'login', session, 201)) return undefined;
  progress.logins++;
  return String(session.body.mykeyId);
}

/** The sum of a metric's series whose labels match, from a Prometheus text scrape. */
function total(scrape: string, metric: string, labels: RegExp = /.*/): number {
  let sum = 0;
  for (const line of scrape.split('\n')) {
    const series = /^([a-z_]+)(?:\{(.*)\})? (\S+)$/.exec(line);
    if (series?.[1] === metric && labels.test(series[2] ?? '')) sum += Number(series[3]);
  }
  return sum;
}

async function scrape(url: string): Promise<string> {
  const response = await fetch(url, { signal: AbortSignal.timeout(ATTEMPT_MS) });
  if (!response.ok) throw new Error(`${url}: ${response.status}`);
  return response.text();
}

/** Whether nothing answers at `url` any more (connection refused): what Prometheus records as the target down. */
const gone = (url: string) => fetch(url, { signal: AbortSignal.timeout(ATTEMPT_MS) }).then(() => false, () => true);

const serverErrors = async (url: string) => total(await scrape(url), 'mykey_http_requests_total', /status="5\d\d"/);
const redisErrors = async (url: string) => total(await scrape(url), 'mykey_queue_redis_errors_total');
const conversionsDone = async (url: string) => total(await scrape(url), 'mykey_queue_jobs_finished_total', /queue="conversions",outcome="completed"/);

const seconds = (from: number, to = Date.now()) => Math.round((to - from) / 100) / 10;

async function countOf(query: Knex.QueryBuilder): Promise<number> {
  const [row] = await query.clone().count({ n: '*' });
  return Number((row as { n: number | string }).n);
}

test('under payments, logins and conversions, a Galera node, the Redis master, a worker and an API server are killed: nothing is lost or doubled', async (t: ExecutionContext) => {
  t.timeout(420_000, 'the cluster, its load and four faults');
  const dir = path.join(dataDir, 'test', `cluster-faults-${randomBytes(4).toString('hex')}`);
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const started = Date.now();
  const profile = await freeClusterProfile(dir);
  const secretHex = randomBytes(32).toString('hex');
  const devCa = await ensureDevCa();
  const platform: ClusterPlatform = await startClusterPlatform(profile, [await freePort(), await freePort()], {
    NODE_ENV: 'test', LOG_LEVEL: 'warn', QUEUE_PREFIX: `cluster-faults-${randomBytes(4).toString('hex')}`,
    MYKEY_SECRET: secretHex, JPKI_CRL_FILES: devCa.crl, HEARTBEAT_INTERVAL_MS: '60000', ...WORKER_SETTINGS,
  }, { servers: [await freePort(), await freePort()], workers: [await freePort(), await freePort()] });
  t.teardown(() => platform.stop());
  const [server1, server2] = platform.apiUrls as [string, string];
  const metrics = platform.metricsUrls;
  const part = (name: string) => platform.children.find((child) => child.name === name)!;
  // Node 3 is never killed: the test reads the outcome there.
  const db = testPool(platform.cluster.databaseUrls[2]!);
  t.teardown(() => db.destroy());
  const figures: Record<string, unknown> = { bringUpSeconds: seconds(started) };
  t.log(`cluster and platform up in ${figures.bringUpSeconds} s`);

  // ---- the clients: registers and a counter, residents' cards, a partner ----
  const city = await signInStaff(server1, 'demo-city');
  const shop = await signInStaff(server1, 'demo-shop');
  const counter = await enrollDevice(server1, city, '窓口');
  const registers = [];
  for (let r = 0; r < REGISTERS; r++) registers.push(await enrollDevice(server1, shop, `レジ${r + 1}`));
  const ca = await loadCa(readFileSync(devCa.certificate, 'utf8'), readFileSync(devCa.key, 'utf8'));
  const cards = await Promise.all(Array.from({ length: CARDS }, () => issueCertificate(ca)));
  const balancer = new Balancer([server1, server2]);
  const progress: Progress = { payments: 0, logins: 0, receipts: [], errors: [] };
  // Each card's first login issues its MyKey ID.
  const mykeyIds: string[] = [];
  for (const card of cards) mykeyIds.push((await login(balancer, counter, card, progress))!);
  t.deepEqual(progress.errors, [], 'every first login');

  // The operator's commands, on node 3, with the deployment's secret (it keys the audit chain);
  // as development, which alone allows the partner's webhook on plain http.
  const command = (...args: string[]) => promisify(execFile)(process.execPath, ['scripts/bootstrap.mjs', ...args], {
    cwd: rootDir, env: { ...process.env, DATABASE_URL: platform.cluster.databaseUrls[2]!, NODE_ENV: 'development', MYKEY_SECRET: secretHex, AUDIT_EXPORT_DIR: path.join(dir, 'audit-heads') },
  });
  // The partner is issued its API secret as an operator does, naming the simulator's webhook
  // receiver, which then listens there.
  const webhookPort = await freePort();
  const webhookUrl = `http://127.0.0.1:${webhookPort}/partner-webhooks`;
  const issued = await command('scripts/mykey.ts', 'partner-secret', DEMO_PARTNER.slug, '--webhook-url', webhookUrl);
  const identity = { partner: DEMO_PARTNER.slug, key: partnerKey(JSON.parse(issued.stdout).apiSecret) };
  const receiver = new WebhookReceiver(identity, new URL(webhookUrl).pathname);
  t.teardown(() => receiver.stop());
  t.is(await receiver.start(webhookPort), webhookUrl);
  const partner = new PartnerClient({ ...identity, baseUrl: server1, otherUrls: [server2], timeoutMs: ATTEMPT_MS, retryForMs: GIVE_UP_MS });
  const sim = new PartnerSimulator(partner, receiver);
  const traffic: TrafficReport[] = [];
  const { id: partnerId } = await db('partners').where({ slug: DEMO_PARTNER.slug }).first('id');
  const partnerRequests = db('conversion_requests').where({ partner_id: partnerId });
  const accepted = () => [...sim.sent.values()].filter((sent) => sent.conversionId !== undefined).length;
  const credited = (since?: Date) => countOf(since ? partnerRequests.clone().where({ state: 'credited' }).where('accepted_at', '>=', since) : partnerRequests.clone().where({ state: 'credited' }));

  // Points to pay with: two large conversions per resident, credited before the load starts.
  traffic.push(await sim.run({ count: 2 * CARDS, mykeyIds, municipality: DEMO_MUNICIPALITY.code, concurrency: 6, txPrefix: `fund-${randomBytes(4).toString('hex')}`, partnerPoints: () => 20_000 }));
  await waitFor('the residents\' points to be credited', async () => (await credited()) === accepted(), 90_000);

  // ---- the load, until told to stop ----
  let stopping = false;
  const loads = [
    ...registers.map(async (register, r) => {
      for (let n = 0; !stopping; n++) await pay(balancer, shop, register, cards[(r + n * REGISTERS) % CARDS]!, 1 + ((n * 7 + r) % 30), progress);
    }),
    (async () => {
      for (let n = 0; !stopping; n++) await login(balancer, counter, cards[n % CARDS]!, progress);
    })(),
    (async () => {
      for (let n = 0; !stopping; n++) {
        traffic.push(await sim.run({ count: 30, mykeyIds, municipality: DEMO_MUNICIPALITY.code, ratePerSecond: 15, concurrency: 6, duplicateFraction: 0.2, txPrefix: `load-${n}-${randomBytes(3).toString('hex')}` }));
      }
    })(),
  ];
  const load = Promise.all(loads);
  load.catch(() => {}); // a client that gave up is told when the load is awaited
  const partnerRetries = () => partner.retries.serverErrors + partner.retries.timeouts + partner.retries.connectionErrors;

  /** Waits until payments, logins and acknowledged conversions have each gone on. */
  const flowing = async (what: string) => {
    const [payments, logins, acks] = [progress.payments, progress.logins, accepted()];
    await waitFor(what, async () => progress.payments >= payments + REGISTERS && progress.logins >= logins + 2 && accepted() >= acks + 5, 120_000);
  };

  /** Runs a fault and notes its figures: the clients' refusals and the partner's retries while it lasted. */
  const fault = async (name: string, run: () => Promise<Record<string, number>>) => {
    balancer.phase = name;
    const retriesBefore = partnerRetries();
    const at = Date.now();
    const measured = await run();
    const tally = balancer.refusals.get(name) ?? { refused: 0, unanswered: 0 };
    figures[name] = { ...measured, ...tally, partnerRetries: partnerRetries() - retriesBefore, seconds: seconds(at) };
    t.log(`${name}: ${JSON.stringify(figures[name])}`);
    balancer.phase = `after ${name}`;
  };

  await flowing('the load to flow through both servers');

  // 1. Galera node 2, server 2's only node. Server 2 refuses with 5xx (its /readyz says so) and
  //    the clients go to server 1; the node, started again, rejoins by state transfer.
  await fault('galera node 2 killed', async () => {
    const errorsBefore = await serverErrors(metrics.server2!);
    const killedAt = Date.now();
    await platform.cluster.kill({ node: 1 });
    await waitFor('server 2 to refuse while its node is down', async () => (await serverErrors(metrics.server2!)) > errorsBefore, 60_000);
    t.pass('server 2\'s 5xx answers are on its scrape');
    await flowing('the load to go on through server 1');
    const restartAt = Date.now();
    await platform.cluster.restartNode(1);
    const synced = seconds(restartAt);
    await waitFor('server 2 to answer again', async () => (await fetch(`${server2}/readyz`)).ok, 60_000);
    return { secondsToSynced: synced, secondsUntilServer2Answers: seconds(killedAt), server2Errors: (await serverErrors(metrics.server2!)) - errorsBefore };
  });
  await flowing('the load to flow again');

  // 2. The Redis master: the Sentinels promote the replica, ioredis follows them, and conversions
  //    accepted meanwhile are queued (by the sweeper, if the add was lost) and credited. Then the
  //    old master comes back and is made a replica.
  await fault('redis master killed', async () => {
    const masterPort = await sentinelMasterPort(profile);
    const errorsBefore = await redisErrors(metrics.worker2!);
    const killedAt = Date.now();
    await platform.cluster.kill({ redisPort: masterPort });
    await waitFor('the Sentinels to promote the replica', async () => (await sentinelMasterPort(profile)) !== masterPort, 60_000);
    const promoted = seconds(killedAt);
    await waitFor('a conversion accepted after the kill to be credited', async () => (await credited(new Date(killedAt))) > 0, 90_000);
    const creditedAgain = seconds(killedAt);
    // Every queue connection of every part follows the new master. One ioredis gave up on ('end')
    // would leave its queue idle until a restart: CI once lost a worker's sweeper so.
    const settled = await waitFor('every queue connection of the servers and workers to be ready again, or given up', async () => {
      const scrapes = await Promise.all(Object.values(metrics).map((url) => scrape(url)));
      const count = (status: RegExp) => scrapes.reduce((sum, text) => sum + total(text, 'mykey_queue_redis_connections', status), 0);
      return count(/status="(?!ready"|end")/) === 0 && { ready: count(/status="ready"/), ended: count(/status="end"/) };
    }, 60_000);
    t.is(settled.ended, 0, `no queue connection given up (${settled.ready} ready)`);
    const connectedAgain = seconds(killedAt);
    await waitFor('the queues\' Redis errors on the worker\'s scrape', async () => (await redisErrors(metrics.worker2!)) > errorsBefore, 30_000);
    t.pass('the lost Redis is on the worker\'s scrape');
    const workerRedisErrors = (await redisErrors(metrics.worker2!)) - errorsBefore;
    // The old master started again, from its own data: the Sentinels make it a replica of the new
    // one, and the platform goes on with the new master (what it wrote meanwhile is not undone).
    const restartedAt = new Date();
    await platform.cluster.restartRedis(masterPort);
    const replicaAgain = seconds(restartedAt.getTime());
    t.is(await sentinelMasterPort(profile), profile.redis.replica, 'the Sentinels still name the promoted replica');
    await waitFor('a conversion accepted after the old master came back to be credited', async () => (await credited(restartedAt)) > 0, 90_000);
    return { secondsToPromotion: promoted, secondsUntilCreditedAgain: creditedAgain, secondsUntilQueuesConnected: connectedAgain, workerRedisErrors, secondsUntilOldMasterIsReplica: replicaAgain };
  });
  await flowing('the load to flow again');

  // 3. Worker 1: worker 2 carries on; the jobs worker 1 held are stalled until their lock runs
  //    out, then Bull hands them to worker 2 (waited for at the end, not here).
  let stalledTakenOver: Promise<number> | undefined;
  await fault('worker 1 killed', async () => {
    const doneBefore = await conversionsDone(metrics.worker2!);
    const killedAt = Date.now();
    part('worker1').process.kill('SIGKILL');
    await part('worker1').exited;
    const pendingAtKill = partnerRequests.clone().where({ state: 'accepted' }).where('accepted_at', '<', new Date(killedAt));
    stalledTakenOver = waitFor('every conversion accepted before the kill to be credited', async () => (await countOf(pendingAtKill)) === 0, 150_000).then(() => seconds(killedAt));
    stalledTakenOver.catch(() => {});
    await waitFor('worker 1\'s scrape to fail', () => gone(metrics.worker1!), 30_000);
    await waitFor('a conversion accepted after the kill to be credited', async () => (await credited(new Date(killedAt))) > 0, 90_000);
    const creditedAgain = seconds(killedAt);
    await waitFor('worker 2 to carry on, on its scrape', async () => (await conversionsDone(metrics.worker2!)) > doneBefore, 30_000);
    t.pass('worker 1 is gone from the scrape, worker 2 completes conversions');
    return { secondsUntilCreditedAgain: creditedAgain };
  });
  await flowing('the load to flow again');

  // 4. API server 1: the clients send everything to server 2.
  await fault('api server 1 killed', async () => {
    const answeredBefore = total(await scrape(metrics.server2!), 'mykey_http_requests_total');
    const killedAt = Date.now();
    part('server1').process.kill('SIGKILL');
    await part('server1').exited;
    await waitFor('server 1\'s scrape to fail', () => gone(metrics.server1!), 30_000);
    await flowing('the load to go on through server 2');
    const flowingAgain = seconds(killedAt);
    t.true(total(await scrape(metrics.server2!), 'mykey_http_requests_total') > answeredBefore, 'server 2 answers what server 1 did');
    return { secondsUntilLoadFlows: flowingAgain };
  });

  // ---- the outcome ----
  stopping = true;
  await load;
  figures['stalled jobs of worker 1'] = { secondsUntilCredited: await stalledTakenOver! };
  t.deepEqual(progress.errors, [], 'every payment and login the clients made succeeded, failing over as it had to');
  const acknowledgedIds = [...sim.sent.values()].filter((sent) => sent.conversionId !== undefined).map((sent) => sent.body.partnerTxId);
  for (const report of traffic) {
    t.deepEqual(report.unacknowledged, [], 'the partner got an answer for every conversion');
    t.deepEqual(report.inconsistent, [], 'every answer to a conversion and its duplicates was 202 with one conversion id');
  }
  await waitFor('every accepted conversion to be processed', async () => (await countOf(partnerRequests.clone().whereNot({ state: 'accepted' }))) === acknowledgedIds.length, 150_000);
  await receiver.waitForOutcomes(acknowledgedIds, 90_000);
  const reconciled = await sim.reconcile();
  t.like(reconciled, { credited: acknowledgedIds.length, rejected: 0, pending: [], mismatches: [], missingWebhooks: [], storedRefusals: [] });
  t.deepEqual(receiver.disagreements, [], 'repeated webhooks agree with the first');

  // Exactly once, by the ledger: one conversion entry per credited request the partner was told
  // 202 for, none else; one payment entry per receipt, none else.
  const requests = await partnerRequests.clone().select('id', 'partner_tx_id', 'state');
  t.is(requests.length, acknowledgedIds.length, 'one stored request per conversion acknowledged');
  t.deepEqual(requests.map((row: { partner_tx_id: string }) => row.partner_tx_id).sort(), acknowledgedIds.sort());
  /** Each reference of the ledger's entries of `kind`, with how many entries it has, sorted. */
  const entriesBy = async (kind: string) => (await db('ledger_entries').where({ kind }).groupBy('reference').select('reference', db.raw('COUNT(*) AS n')))
    .map((row: { reference: string; n: number | string }) => `${row.reference} ×${Number(row.n)}`).sort();
  const once = (references: string[]) => references.map((reference) => `${reference} ×1`).sort();
  t.deepEqual(await entriesBy('conversion'), once(requests.map((row: { id: number }) => conversionReference(Number(row.id)))), 'each conversion credited exactly once');
  t.deepEqual(await entriesBy('payment'), once(progress.receipts.map((receipt) => `payment:${receipt.intentId}`)), 'each receipt is one payment in the ledger');

  for (const args of [['scripts/ledger.ts', 'check'], ['scripts/mykey.ts', 'audit-verify']]) {
    const { stdout } = await command(...args);
    t.true(JSON.parse(stdout).ok, `${args.join(' ')}: ${stdout}`);
  }

  Object.assign(figures, {
    payments: progress.payments, logins: progress.logins, conversions: acknowledgedIds.length,
    partnerRequests: traffic.reduce((sum, report) => sum + report.requests, 0), totalSeconds: seconds(started),
  });
  t.log(`figures: ${JSON.stringify({ clusterFaults: figures })}`);
});
