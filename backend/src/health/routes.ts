import Router from '@koa/router';
import type { Redis } from 'ioredis';
import type { Db } from '../db.ts';
import { readiness } from './readiness.ts';

export function healthRoutes(db: Db, redis: Redis): Router {
  const router = new Router();
  router.get('/healthz', (ctx) => {
    ctx.body = { status: 'alive' };
  });
  router.get('/readyz', async (ctx) => {
    const result = await readiness(db, redis, ctx.state.log);
    ctx.status = result.status === 'ready' ? 200 : 503;
    ctx.set('Cache-Control', 'no-store');
    ctx.body = result;
  });
  return router;
}
