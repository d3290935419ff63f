import type { Logger } from './log.ts';

/**
 * On SIGTERM or SIGINT, runs `stop` (finish the work in flight, close pools) and exits 0,
 * or exits 1 when that fails or takes longer than `timeoutMs`, saying which in the log. Shared by the server and the worker.
 */
/** ioredis' word for a command its closing connection cut off. */
const CONNECTION_CLOSED = 'Connection is closed.';

export function onShutdown(log: Logger, timeoutMs: number, stop: () => Promise<void>): void {
  const shutdown = async (signal: string) => {
    log.info({ signal }, 'shutting down; letting work in flight finish');
    // Closing the queues cuts off what Bull still had on the way to Redis (a poll, a lock
    // renewal): expected while stopping, and no reason to exit 1. Anything else still is.
    process.on('unhandledRejection', (reason) => {
      if (reason instanceof Error && reason.message === CONNECTION_CLOSED) {
        log.warn({ err: reason }, 'a Redis command cut off by stopping');
        return;
      }
      log.error({ err: reason }, 'unhandled rejection while stopping');
      process.exit(1);
    });
    setTimeout(() => {
      log.error({ timeoutMs }, 'shutdown took too long; exiting');
      process.exit(1);
    }, timeoutMs).unref();
    try {
      await stop();
    } catch (error) {
      // Said, not thrown: an unhandled rejection would end the process without a word of why.
      log.error({ err: error }, 'stopping failed');
      process.exit(1);
    }
    log.info('stopped');
    process.exit(0);
  };
  process.once('SIGTERM', () => void shutdown('SIGTERM'));
  process.once('SIGINT', () => void shutdown('SIGINT'));
}
