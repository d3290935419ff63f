// GET /api/v1/openapi.json: the API's own description, for anyone (docs/api.md). Built once per
// app from its routes, and cacheable: it changes only with the code.
import { createHash } from 'node:crypto';
import Router from '@koa/router';
import type Koa from 'koa';
import { described } from '../http/described.ts';
import { openApiDocument } from './document.ts';

const built = new WeakMap<Koa, { json: string; etag: string }>();

function documentOf(app: Koa): { json: string; etag: string } {
  let document = built.get(app);
  if (!document) {
    const json = JSON.stringify(openApiDocument(app));
    document = { json, etag: createHash('sha256').update(json).digest('base64url').slice(0, 27) };
    built.set(app, document);
  }
  return document;
}

export function openApiRoutes(): Router {
  const router = new Router();
  router.get('/api/v1/openapi.json', described({
    summary: 'This document: the API described as OpenAPI 3.1',
    caller: 'anyone',
    responses: { 200: 'The OpenAPI 3.1 document.', 304: 'Unchanged since the ETag given in If-None-Match.' },
  }), (ctx) => {
    const { json, etag } = documentOf(ctx.app);
    ctx.set('Cache-Control', 'public, max-age=300');
    ctx.etag = etag;
    ctx.status = 200;
    if (ctx.fresh) {
      ctx.status = 304;
      return;
    }
    ctx.type = 'application/json; charset=utf-8';
    ctx.body = json;
  });
  return router;
}
