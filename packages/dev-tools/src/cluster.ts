// A MariaDB Galera cluster of three nodes and a Redis master with one replica and three
// Sentinels, all on loopback, for `npm run cluster` and the cluster test (docs/operations.md#cluster).
// Started like services.ts starts the single MariaDB and Redis: detached, data and logs under one
// folder, waiting for conditions; `stop()` stops what it started, in order.
import { existsSync, mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import knex from 'knex';
import { execFile, spawnSync } from 'node:child_process';
import { promisify } from 'node:util';
import { ensureDebianPackages } from './debian.mjs';
import { freePort } from './ports.ts';
import { alivePid, mariadbArgs, mariadbUrl, portOpen, startDetached, stopPid, stopRedis } from './services.ts';
import { waitFor } from './wait.ts';

export const GALERA_PROVIDER = '/usr/lib/galera/libgalera_smm.so';
export const SENTINEL_NAME = 'mykey';

/**
 * The account a Galera node runs as when started by root. The joiner's rsync daemon, started as
 * root, writes as nobody and cannot make the data folder's directories; as this account (the one
 * Debian's mariadb-server makes) it writes as the owner of the folder.
 */
const SST_ACCOUNT = 'mysql';

/** A Galera node's ports: clients, group communication, incremental (IST) and full (SST) state transfer. */
export interface GaleraPorts { client: number; group: number; ist: number; sst: number }

/** Which of the three Galera nodes. */
export type NodeIndex = 0 | 1 | 2;

export interface ClusterProfile {
  dataDir: string;
  nodes: [GaleraPorts, GaleraPorts, GaleraPorts];
  redis: { master: number; replica: number; sentinels: [number, number, number] };
}

export interface Cluster {
  /** The application's DATABASE_URL on each node. */
  databaseUrls: string[];
  /** REDIS_SENTINELS and REDIS_SENTINEL_NAME for the platform's processes. */
  redisEnv: { REDIS_SENTINELS: string; REDIS_SENTINEL_NAME: string };
  /** Stops one Galera node (SIGTERM); the others carry on as the cluster. */
  stopNode(index: NodeIndex): Promise<void>;
  /** Kills one part with SIGKILL, as a crash would: a Galera node, or the Redis server on `redisPort`. */
  kill(part: { node: NodeIndex } | { redisPort: number }): Promise<void>;
  /** Starts a stopped or killed Galera node again; resolves once it has rejoined the others and is Synced. */
  restartNode(index: NodeIndex): Promise<void>;
  /**
   * Starts the killed Redis server on `port` again, from its own data, as it was configured at
   * first; resolves once the Sentinels have made it a replica of the master they now name.
   */
  restartRedis(port: number): Promise<void>;
  /** Stops everything this call started: Sentinels, Redis, then the Galera nodes joined last first. */
  stop(): Promise<void>;
}

/** The cluster `npm run cluster` starts: ports from 4600 (MariaDB) and 26600 (Redis), data under .data/cluster. */
export function clusterProfile(dataDir: string, mariadbBase = 4600, redisBase = 26600): ClusterProfile {
  const node = (n: number): GaleraPorts => ({ client: mariadbBase + n * 10, group: mariadbBase + n * 10 + 1, ist: mariadbBase + n * 10 + 2, sst: mariadbBase + n * 10 + 3 });
  return {
    dataDir,
    nodes: [node(0), node(1), node(2)],
    redis: { master: redisBase, replica: redisBase + 1, sentinels: [redisBase + 11, redisBase + 12, redisBase + 13] },
  };
}

/** The cluster on free loopback ports (for tests), its data under `dataDir`. */
export async function freeClusterProfile(dataDir: string): Promise<ClusterProfile> {
  const galera = async (): Promise<GaleraPorts> => ({ client: await freePort(), group: await freePort(), ist: await freePort(), sst: await freePort() });
  return {
    dataDir,
    nodes: [await galera(), await galera(), await galera()],
    redis: { master: await freePort(), replica: await freePort(), sentinels: [await freePort(), await freePort(), await freePort()] },
  };
}

/** A part running: `stop` ends it gracefully, as that kind of server must be asked. */
interface Started { what: string; pid: number; stop(): Promise<void> }

const nodeName = (index: NodeIndex) => `Galera node ${index + 1}`;
const redisName = (profile: ClusterProfile, port: number) => (port === profile.redis.master ? 'Redis master' : 'Redis replica');

/** Takes the part named `what` off the list of those running, to be stopped or killed. */
function takePart(started: Started[], what: string): Started | undefined {
  const part = started.find((candidate) => candidate.what === what);
  if (part) started.splice(started.indexOf(part), 1);
  return part;
}

/** Sends SIGKILL to a part, as a crash would, and waits until it is gone. */
async function killPart(started: Started[], what: string): Promise<void> {
  const part = takePart(started, what);
  if (!part) throw new Error(`${what} is not running`);
  await stopPid(part.pid, what, 'SIGKILL');
}

async function stopAll(started: Started[]): Promise<void> {
  for (const part of started.reverse()) await part.stop();
  started.length = 0;
}

/**
 * Galera's settings for a node. Row-based binary log, interleaved auto-increment locks and InnoDB
 * are what Galera replicates; wsrep_sync_wait=1 makes a read wait until the node has applied what
 * the cluster committed before it, so a request on one node sees what the last request, served by
 * another node, wrote (a staff session, a grant): the platform reads its own writes unchanged.
 */
function galeraArgs(profile: ClusterProfile, index: NodeIndex, bootstrap: boolean): string[] {
  const own = profile.nodes[index];
  const members = profile.nodes.map((node) => `127.0.0.1:${node.group}`).join(',');
  return [
    '--wsrep-on=ON', `--wsrep-provider=${GALERA_PROVIDER}`, '--wsrep-cluster-name=mykey',
    `--wsrep-cluster-address=gcomm://${members}`, `--wsrep-node-name=node${index + 1}`,
    `--wsrep-node-address=127.0.0.1:${own.group}`,
    `--wsrep-provider-options=gmcast.listen_addr=tcp://127.0.0.1:${own.group};ist.recv_addr=127.0.0.1:${own.ist}`,
    '--wsrep-sst-method=rsync', `--wsrep-sst-receive-address=127.0.0.1:${own.sst}`,
    '--binlog-format=ROW', '--default-storage-engine=InnoDB', '--innodb-autoinc-lock-mode=2',
    '--wsrep-sync-wait=1',
    // A table without a primary key is refused, not replicated row by row with full scans.
    '--wsrep-mode=REQUIRED_PRIMARY_KEY',
    ...(bootstrap ? ['--wsrep-new-cluster'] : []),
  ];
}

/** Whether a node has joined the cluster and takes application connections (wsrep_ready, synced). */
async function nodeSynced(databaseUrl: string): Promise<boolean> {
  const db = knex({ client: 'mysql2', connection: databaseUrl, pool: { min: 0, max: 1 } });
  try {
    const [rows] = await db.raw("SHOW GLOBAL STATUS WHERE Variable_name IN ('wsrep_ready', 'wsrep_local_state_comment')");
    const status = new Map((rows as Array<{ Variable_name: string; Value: string }>).map((row) => [row.Variable_name, row.Value]));
    return status.get('wsrep_ready') === 'ON' && status.get('wsrep_local_state_comment') === 'Synced';
  } finally {
    await db.destroy();
  }
}

/** Starts node `index`; `bootstrap`: it forms a new cluster (the first node, at the first start) instead of joining one. */
async function startNode(profile: ClusterProfile, index: NodeIndex, bootstrap: boolean): Promise<Started> {
  const dir = path.join(profile.dataDir, `galera${index + 1}`);
  const ports = profile.nodes[index];
  const pidFile = path.join(dir, 'mariadbd.pid');
  if (alivePid(pidFile)) throw new Error(`Galera node ${index + 1} is already running (${pidFile}); stop the other npm run cluster first.`);
  for (const port of Object.values(ports)) {
    if (await portOpen(port)) throw new Error(`Port ${port} is taken by another program (Galera node ${index + 1}); docs/operations.md#cluster.`);
  }
  // Only the node that bootstraps makes the application user and database; the others get
  // them, with everything else, by state transfer when they join.
  const args = [...mariadbArgs(dir, ports.client, { initFile: bootstrap, rootAs: SST_ACCOUNT }), ...galeraArgs(profile, index, bootstrap)];
  if (process.getuid?.() === 0) spawnSync('chown', ['-R', `${SST_ACCOUNT}:`, dir]);
  const child = startDetached('mariadbd', args, path.join(dir, 'mariadbd.log'));
  console.log(`[cluster] starting Galera node ${index + 1} on 127.0.0.1:${ports.client} (log: ${path.join(dir, 'mariadbd.log')})`);
  const started = { what: nodeName(index), pid: child.pid!, stop: () => stopPid(child.pid!, nodeName(index)) };
  // A joining node first copies the whole data folder (SST): slow on a busy machine.
  await waitFor(`Galera node ${index + 1} to join the cluster`, async () => {
    if (child.exitCode !== null || child.signalCode !== null) throw new Error(`Galera node ${index + 1} exited; see ${path.join(dir, 'mariadbd.log')}`);
    return (await portOpen(ports.client)) && nodeSynced(mariadbUrl(ports.client));
  }, 180_000);
  return started;
}

/** Starts the profile's Redis master or replica on `port`, from its own folder, configured as at first (the replica of the first master). */
function startRedis(profile: ClusterProfile, port: number): Started {
  const isMaster = port === profile.redis.master;
  const dir = path.join(profile.dataDir, isMaster ? 'redis-master' : 'redis-replica');
  const extra = isMaster ? [] : ['--replicaof', '127.0.0.1', String(profile.redis.master)];
  const what = redisName(profile, port);
  mkdirSync(dir, { recursive: true });
  // Append-only file: queued jobs survive a restart of Redis (the ledger never depends on it).
  const child = startDetached('redis-server', ['--port', String(port), '--bind', '127.0.0.1', '--dir', dir,
    '--pidfile', path.join(dir, 'redis.pid'), '--appendonly', 'yes', '--save', '', '--daemonize', 'no', ...extra],
  path.join(dir, 'redis.log'));
  console.log(`[cluster] starting ${what} on 127.0.0.1:${port}`);
  return { what, pid: child.pid!, stop: () => stopRedis(child.pid!, what) };
}

/**
 * A Sentinel: redis-server in sentinel mode (what Debian's redis-sentinel runs). Its configuration
 * file is written once: Sentinel rewrites it with what it learns (the current master after a
 * failover, the other Sentinels), and a restart must keep that.
 */
function startSentinel(dir: string, port: number, masterPort: number, what: string): Started {
  mkdirSync(dir, { recursive: true });
  const conf = path.join(dir, 'sentinel.conf');
  if (!existsSync(conf)) {
    writeFileSync(conf, [
      `port ${port}`, 'bind 127.0.0.1', `dir ${dir}`, `pidfile ${path.join(dir, 'sentinel.pid')}`, 'daemonize no',
      `sentinel monitor ${SENTINEL_NAME} 127.0.0.1 ${masterPort} 2`,
      // Quick enough to see a failover in a test; a production deployment chooses its own.
      `sentinel down-after-milliseconds ${SENTINEL_NAME} 3000`,
      `sentinel failover-timeout ${SENTINEL_NAME} 20000`,
      '',
    ].join('\n'));
  }
  const child = startDetached('redis-server', [conf, '--sentinel'], path.join(dir, 'sentinel.log'));
  console.log(`[cluster] starting ${what} on 127.0.0.1:${port}`);
  return { what, pid: child.pid!, stop: () => stopRedis(child.pid!, what) };
}

/** Whether a Sentinel knows the master and at least one replica (redis-cli comes with redis-server). */
async function sentinelReady(port: number): Promise<boolean> {
  const ask = async (...args: string[]) => (await promisify(execFile)('redis-cli', ['-p', String(port), 'SENTINEL', ...args, SENTINEL_NAME])).stdout.trim();
  return (await ask('get-master-addr-by-name')) !== '' && (await ask('replicas')) !== '';
}

/** The replication role a Redis server reports (master, slave), or undefined while it does not answer. */
async function redisRole(port: number): Promise<string | undefined> {
  const { stdout } = await promisify(execFile)('redis-cli', ['-p', String(port), 'ROLE']).catch(() => ({ stdout: '' }));
  return stdout.split('\n')[0]?.trim() || undefined;
}

/** The port of the Redis master the Sentinels name now, asking the first. */
export async function sentinelMasterPort(profile: ClusterProfile): Promise<number> {
  const { stdout } = await promisify(execFile)('redis-cli', ['-p', String(profile.redis.sentinels[0]), 'SENTINEL', 'get-master-addr-by-name', SENTINEL_NAME]);
  return Number(stdout.trim().split('\n')[1]);
}

async function startRedisGroup(profile: ClusterProfile, started: Started[]): Promise<void> {
  const { master, replica, sentinels } = profile.redis;
  for (const port of [master, replica, ...sentinels]) {
    if (await portOpen(port)) throw new Error(`Port ${port} is taken by another program (Redis); docs/operations.md#cluster.`);
  }
  started.push(startRedis(profile, master));
  started.push(startRedis(profile, replica));
  await waitFor('Redis master and replica to listen', async () => (await portOpen(master)) && portOpen(replica));
  sentinels.forEach((port, index) => {
    started.push(startSentinel(path.join(profile.dataDir, `sentinel${index + 1}`), port, master, `Sentinel ${index + 1}`));
  });
  await waitFor('the Sentinels to know the master and its replica', async () =>
    (await Promise.all(sentinels.map((port) => sentinelReady(port)))).every(Boolean), 120_000);
}

/** Starts the cluster: the Galera nodes one after the other (the first bootstraps), then Redis and its Sentinels. */
export async function startCluster(profile: ClusterProfile): Promise<Cluster> {
  ensureDebianPackages([
    { pkg: 'mariadb-server', provides: 'mariadbd' },
    { pkg: 'galera-4', provides: GALERA_PROVIDER },
    { pkg: 'rsync', provides: 'rsync' },
    { pkg: 'redis-server', provides: 'redis-server' },
  ]);
  const started: Started[] = [];
  try {
    for (const index of [0, 1, 2] as const) started.push(await startNode(profile, index, index === 0));
    await startRedisGroup(profile, started);
  } catch (error) {
    await stopAll(started);
    throw error;
  }
  return {
    databaseUrls: profile.nodes.map((node) => mariadbUrl(node.client)),
    redisEnv: {
      REDIS_SENTINELS: profile.redis.sentinels.map((port) => `127.0.0.1:${port}`).join(','),
      REDIS_SENTINEL_NAME: SENTINEL_NAME,
    },
    stopNode: async (index) => {
      const node = takePart(started, nodeName(index));
      if (node) await node.stop();
    },
    kill: (part) => killPart(started, 'node' in part ? nodeName(part.node) : redisName(profile, part.redisPort)),
    restartNode: async (index) => {
      // Rejoining, it is given the state it missed by the others (IST, or SST after a crash).
      started.push(await startNode(profile, index, false));
    },
    restartRedis: async (port) => {
      const what = redisName(profile, port);
      started.push(startRedis(profile, port));
      // Back as the master it was, it is a master no Sentinel names: they reconfigure it (+convert-to-slave).
      await waitFor(`the Sentinels to make the restarted ${what} a replica`, async () => (await redisRole(port)) === 'slave', 60_000);
    },
    stop: () => stopAll(started),
  };
}
