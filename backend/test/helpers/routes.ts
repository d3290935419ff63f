// The routes an app answers, read from its routers, so a suite can check it has a case for each.
import type Koa from 'koa';
import type Router from '@koa/router';

type RouterMiddleware = Koa.Middleware & { router?: Router };

/** "METHOD /path/:param" for every route of every router mounted on `app` (HEAD, which Koa adds to GET, left out). */
export function routeList(app: Koa): string[] {
  const routes = new Set<string>();
  for (const middleware of app.middleware as RouterMiddleware[]) {
    for (const layer of middleware.router?.stack ?? []) {
      for (const method of layer.methods) if (method !== 'HEAD') routes.add(`${method} ${String(layer.path)}`);
    }
  }
  return [...routes].sort();
}
