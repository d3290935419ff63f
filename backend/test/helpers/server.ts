import { once } from 'node:events';
import type Koa from 'koa';
import type { AddressInfo } from 'node:net';
import { createApp, type AppDeps } from '../../src/app.ts';
import { createRedis } from '../../src/redis.ts';
import { consoleDir, queuePrefix, redisUrl, silentLog, type Cleanup } from './env.ts';
import type { Db } from '../../src/db.ts';
import type * as pkijs from 'pkijs';
import { mykeySecret } from '../../src/config.ts';
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
      await crlRepository(db).storeIfNewer({ issuerKey: crl.issuerKey, issuerName: crl.issuer, thisUpdate: crl.thisUpdate, nextUpdate: crl.nextUpdate, der, source: 'test', fetchedAt: new Date() });
      await verifier.refresh();
    },
  };
}

/** The real HTTP app on an ephemeral loopback port; closed when the test file ends. */
export async function startApp(cleanup: Cleanup, db: Db, deps: Partial<AppDeps> = {}): Promise<string> {
  return (await startTestApp(cleanup, db, deps)).base;
}

/** startApp, with the Koa app too (for a suite that reads its routes). */
export async function startTestApp(cleanup: Cleanup, db: Db, deps: Partial<AppDeps> = {}): Promise<{ base: string; app: Koa }> {
  const redis = deps.redis ?? createRedis(redisUrl(), silentLog);
  const prefix = deps.config?.QUEUE_PREFIX ?? queuePrefix(cleanup);
  const conversions = deps.conversions ?? createQueue<ConversionJob>(CONVERSION_QUEUE, { REDIS_URL: redisUrl(), QUEUE_PREFIX: prefix })
    .on('error', (error) => silentLog.warn({ err: error }, 'queue error'));
  const app = createApp({ config: { NODE_ENV: 'test', CONSOLE_DIR: consoleDir(), QUEUE_PREFIX: prefix }, db, redis, log: silentLog, identity: testIdentity(db), conversions, ...deps });
  const server = app.listen(0, '127.0.0.1');
  await once(server, 'listening');
  cleanup(async () => {
    server.closeAllConnections();
    await new Promise((resolve) => server.close(resolve));
    if (!deps.redis) redis.disconnect();
    if (!deps.conversions) await conversions.close();
  });
  return { base: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, app };
}
