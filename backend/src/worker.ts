// The Bull worker process: the same domain code as the server, driven by queues instead of
// HTTP. Start: `npm start` (everything) or `npm run worker -w backend` (this alone).
import { auditExportDir, exitOnConfigError, loadConfigOrExit, mykeySecret } from './config.ts';
import { createDb } from './db.ts';
import { createLogger } from './log.ts';
import { createQueue, scheduleEvery, type Queue } from './queue.ts';
import { onShutdown } from './shutdown.ts';
import { HEARTBEAT_QUEUE, workerId } from './jobs/heartbeat.ts';
import { heartbeatRepository } from './jobs/repository.ts';
import { loadTrustAnchors } from './jpki/anchors.ts';
import { CRL_QUEUE, refreshCrls } from './jpki/crl-job.ts';
import { crlSources } from './jpki/crl-sources.ts';
import { LEDGER_EXPIRY_QUEUE, expireDueLots } from './ledger/expiry-job.ts';
import { conversionBatcher } from './conversions/process.ts';
import { CONVERSION_QUEUE, type ConversionJob } from './conversions/queue.ts';
import { CONVERSION_SWEEP_QUEUE, sweepConversions } from './conversions/sweeper.ts';
import { WEBHOOK_QUEUE, conversionOutbox } from './conversions/webhooks.ts';
import { SERVICE_WEBHOOK_QUEUE, tapEventOutbox } from './town-services/tap-events.ts';
import { webhookDeliverer, type WebhookSettings } from './webhooks/delivery.ts';
import { refuseDemoAccounts } from './startup-checks.ts';
import { useAuditSecret } from './audit/keys.ts';
import { AUDIT_EXPORT_QUEUE, exportAuditHead } from './audit/heads.ts';
import { STAFF_SESSION_PURGE_QUEUE, purgeEndedSessions } from './staff/session-purge-job.ts';
import { RESIDENT_SESSION_PURGE_QUEUE, purgeEndedResidentSessions } from './resident/session-purge-job.ts';
import { plainHttpWebhooksAllowed } from './partners/webhook-url.ts';
import { SERVICE_USE_RETENTION_QUEUE, foldExpiredUses } from './town-services/uses-retention-job.ts';
import { SHELTER_RETENTION_QUEUE, deleteExpiredStays } from './shelters/retention-job.ts';
import { watchPool, watchQueue } from './metrics/metrics.ts';
import { serveOperations } from './metrics/listener.ts';

const config = loadConfigOrExit();
const log = createLogger(config, 'worker');
const anchors = await loadTrustAnchors(config).catch(exitOnConfigError);
const exportDir = await Promise.resolve(config).then(auditExportDir).catch(exitOnConfigError);
// The audit log's keys, from the same secret (audit/keys.ts).
useAuditSecret(mykeySecret(config));
const db = createDb(config.DATABASE_URL, log);
await refuseDemoAccounts(config, db).catch(exitOnConfigError);
const heartbeat = createQueue(HEARTBEAT_QUEUE, config);
const crls = createQueue(CRL_QUEUE, config);
const expiry = createQueue(LEDGER_EXPIRY_QUEUE, config);
const conversions = createQueue<ConversionJob>(CONVERSION_QUEUE, config);
const sweep = createQueue(CONVERSION_SWEEP_QUEUE, config);
const webhooks = createQueue(WEBHOOK_QUEUE, config);
const serviceWebhooks = createQueue(SERVICE_WEBHOOK_QUEUE, config);
const auditExport = createQueue(AUDIT_EXPORT_QUEUE, config);
const sessionPurge = createQueue(STAFF_SESSION_PURGE_QUEUE, config);
const residentSessionPurge = createQueue(RESIDENT_SESSION_PURGE_QUEUE, config);
const useRetention = createQueue(SERVICE_USE_RETENTION_QUEUE, config);
const shelterRetention = createQueue(SHELTER_RETENTION_QUEUE, config);
const queues = [heartbeat, crls, expiry, conversions, sweep, webhooks, serviceWebhooks, auditExport, sessionPurge, residentSessionPurge, useRetention, shelterRetention];

// Redis keeps the schedules of the repeatable jobs, and a Redis that lost its data (restarted
// without its append-only file) lost them: every worker checks them now and then, and puts a
// missing one back. A sweep then runs at once, for the conversion jobs lost with them.
const SCHEDULE_CHECK_MS = 5_000;
const schedules: Array<[Queue<unknown>, number]> = [];
async function schedule(queue: Queue<unknown>, everyMs: number): Promise<void> {
  schedules.push([queue, everyMs]);
  await scheduleEvery(queue, everyMs);
}
async function restoreSchedules(): Promise<void> {
  for (const [queue, everyMs] of schedules) {
    try {
      if (!(await scheduleEvery(queue, everyMs))) continue;
      log.warn({ queue: queue.name }, 'the repeatable job\'s schedule was missing in Redis; restored');
      if (queue === sweep) await sweep.add({}, { removeOnComplete: true, removeOnFail: 100 });
    } catch (error) {
      log.warn({ queue: queue.name, err: error }, 'could not check the repeatable job\'s schedule; trying again later');
    }
  }
}

for (const queue of queues) {
  queue.on('failed', (job, error) => log.error({ queue: queue.name, jobId: job.id, err: error }, 'job failed'));
  queue.on('error', (error) => log.warn({ queue: queue.name, err: error }, 'queue error'));
  watchQueue(queue, { outcomes: true });
}
watchPool(db);
const operations = await serveOperations(config, log, queues);

