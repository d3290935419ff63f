// The Bull worker process: the same domain code as the server, driven by queues instead of
// HTTP. Start: `npm start` (everything) or `npm run worker -w backend` (this alone).
import { loadConfigOrExit } from './config.ts';
import { createDb } from './db.ts';
import { createLogger } from './log.ts';
import { createQueue } from './queue.ts';
import { onShutdown } from './shutdown.ts';
import { HEARTBEAT_QUEUE, recordHeartbeat, scheduleHeartbeat, workerId } from './jobs/heartbeat.ts';

const config = loadConfigOrExit();
const log = createLogger(config, 'worker');
const db = createDb(config.DATABASE_URL, log);
const heartbeat = createQueue(HEARTBEAT_QUEUE, config);
const queues = [heartbeat];

for (const queue of queues) {
  queue.on('failed', (job, error) => log.error({ queue: queue.name, jobId: job.id, err: error }, 'job failed'));
  queue.on('error', (error) => log.warn({ queue: queue.name, err: error }, 'queue error'));
}

heartbeat.process(async () => {
  await recordHeartbeat(db, workerId, new Date());
});
await scheduleHeartbeat(heartbeat, config.HEARTBEAT_INTERVAL_MS);
log.info({ workerId, queues: queues.map((q) => q.name) }, 'worker ready');

onShutdown(log, config.SHUTDOWN_TIMEOUT_MS, async () => {
  // Bull's close() stops taking new jobs and waits for the active ones to complete.
  await Promise.all(queues.map((queue) => queue.close()));
  await db.destroy();
});
