// How the API listens. Node closes a connection idle for 5 s by default; a client or a proxy in
// front (nginx, a cloud load balancer: 60 s) that reuses it just then sends its next request on a
// connection the server is closing, and that request fails ("fetch failed", a 502 at the proxy).
// On a busy machine that happened between any two requests a few seconds apart. Idle connections
// are therefore kept longer than the proxies keep theirs, and the Keep-Alive header says so, so
// clients that read it (undici, browsers) close first.
import http from 'node:http';
import type Koa from 'koa';

export const KEEP_ALIVE_MS = 65_000;

/** The app on a server that keeps idle connections KEEP_ALIVE_MS; call `listen` on what it returns. */
export function httpServer(app: Koa): http.Server {
  const server = http.createServer(app.callback());
  server.keepAliveTimeout = KEEP_ALIVE_MS;
  // Kept above the keep-alive time, as Node's documentation advises, so an idle connection is never cut as a slow request.
  server.headersTimeout = KEEP_ALIVE_MS + 1_000;
  return server;
}
