import Router from '@koa/router';
import type { Redis } from 'ioredis';
import type { Db } from '../db.ts';
import { readiness } from './readiness.ts';
import { described } from '../http/described.ts';

export function healthRoutes(db: Db, redis: Redis): Router {
  const router = new Router();
  router.get('/healthz', described({ summary: 'Liveness: the process answers', caller: 'anyone', responses: { 200: { description: 'Alive.', example: { status: 'alive' } } } }), (ctx) => {
    ctx.body = { status: 'alive' };
  });
  router.get('/readyz', described({ summary: 'Readiness: MySQL and Redis answer and the schema is current', caller: 'anyone', responses: { 200: 'Ready, with each check\'s result.', 503: 'Not ready, with each check\'s result.' } }), async (ctx) => {
    const result = await readiness(db, redis, ctx.state.log);
    ctx.status = result.status === 'ready' ? 200 : 503;
    ctx.set('Cache-Control', 'no-store');
    ctx.body = result;
  });
  return router;
}
