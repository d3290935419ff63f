import { once } from 'node:events';
import type { AddressInfo } from 'node:net';
import { createApp, type AppDeps } from '../../src/app.ts';
import { createRedis } from '../../src/redis.ts';
import { silentLog, testConfig, type Cleanup } from './env.ts';
import type { Config } from '../../src/config.ts';
import type { Db } from '../../src/db.ts';

/** The real HTTP app on an ephemeral loopback port; closed when the test file ends. */
export async function startApp(cleanup: Cleanup, db: Db, overrides: Partial<Config> = {}, deps: Partial<AppDeps> = {}): Promise<string> {
  const config = testConfig('mysql://unused@127.0.0.1/unused', overrides);
  const redis = deps.redis ?? createRedis(config.REDIS_URL, silentLog);
  const server = createApp({ config, db, redis, log: silentLog, ...deps }).listen(0, '127.0.0.1');
  await once(server, 'listening');
  cleanup(async () => {
    server.closeAllConnections();
    await new Promise((resolve) => server.close(resolve));
    if (!deps.redis) redis.disconnect();
  });
  return `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
}
