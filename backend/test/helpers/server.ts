import { once } from 'node:events';
import type { AddressInfo } from 'node:net';
import { createApp, type AppDeps } from '../../src/app.ts';
import { createRedis } from '../../src/redis.ts';
import { consoleDir, queuePrefix, redisUrl, silentLog, type Cleanup } from './env.ts';
import type { Db } from '../../src/db.ts';

/** The real HTTP app on an ephemeral loopback port; closed when the test file ends. */
export async function startApp(cleanup: Cleanup, db: Db, deps: Partial<AppDeps> = {}): Promise<string> {
  const redis = deps.redis ?? createRedis(redisUrl(), silentLog);
  const server = createApp({ config: { NODE_ENV: 'test', CONSOLE_DIR: consoleDir(), QUEUE_PREFIX: queuePrefix(cleanup) }, db, redis, log: silentLog, ...deps }).listen(0, '127.0.0.1');
  await once(server, 'listening');
  cleanup(async () => {
    server.closeAllConnections();
    await new Promise((resolve) => server.close(resolve));
    if (!deps.redis) redis.disconnect();
  });
  return `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
}
