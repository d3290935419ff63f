// The operations listener: GET /metrics for Prometheus, and in a worker the queues in Bull Board
// (read-only) at /queues, on a port of their own (METRICS_PORT, bound to METRICS_HOST, loopback
// unless told), apart from the public listener. The internet never reaches it; a firewall rule
// or an SSH tunnel names it alone. Bull Board shows every town's jobs, so it is the platform
// operator's, never a town's staff (docs/operations.md#metrics).
import Router from '@koa/router';
import { createBullBoard } from '@bull-board/api';
import { BullAdapter } from '@bull-board/api/bullAdapter';
import { KoaAdapter } from '@bull-board/koa';
import type { Queue } from '../queue.ts';
import Koa from 'koa';
import { once } from 'node:events';
import type http from 'node:http';
import type { Logger } from 'pino';
import { registry } from './metrics.ts';

const BOARD_PATH = '/queues';

function operationsApp(log: Logger, queues: Array<Queue<unknown>>): Koa {
  const app = new Koa();
  app.silent = true;
  app.on('error', (error: unknown) => log.error({ err: error }, 'operations listener failed'));
  const router = new Router();
  router.get('/metrics', async (ctx) => {
    ctx.type = registry.contentType;
    ctx.body = await registry.metrics();
  });
  app.use(router.routes());
  if (queues.length > 0) {
    const board = new KoaAdapter().setBasePath(BOARD_PATH);
    // Read-only: a job is retried or removed by the platform's own sweeper, not by hand.
    createBullBoard({ queues: queues.map((queue) => new BullAdapter(queue, { readOnlyMode: true })), serverAdapter: board });
    app.use(board.registerPlugin());
  }
  return app;
}

/**
 * Serves /metrics (and, given `queues`, Bull Board) where the config says; nowhere when
 * METRICS_PORT is unset. A port taken stops the process, naming it.
 */
export async function serveOperations(config: { METRICS_PORT?: number | undefined; METRICS_HOST: string }, log: Logger, queues: Array<Queue<unknown>> = []): Promise<http.Server | undefined> {
  if (config.METRICS_PORT === undefined) return undefined;
  const { METRICS_HOST: host, METRICS_PORT: port } = config;
  const server = operationsApp(log, queues).listen(port, host);
  try {
    await once(server, 'listening');
  } catch (error) {
    log.fatal({ err: error, host, port }, 'cannot listen for metrics (is the port taken? set METRICS_PORT)');
    process.exit(1);
  }
  const address = server.address();
  const url = `http://${host}:${typeof address === 'object' && address ? address.port : port}`;
  log.info({ metrics: `${url}/metrics`, ...(queues.length > 0 ? { queues: `${url}${BOARD_PATH}` } : {}) }, 'operations listening');
  return server;
}
