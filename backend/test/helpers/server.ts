import { once } from 'node:events';
import type Koa from 'koa';
import type { AddressInfo } from 'node:net';
import { createApp, type AppDeps } from '../../src/app.ts';
import { httpServer } from '../../src/http/listen.ts';
import { createRedis } from '../../src/redis.ts';
import { appErrorLog, consoleDir, queuePrefix, redisUrl, silentLog, type Cleanup } from './env.ts';
import type { Db } from '../../src/db.ts';
import type * as pkijs from 'pkijs';
import { mykeySecret, staffPasswordCost } from '../../src/config.ts';
import { CertificateVerifier, type RevocationPolicy } from '../../src/jpki/verifier.ts';
import { crlRepository } from '../../src/jpki/crl-repository.ts';
import { RevocationList } from '../../src/jpki/revocation.ts';
import { createQueue } from '../../src/queue.ts';
import { CONVERSION_QUEUE, type ConversionJob } from '../../src/conversions/queue.ts';

/**
 * What createApp needs to check cards: a verifier trusting `anchors` (none: every card is
 * untrusted) and the development MyKey secret; `addCrl` stores a CRL as the worker's job
 * would and has the verifier take it at once.
 */
export function testIdentity(db: Db, anchors: pkijs.Certificate[] = [], policy: RevocationPolicy = 'fail-closed') {
  const verifier = new CertificateVerifier({ anchors, db, policy, log: silentLog });
  return {
    verifier,
    secret: mykeySecret({ NODE_ENV: 'test' }),
    async addCrl(der: Buffer): Promise<void> {
      const crl = await new RevocationList(anchors).add(der);
      await crlRepository.storeIfNewer(db, { issuerKey: crl.issuerKey, issuerName: crl.issuer, thisUpdate: crl.thisUpdate, nextUpdate: crl.nextUpdate, der, source: 'test', fetchedAt: new Date() });
      await verifier.refresh();
    },
  };
}

/** Test reader agents listen on ports picked at random; the console may call any on loopback. */
export const TEST_READER_AGENT_ORIGINS = ['http://127.0.0.1:*', 'http://localhost:*'];

/** What startApp takes: any of the app's parts, and any of its settings over the tests' own. */
export type TestAppDeps = Partial<Omit<AppDeps, 'config'>> & { config?: Partial<AppDeps['config']> };

/** The real HTTP app on an ephemeral loopback port; closed when the test file ends. */
export async function startApp(cleanup: Cleanup, db: Db, deps: TestAppDeps = {}): Promise<string> {
  return (await startTestApp(cleanup, db, deps)).base;
}

/** startApp, with the Koa app too (for a suite that reads its routes). */
export async function startTestApp(cleanup: Cleanup, db: Db, deps: TestAppDeps = {}): Promise<{ base: string; app: Koa }> {
  const redis = deps.redis ?? createRedis(redisUrl(), silentLog);
  const prefix = deps.config?.QUEUE_PREFIX ?? queuePrefix(cleanup);
  const config: AppDeps['config'] = {
    NODE_ENV: 'test', CONSOLE_DIR: consoleDir(), QUEUE_PREFIX: prefix, READER_AGENT_ORIGINS: TEST_READER_AGENT_ORIGINS, TRUST_PROXY: false, STAFF_SESSION_IDLE_MS: 1_800_000, RESIDENT_SESSION_IDLE_MS: 300_000, RESIDENT_SESSION_LIMIT_MS: 1_800_000,
    STAFF_PASSWORD_SCRYPT_N: staffPasswordCost(),
    ...deps.config,
  };
  const conversions = deps.conversions ?? createQueue<ConversionJob>(CONVERSION_QUEUE, { REDIS_URL: redisUrl(), QUEUE_PREFIX: prefix })
    .on('error', (error) => silentLog.warn({ err: error }, 'queue error'));
  const app = createApp({ db, redis, log: appErrorLog, identity: testIdentity(db), conversions, ...deps, config });
  const server = httpServer(app).listen(0, '127.0.0.1');
  await once(server, 'listening');
  // Requests that need Redis fail fast until it is connected (redis.ts); a test starts once it is.
  if (!deps.redis && redis.status !== 'ready') await once(redis, 'ready');
  cleanup(async () => {
    server.closeAllConnections();
    await new Promise((resolve) => server.close(resolve));
    if (!deps.redis) redis.disconnect();
    if (!deps.conversions) await conversions.close();
  });
  return { base: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, app };
}
