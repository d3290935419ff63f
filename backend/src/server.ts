// The HTTP process. Start: `npm start` (everything) or `npm run server -w backend` (this alone).
import { once } from 'node:events';
import { batchUploadSettings, exitOnConfigError, loadConfigOrExit, mykeySecret } from './config.ts';
import { createDb } from './db.ts';
import { useAuditSecret } from './audit/keys.ts';
import { createLogger } from './log.ts';
import { createRedis } from './redis.ts';
import { createApp } from './app.ts';
import { onShutdown } from './shutdown.ts';
import { loadTrustAnchors } from './jpki/anchors.ts';
import { CertificateVerifier } from './jpki/verifier.ts';
import { createQueue } from './queue.ts';
import { CONVERSION_QUEUE, type ConversionJob } from './conversions/queue.ts';
import { refuseDemoAccounts } from './startup-checks.ts';
import { watchPool, watchQueue } from './metrics/metrics.ts';
import { serveOperations } from './metrics/listener.ts';
import { httpServer } from './http/listen.ts';

const config = loadConfigOrExit();
const log = createLogger(config, 'server');
// A bad trust-anchor bundle stops start-up here, before any card certificate is seen.
const anchors = await loadTrustAnchors(config).catch(exitOnConfigError);
log.info({ file: anchors.file, certificates: anchors.certificates.length }, 'trust anchors loaded');
// The audit log's keys, from the same secret (audit/keys.ts).
useAuditSecret(mykeySecret(config));
const db = createDb(config.DATABASE_URL, log);
await refuseDemoAccounts(config, db).catch(exitOnConfigError);
const redis = createRedis(config, log);
const verifier = new CertificateVerifier({ anchors: anchors.certificates, db, policy: config.JPKI_REVOCATION_POLICY, log });
// The server only adds conversion jobs; the worker processes them.
const conversions = createQueue<ConversionJob>(CONVERSION_QUEUE, config);
conversions.on('error', (error) => log.warn({ queue: CONVERSION_QUEUE, err: error }, 'queue error'));
watchPool(db);
watchQueue(conversions);
const operations = await serveOperations(config, log);
const server = httpServer(createApp({ config, db, redis, log, identity: { verifier, secret: mykeySecret(config) }, conversions, batchUploads: batchUploadSettings(config) })).listen(config.PORT, config.HOST);
try {
  await once(server, 'listening');
} catch (error) {
  log.fatal({ err: error, host: config.HOST, port: config.PORT }, 'cannot listen (is the port taken? set PORT)');
  process.exit(1);
}
const address = server.address();
const port = typeof address === 'object' && address ? address.port : config.PORT;
log.info({ url: `http://${config.HOST}:${port}/`, env: config.NODE_ENV }, 'listening');

onShutdown(log, config.SHUTDOWN_TIMEOUT_MS, async () => {
  // Stop taking connections, let requests in flight finish, then close the pools.
  server.closeIdleConnections();
  await new Promise((resolve) => server.close(resolve));
  operations?.close();
  await Promise.allSettled([db.destroy(), redis.quit(), conversions.close()]);
});
