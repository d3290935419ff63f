import { randomUUID } from 'node:crypto';
import type { Context, Next } from 'koa';
import type { Logger } from '../log.ts';

// A caller's own request id is kept when it looks like one, so a trace can span systems.
const ACCEPTABLE_ID = /^[A-Za-z0-9._:-]{8,128}$/;

/** Gives every request an id and a logger that stamps it on every line. */
export function requestContext(log: Logger) {
  return async function withRequestContext(ctx: Context, next: Next): Promise<void> {
    const offered = ctx.get('X-Request-Id');
    const requestId = ACCEPTABLE_ID.test(offered) ? offered : randomUUID();
    ctx.state.requestId = requestId;
    ctx.state.log = log.child({ requestId });
    ctx.set('X-Request-Id', requestId);
    const started = process.hrtime.bigint();
    try {
      await next();
    } finally {
      const ms = Number(process.hrtime.bigint() - started) / 1e6;
      ctx.state.log.info({ method: ctx.method, path: ctx.path, status: ctx.status, ms }, 'request');
    }
  };
}
