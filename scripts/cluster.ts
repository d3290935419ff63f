// `npm run cluster`: the platform on a three-node MariaDB Galera cluster and Redis with Sentinel,
// all on loopback (docs/operations.md#cluster): two API servers, each on its own Galera node, and
// two workers. Data under .data/cluster/; Ctrl-C stops every part in order and keeps the data.
import path from 'node:path';
import { clusterProfile } from '@mykey/dev-tools/cluster.ts';
import { dataDir } from '@mykey/dev-tools/paths.ts';
import { DEMO_PASSWORD, DEMO_STAFF } from '@mykey/dev-tools/demo-towns.ts';
import { buildConsoleIfStale } from './lib/console-build.ts';
import { startClusterPlatform, type ClusterPlatform } from './lib/cluster-platform.ts';

const profile = clusterProfile(path.join(dataDir, 'cluster'));
const apiPorts: [number, number] = [3600, 3601];

let platform: ClusterPlatform | undefined;
let stopping = false;

async function stopAll(exitCode: number): Promise<never> {
  if (!stopping) {
    stopping = true;
    console.log('[cluster] stopping…');
    await platform?.stop();
    console.log('[cluster] stopped; data is kept in .data/cluster');
  }
  process.exit(exitCode);
}

process.on('SIGINT', () => void stopAll(0));
process.on('SIGTERM', () => void stopAll(0));

async function main(): Promise<void> {
  buildConsoleIfStale();
  platform = await startClusterPlatform(profile, apiPorts);
  void platform.anyExit.then((reason) => {
    if (stopping) return;
    console.error(`[cluster] ${reason}; stopping everything`);
    void stopAll(1);
  });
  const [a, b] = platform.apiUrls;
  console.log([
    '',
    'MyKey platform is running on a cluster.',
    `  Console and API, server 1 (Galera node 1): ${a}/  ${a}/api/v1/`,
    `  Console and API, server 2 (Galera node 2): ${b}/  ${b}/api/v1/`,
    `  Galera nodes (MariaDB):  ${platform.cluster.databaseUrls.join('  ')}`,
    `  Redis Sentinels:         ${platform.cluster.redisEnv.REDIS_SENTINELS} (master ${platform.cluster.redisEnv.REDIS_SENTINEL_NAME})`,
    `  Workers:                 2, on Galera nodes 3 and 1`,
    `  Demo sign-in:            ${DEMO_STAFF.map((s) => s.login_id).join(' or ')} (みらい市), password ${DEMO_PASSWORD}`,
    '  Press Ctrl-C to stop.',
    '',
  ].join('\n'));
}

main().catch((error: unknown) => {
  console.error(`[cluster] ${error instanceof Error ? error.message : String(error)}`);
  void stopAll(1);
});
