// Servers that stand between the agent and the backend in tests: a proxy that relays the agent's
// calls (and may change or drop an answer), or a server that is not ours at all.
import type http from 'node:http';

export async function readBody(request: http.IncomingMessage): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const chunk of request) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks);
}

/** The agent's call, relayed to the backend at `base` with the headers the agent sends. */
export async function relay(base: string, request: http.IncomingMessage, body: Buffer): Promise<{ status: number; contentType: string; text: string }> {
  const headers = Object.fromEntries(['authorization', 'content-type', 'idempotency-key', 'accept'].flatMap((name) => (request.headers[name] ? [[name, String(request.headers[name])]] : [])));
  const answer = await fetch(`${base}${request.url}`, { method: request.method, headers, body: request.method === 'POST' ? body.toString('utf8') : undefined });
  return { status: answer.status, contentType: answer.headers.get('content-type') ?? 'application/json', text: await answer.text() };
}
