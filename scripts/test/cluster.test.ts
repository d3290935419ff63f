// The platform unchanged on a three-node Galera cluster and Redis with Sentinels (npm run cluster's
// parts, on free ports, docs/operations.md#cluster): what one API server writes through its node,
// the other reads through another; the workers' jobs come through the Sentinels' Redis, and
// still do when the Sentinels move the master; a certification conflict between two nodes is
// retried like a deadlock, and audited calls through both servers at once all succeed; with one
// node stopped the platform still answers; the ledger and the audit chain check clean.
import test from 'ava';
import { execFile } from 'node:child_process';
import { randomBytes, randomUUID } from 'node:crypto';
import { rmSync } from 'node:fs';
import path from 'node:path';
import { promisify } from 'node:util';
import { SENTINEL_NAME, freeClusterProfile } from '@mykey/dev-tools/cluster.ts';
import { dataDir, rootDir } from '@mykey/dev-tools/paths.ts';
import { freePort } from '@mykey/dev-tools/ports.ts';
import { waitFor } from '@mykey/dev-tools/wait.ts';
import { retryTransient } from '@mykey/backend/db.ts';
import { testPool } from '@mykey/backend/test/helpers/env.ts';
import { staffCookie } from '@mykey/backend/test/helpers/staff.ts';
import { startClusterPlatform } from '../lib/cluster-platform.ts';

async function getJson(url: string, cookie: string): Promise<{ status: number; body: any }> {
  const response = await fetch(url, { headers: { cookie } });
  return { status: response.status, body: await response.json() };
}

test('the platform runs unchanged on a Galera cluster and Redis with Sentinels', async (t) => {
  const dir = path.join(dataDir, 'test', `cluster-${randomBytes(4).toString('hex')}`);
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const started = Date.now();
  const profile = await freeClusterProfile(dir);
  const platform = await startClusterPlatform(profile, [await freePort(), await freePort()], {
    NODE_ENV: 'test', LOG_LEVEL: 'warn', HEARTBEAT_INTERVAL_MS: '500', QUEUE_PREFIX: `cluster-${randomBytes(4).toString('hex')}`,
  });
  t.teardown(() => platform.stop());
  const [serverA, serverB] = platform.apiUrls as [string, string];
  const [node1, node2, node3] = platform.cluster.databaseUrls as [string, string, string];
  const nodes = [testPool(node1), testPool(node2), testPool(node3)] as const;
  t.teardown(() => Promise.all(nodes.map((db) => db.destroy())));

  // A sign-in through server A (node 1), with its authenticator enrolled: a session, a secret and
  // audit events written there; server B (node 2) knows the session at once.
  const cookie = await staffCookie(serverA, 'demo-city');
  const seen = await getJson(`${serverB}/api/v1/staff/session`, cookie);
  t.is(seen.status, 200, JSON.stringify(seen.body));
  t.is(seen.body.staff.loginId, 'demo-city');

  // The workers (nodes 3 and 1) take the heartbeat's jobs from the Redis the Sentinels name.
  await waitFor('a worker\'s heartbeat through the Sentinels\' Redis', async () =>
    (await nodes[1]('worker_heartbeats').where('beat_at', '>=', new Date(started)).first()) !== undefined, 60_000);

  // A certification conflict: node 1 commits a change to a row that a transaction on node 2 has
  // changed too; node 2's transaction fails with ER_LOCK_DEADLOCK and retryTransient runs it again.
  await nodes[0].schema.createTable('galera_probe', (table) => { table.integer('id').primary(); table.integer('n').notNullable(); });
  await nodes[0]('galera_probe').insert({ id: 1, n: 0 });
  const failures: string[] = [];
  let attempts = 0;
  await retryTransient(() => nodes[1].transaction(async (trx) => {
    attempts += 1;
    await trx('galera_probe').where({ id: 1 }).increment('n', 1);
    if (attempts === 1) await nodes[0]('galera_probe').where({ id: 1 }).increment('n', 10);
  }).catch((error: { code?: string }) => { failures.push(error.code ?? String(error)); throw error; }));
  t.deepEqual(failures, ['ER_LOCK_DEADLOCK'], 'Galera reports the conflict as a deadlock');
  t.is((await nodes[2]('galera_probe').where({ id: 1 }).first()).n, 11, 'both changes, once each, on every node');

  // Audited writes through both servers at once: each appends to the one audit chain, so those
  // committed on two nodes together conflict at certification; the losers are run again, none fails.
  const codes = await Promise.all(Array.from({ length: 24 }, (_, i) => fetch(`${i % 2 ? serverB : serverA}/api/v1/staff/device-enrollment-codes`, {
    method: 'POST', headers: { cookie, 'Content-Type': 'application/json', 'Idempotency-Key': randomUUID() }, body: JSON.stringify({ name: `窓口${i}` }),
  }).then((response) => response.status)));
  t.deepEqual(codes, codes.map(() => 201));
  // The append-only triggers came with the schema to every node, and refuse there too.
  await t.throwsAsync(nodes[2].raw('UPDATE audit_events SET seq = seq ORDER BY seq DESC LIMIT 1'), { message: /append-only/ });

  // The Sentinels make the replica the master: the servers and the workers follow, unrestarted.
  const sentinel = (...args: string[]) => promisify(execFile)('redis-cli', ['-p', String(profile.redis.sentinels[0]), 'SENTINEL', ...args, SENTINEL_NAME]);
  await sentinel('failover');
  await waitFor('the replica to become the master', async () => (await sentinel('get-master-addr-by-name')).stdout.includes(String(profile.redis.replica)), 60_000);
  const failedOver = new Date();
  await waitFor('a heartbeat through the new master', async () =>
    (await nodes[2]('worker_heartbeats').where('beat_at', '>', failedOver).first()) !== undefined, 60_000);
  await waitFor('both servers ready on the new master', async () =>
    (await Promise.all([serverA, serverB].map(async (url) => (await fetch(`${url}/readyz`)).ok))).every(Boolean), 60_000);

  // Node 1 stops: server B and node 3 carry on; a sign-in through B is a write on the cluster left.
  await platform.cluster.stopNode(0);
  t.is((await getJson(`${serverB}/api/v1/staff/session`, cookie)).status, 200);
  const shop = await staffCookie(serverB, 'demo-shop');
  t.is((await getJson(`${serverB}/api/v1/staff/session`, shop)).body.staff.loginId, 'demo-shop');

  // The ledger keeps its invariants, and the audit chain, appended to from two nodes at once, is
  // one unbroken chain matching the heads the workers exported.
  const command = (...args: string[]) => promisify(execFile)(process.execPath, ['scripts/bootstrap.mjs', ...args],
    { cwd: rootDir, env: { ...process.env, DATABASE_URL: node3, NODE_ENV: 'test', AUDIT_EXPORT_DIR: path.join(dir, 'audit-heads') } });
  for (const args of [['scripts/ledger.ts', 'check'], ['scripts/mykey.ts', 'audit-verify']]) {
    const { stdout } = await command(...args);
    t.true(JSON.parse(stdout).ok, `${args.join(' ')}: ${stdout}`);
  }
});
