// Every request counted and timed by its route's template (`/api/v1/staff/mykeys/:mykeyId`), never
// its path: a path holds IDs, and one series per resident would swamp the scrape.
import type { Middleware } from 'koa';
import { httpDuration, httpRequests } from './metrics.ts';

export function httpMetrics(): Middleware {
  return async (ctx, next) => {
    const stop = httpDuration.startTimer();
    try {
      await next();
    } finally {
      // @koa/router names the template it matched; the console's files and unknown paths have none.
      const route = (ctx as { _matchedRoute?: string })._matchedRoute ?? (ctx.path.startsWith('/api/') ? 'unmatched' : 'console');
      const labels = { method: ctx.method, route };
      stop(labels);
      httpRequests.inc({ ...labels, status: String(ctx.status) });
    }
  };
}