// Partners' and services' webhooks go by the same settings, each outbox with its own deliverer.
const webhookSettings: WebhookSettings = {
  timeoutMs: config.WEBHOOK_TIMEOUT_MS, retryBaseMs: config.WEBHOOK_RETRY_BASE_MS, retryMaxMs: config.WEBHOOK_RETRY_MAX_MS, perPartner: config.WEBHOOK_PER_PARTNER,
  // The raw variable: unset is production, where plain http goes to loopback only.
  allowPlainHttp: plainHttpWebhooksAllowed(config.NODE_ENV),
};
const deliverer = webhookDeliverer(db, log, conversionOutbox(mykeySecret(config)), webhookSettings);
const serviceDeliverer = webhookDeliverer(db, log, tapEventOutbox(mykeySecret(config)), webhookSettings);

/** Takes jobs from every queue and keeps their schedules; resolves to the schedule check's timer. */
async function start(): Promise<NodeJS.Timeout> {
  heartbeat.process(async () => {
    await heartbeatRepository.recordBeat(db, workerId, new Date());
  });
  await schedule(heartbeat, config.HEARTBEAT_INTERVAL_MS);

  const sources = crlSources(config);
  if (sources.length === 0) log.warn('no CRL sources (JPKI_CRL_FILES, JPKI_CRL_URLS): revocation cannot be checked, so value-moving operations fail under fail-closed');
  crls.process(async () => {
    await refreshCrls({ db, anchors: anchors.certificates, sources, log });
  });
  await schedule(crls, config.JPKI_CRL_REFRESH_MS);
  // The schedule first fires an interval from now; a starting worker refreshes at once.
  await crls.add({}, { removeOnComplete: true, removeOnFail: 100 });
  expiry.process(async () => {
    await expireDueLots(db, log);
  });
  await schedule(expiry, config.LEDGER_EXPIRY_INTERVAL_MS);

  const batcher = conversionBatcher(db, log, { maxBatch: config.CONVERSION_BATCH_SIZE, transactions: config.CONVERSION_TRANSACTIONS });
  conversions.process(config.CONVERSION_CONCURRENCY, ({ data }) => ('conversionIds' in data ? batcher.processChunk(data.conversionIds) : batcher.process(data.conversionId)));
  sweep.process(async () => {
    await sweepConversions(db, conversions, log, config.CONVERSION_REQUEUE_AFTER_MS);
  });
  await schedule(sweep, config.CONVERSION_SWEEP_INTERVAL_MS);
  // A starting worker (after a crash, say) sweeps at once instead of an interval from now.
  await sweep.add({}, { removeOnComplete: true, removeOnFail: 100 });
  webhooks.process(async () => {
    await deliverer.tick();
  });
  await schedule(webhooks, config.WEBHOOK_POLL_INTERVAL_MS);
  serviceWebhooks.process(async () => {
    await serviceDeliverer.tick();
  });
  await schedule(serviceWebhooks, config.WEBHOOK_POLL_INTERVAL_MS);
  sessionPurge.process(async () => {
    await purgeEndedSessions(db, log);
  });
  await schedule(sessionPurge, config.STAFF_SESSION_PURGE_INTERVAL_MS);
  residentSessionPurge.process(async () => {
    await purgeEndedResidentSessions(db, log);
  });
  await schedule(residentSessionPurge, config.RESIDENT_SESSION_PURGE_INTERVAL_MS);
  useRetention.process(async () => {
    await foldExpiredUses(db, log, config.SERVICE_USE_RETENTION_DAYS);
  });
  await schedule(useRetention, config.SERVICE_USE_RETENTION_INTERVAL_MS);
  shelterRetention.process(async () => {
    await deleteExpiredStays(db, log, config.SHELTER_RECORD_RETENTION_DAYS);
  });
  await schedule(shelterRetention, config.SHELTER_RECORD_RETENTION_INTERVAL_MS);

  if (exportDir) {
    auditExport.process(async () => {
      const head = await exportAuditHead(db, exportDir);
      log.info({ ...head, dir: exportDir }, 'audit head exported');
    });
    await schedule(auditExport, config.AUDIT_EXPORT_INTERVAL_MS);
    // A starting worker exports at once: after an upgrade, that puts the keyed boundary outside the database.
    await auditExport.add({}, { removeOnComplete: true, removeOnFail: 100 });
  } else {
    log.warn('no AUDIT_EXPORT_DIR: the audit head is not exported, so a truncated audit log would go unseen');
  }
  log.info({ workerId, queues: queues.map((q) => q.name), trustAnchors: anchors.file, crlSources: sources.length }, 'worker ready');
  return setInterval(() => void restoreSchedules(), SCHEDULE_CHECK_MS);
}

// Registered before the first job runs, so a SIGTERM at any moment stops the worker cleanly.
const started = start();
onShutdown(log, config.SHUTDOWN_TIMEOUT_MS, async () => {
  // A worker told to stop while it starts finishes starting first: its queues are then whole.
  const scheduleCheck = await started.catch(() => undefined);
  clearInterval(scheduleCheck);
  // Bull's close() stops taking new jobs and waits for the active ones to complete.
  await Promise.all(queues.map((queue) => queue.close()));
  // Webhooks already sent are recorded before the database goes.
  await Promise.all([deliverer.drain(), serviceDeliverer.drain()]);
  operations?.close();
  await db.destroy();
});
await started;
