// The platform on a cluster, for `npm run cluster` and its test: the Galera nodes and Redis with
// Sentinels (dev-tools/cluster.ts), the schema and the demo towns migrated and seeded through the
// first node, two API servers each on its own node, and two workers on the others, all on the
// Redis the Sentinels name (docs/operations.md#cluster).
import path from 'node:path';
import { startCluster, type Cluster, type ClusterProfile, type NodeIndex } from '@mykey/dev-tools/cluster.ts';
import { migrateAndSeed } from '@mykey/backend/database-admin.ts';
import { waitFor } from '@mykey/dev-tools/wait.ts';
import { backendNodeArgs } from '@mykey/dev-tools/backend-command.ts';
import { startChild, stopChild, type Child } from './children.ts';
import { developmentJpkiEnv } from './jpki.ts';

/** Which node each part uses: the API servers on nodes 1 and 2, the workers on nodes 3 and 1. */
const SERVER_NODES: readonly NodeIndex[] = [0, 1];
const WORKER_NODES: readonly NodeIndex[] = [2, 0];

export interface ClusterPlatform {
  cluster: Cluster;
  /** The API servers' base URLs, in the order of SERVER_NODES. */
  apiUrls: string[];
  children: Child[];
  /** Each part's metrics endpoint by its name (server1, worker2…), when ports for them were given. */
  metricsUrls: Record<string, string>;
  /** Resolves when a part exits, naming it. */
  anyExit: Promise<string>;
  /** Stops the servers and workers, then the cluster; data stays in place. */
  stop(): Promise<void>;
}

async function apiReady(url: string): Promise<boolean> {
  return (await fetch(`${url}/readyz`)).ok;
}

/** METRICS_PORT of each API server and each worker, in the order of SERVER_NODES and WORKER_NODES. */
export interface MetricsPorts { servers: [number, number]; workers: [number, number] }

/**
 * Starts the cluster and the platform on it. `env`: added to every part's environment (the test's
 * quieter log, a shorter heartbeat); `metricsPorts`: where each part serves its metrics (none
 * unless given). Everything started is stopped again if a part fails to start.
 */
export async function startClusterPlatform(profile: ClusterProfile, apiPorts: [number, number], env: Record<string, string> = {}, metricsPorts?: MetricsPorts): Promise<ClusterPlatform> {
  const cluster = await startCluster(profile);
  const children: Child[] = [];
  const stop = async () => {
    await Promise.all(children.map((child) => stopChild(child)));
    await cluster.stop();
  };
  try {
    await migrateAndSeed(cluster.databaseUrls[0]!, { seed: true });
    const common = {
      // Development, said explicitly (the demo towns' published password): an unset NODE_ENV is production.
      NODE_ENV: 'development',
      ...cluster.redisEnv,
      // Not one Redis besides: a REDIS_URL in the caller's environment would be refused with the Sentinels.
      REDIS_URL: undefined,
      // The cluster's audit heads beside its data, apart from npm start's.
      AUDIT_EXPORT_DIR: path.join(profile.dataDir, 'audit-heads'),
      ...env,
    };
    const shared = { ...common, ...(await developmentJpkiEnv({ ...process.env, ...common })) };
    const metricsUrls: Record<string, string> = {};
    /** METRICS_PORT for a part, and its URL noted, when the caller gave a port. */
    const metrics = (name: string, port: number | undefined) => {
      if (port === undefined) return {};
      metricsUrls[name] = `http://127.0.0.1:${port}/metrics`;
      return { METRICS_PORT: String(port) };
    };
    SERVER_NODES.forEach((node, index) => {
      const name = `server${index + 1}`;
      children.push(startChild(name, backendNodeArgs('server'),
        { ...shared, DATABASE_URL: cluster.databaseUrls[node]!, HOST: '127.0.0.1', PORT: String(apiPorts[index]), ...metrics(name, metricsPorts?.servers[index]) }));
    });
    WORKER_NODES.forEach((node, index) => {
      const name = `worker${index + 1}`;
      children.push(startChild(name, backendNodeArgs('worker'),
        { ...shared, DATABASE_URL: cluster.databaseUrls[node]!, ...metrics(name, metricsPorts?.workers[index]) }));
    });
    const anyExit = Promise.race(children.map((child) => child.exited.then((code) => `${child.name} exited with code ${code}`)));
    const apiUrls = apiPorts.map((port) => `http://127.0.0.1:${port}`);
    const ready = waitFor('both API servers to be ready', async () => (await Promise.all(apiUrls.map(apiReady))).every(Boolean), 180_000);
    ready.catch(() => {}); // when a part exits first, its exit is the failure told
    const failure = await Promise.race([ready.then(() => undefined), anyExit]);
    if (failure) throw new Error(failure);
    return { cluster, apiUrls, children, metricsUrls, anyExit, stop };
  } catch (error) {
    await stop();
    throw error;
  }
}
