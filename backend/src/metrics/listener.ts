// The metrics listener: GET /metrics on a port of its own (METRICS_PORT, bound to METRICS_HOST,
// loopback unless told), apart from the public listener, so the internet never reaches it and a
// firewall rule names it alone.
import { once } from 'node:events';
import http from 'node:http';
import type { Logger } from 'pino';
import { registry } from './metrics.ts';

/** Serves the metrics where the config says; nowhere when METRICS_PORT is unset. A port taken stops the process, naming it. */
export async function serveMetrics(config: { METRICS_PORT?: number | undefined; METRICS_HOST: string }, log: Logger): Promise<http.Server | undefined> {
  if (config.METRICS_PORT === undefined) return undefined;
  const { METRICS_HOST: host, METRICS_PORT: port } = config;
  const server = http.createServer((request, response) => {
    if (request.method !== 'GET' || request.url !== '/metrics') {
      response.writeHead(404).end();
      return;
    }
    registry.metrics().then((text) => {
      response.writeHead(200, { 'Content-Type': registry.contentType }).end(text);
    }, (error: unknown) => {
      log.error({ err: error }, 'metrics could not be collected');
      response.writeHead(500).end();
    });
  });
  server.listen(port, host);
  try {
    await once(server, 'listening');
  } catch (error) {
    log.fatal({ err: error, host, port }, 'cannot listen for metrics (is the port taken? set METRICS_PORT)');
    process.exit(1);
  }
  const address = server.address();
  log.info({ url: `http://${host}:${typeof address === 'object' && address ? address.port : port}/metrics` }, 'metrics listening');
  return server;
}
