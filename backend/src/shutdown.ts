import type { Logger } from './log.ts';

/**
 * On SIGTERM or SIGINT, runs `stop` (finish the work in flight, close pools) and exits 0,
 * or exits 1 when that fails or takes longer than `timeoutMs`, saying which in the log. Shared by the server and the worker.
 */
export function onShutdown(log: Logger, timeoutMs: number, stop: () => Promise<void>): void {
  const shutdown = async (signal: string) => {
    log.info({ signal }, 'shutting down; letting work in flight finish');
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
