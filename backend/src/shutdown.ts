import type { Logger } from './log.ts';

/**
 * On SIGTERM or SIGINT, runs `stop` (finish the work in flight, close pools) and exits 0,
 * or exits 1 when that takes longer than `timeoutMs`. Shared by the server and the worker.
 */
export function onShutdown(log: Logger, timeoutMs: number, stop: () => Promise<void>): void {
  const shutdown = async (signal: string) => {
    log.info({ signal }, 'shutting down; letting work in flight finish');
    setTimeout(() => {
      log.error({ timeoutMs }, 'shutdown took too long; exiting');
      process.exit(1);
    }, timeoutMs).unref();
    await stop();
    log.info('stopped');
    process.exit(0);
  };
  process.once('SIGTERM', () => void shutdown('SIGTERM'));
  process.once('SIGINT', () => void shutdown('SIGINT'));
}
