// The network between a counter PC and the backend, for tests of what the counter does when it
// goes: a TCP relay to the backend that can be cut and restored on the same port.
import net from 'node:net';
import { once } from 'node:events';
import type { Cleanup } from '@mykey/backend/test/helpers/env.ts';
import { freePort } from '@mykey/dev-tools/ports.ts';

/** A relay to `backend`: give the agent `url`; `cut()` drops every connection and refuses new ones, `restore()` listens again. */
export async function network(cleanup: Cleanup, backend: string) {
  const target = new URL(backend);
  const port = await freePort();
  const sockets = new Set<net.Socket>();
  let server: net.Server | undefined;
  const restore = async () => {
    server = net.createServer((client) => {
      const upstream = net.connect(Number(target.port), target.hostname);
      for (const socket of [client, upstream]) {
        sockets.add(socket);
        socket.on('close', () => sockets.delete(socket));
        socket.on('error', () => { client.destroy(); upstream.destroy(); });
      }
      client.pipe(upstream).pipe(client);
    });
    server.listen(port, '127.0.0.1');
    await once(server, 'listening');
  };
  const cut = async () => {
    const closing = server!;
    server = undefined;
    for (const socket of sockets) socket.destroy();
    await new Promise((resolve) => closing.close(resolve));
  };
  cleanup(() => (server ? cut() : undefined));
  await restore();
  return { url: `http://127.0.0.1:${port}`, cut, restore };
}
