// The routes an app answers, read from its routers, so a suite can check it has a case for each.
import type Koa from 'koa';
import { appRoutes } from '../../src/openapi/document.ts';

/** "METHOD /path/:param" for every route of every router mounted on `app` (HEAD, which Koa adds to GET, left out). */
export function routeList(app: Koa): string[] {
  return [...new Set(appRoutes(app).map(({ method, path }) => `${method} ${path}`))].sort();
}
