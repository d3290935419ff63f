import type { Context } from 'koa';
import type { z } from 'zod';
import { Problem } from './problems.ts';
import { routeDescription } from './described.ts';

const DEFAULT_LIMIT = 64 * 1024;

/** The body's bytes, refused with body_too_large beyond `limit` (declared or actual). */
export async function readBody(ctx: Context, limit: number): Promise<Buffer> {
  const declared = Number(ctx.get('Content-Length') || 0);
  if (declared > limit) throw new Problem('body_too_large', `The body may be at most ${limit} bytes.`);
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of ctx.req as AsyncIterable<Buffer>) {
    size += chunk.length;
    if (size > limit) throw new Problem('body_too_large', `The body may be at most ${limit} bytes.`);
    chunks.push(chunk);
  }
  return Buffer.concat(chunks);
}

function describe(issues: z.core.$ZodIssue[]) {
  return issues.map((issue) => ({ path: issue.path.join('.'), message: issue.message }));
}

/**
 * Reads a JSON body of bounded size and validates it; every failure is a 4xx problem. The
 * schema must be the one the route's description names (described.ts), so the API's document
 * shows what the route reads.
 */
export async function readJson<S extends z.ZodType>(ctx: Context, schema: S, limit = DEFAULT_LIMIT): Promise<z.infer<S>> {
  if (routeDescription(ctx).body !== schema) throw new Error(`${ctx.method} ${ctx.path} reads a JSON body its described({ body }) does not name`);
  if (!ctx.is('application/json')) throw new Problem('unsupported_media_type');
  return parseJson((await readBody(ctx, limit)).toString('utf8'), schema);
}

/** JSON text validated by `schema`; request_invalid when it is not JSON or does not match. */
export function parseJson<S extends z.ZodType>(raw: string, schema: S): z.infer<S> {
  let parsed: unknown;
  try {
    parsed = JSON.parse(raw);
  } catch {
    throw new Problem('request_invalid', 'The body is not well-formed JSON.');
  }
  const result = schema.safeParse(parsed);
  if (!result.success) {
    throw new Problem('request_invalid', 'The body does not match what this endpoint expects.', { errors: describe(result.error.issues) });
  }
  return result.data;
}
