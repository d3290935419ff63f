// The API's OpenAPI document (docs/api.md): every route of the app is in it and nothing else,
// it is valid OpenAPI 3.1, every example in it matches its schema (a request example the
// route's own schema too), and a route cannot read a body or a key its description leaves out.
import test from 'ava';
import { once } from 'node:events';
import { get, type IncomingMessage } from 'node:http';
import type { AddressInfo } from 'node:net';
import Koa from 'koa';
import Router from '@koa/router';
import { z } from 'zod';
import { Ajv2020 } from 'ajv/dist/2020.js';
import addFormats from 'ajv-formats';
import { Validator } from '@seriousme/openapi-schema-validator';
import { problemKinds, type ProblemCode } from '@mykey/contracts/problem-kinds.ts';
import { problemMiddleware } from '../src/http/errors.ts';
import { requestContext } from '../src/http/request-context.ts';
import { readJson } from '../src/http/body.ts';
import { described } from '../src/http/described.ts';
import { idempotencyKey } from '../src/http/idempotency.ts';
import { appRoutes, openApiPath } from '../src/openapi/document.ts';
import { fileFixture, silentLog, testDatabase } from './helpers/env.ts';
import { routeList } from './helpers/routes.ts';
import { startTestApp } from './helpers/server.ts';

interface Operation { responses: Record<string, { content?: Record<string, { schema: { allOf?: { properties?: { code?: { enum?: string[] } } }[] } }> }>; parameters?: { name: string; in: string }[]; 'x-mykey-roles'?: string[] }
interface Document { openapi: string; paths: Record<string, Record<string, Operation>> }

const fixture = fileFixture(test, async (cleanup) => {
  const { base, app } = await startTestApp(cleanup, (await testDatabase(cleanup)).db);
  const response = await fetch(`${base}/api/v1/openapi.json`);
  const text = await response.text();
  return { base, app, response, text, document: JSON.parse(text) as Document };
});

const HOW = 'give the route described({ summary, caller, body?, query?, idempotent?, responses, problems? }) as its first middleware (docs/api.md)';

test('every route of the app is in the document, and the document has no route the app lacks', async (t) => {
  const { app, document } = await fixture();
  const documented = Object.entries(document.paths).flatMap(([path, item]) => Object.keys(item).map((method) => `${method.toUpperCase()} ${path}`));
  const routes = routeList(app).map((route) => { const [method, path] = route.split(' '); return `${method} ${openApiPath(path!)}`; });
  t.deepEqual(routes.filter((route) => !documented.includes(route)), [], `routes missing from the document: ${HOW}`);
  t.deepEqual(documented.filter((route) => !routes.includes(route)), [], 'documented routes the app does not have');
  t.true(routes.length > 80, 'the whole API, not a part of it');
});

test('the document is served to anyone, cacheable, and unchanged is answered 304', async (t) => {
  const { base, response } = await fixture();
  t.is(response.status, 200);
  t.regex(response.headers.get('content-type') ?? '', /^application\/json/);
  t.is(response.headers.get('cache-control'), 'public, max-age=300');
  const etag = response.headers.get('etag');
  t.truthy(etag);
  // Not fetch: with If-None-Match it also sends Cache-Control: no-cache, which asks for the whole answer.
  const [again] = await once(get(`${base}/api/v1/openapi.json`, { headers: { 'If-None-Match': etag! } }), 'response') as [IncomingMessage];
  again.resume();
  t.is(again.statusCode, 304);
});

test('the document is valid OpenAPI 3.1', async (t) => {
  const { text } = await fixture();
  const validator = new Validator();
  const result = await validator.validate(JSON.parse(text));
  t.deepEqual(result.errors, undefined);
  t.true(result.valid);
  t.is(validator.version, '3.1');
});

/** Every { schema, example } in the document (media types, parameters) and every schema's own examples. */
function examplesIn(node: unknown, where: string, found: { where: string; schema: object; example: unknown }[] = []) {
  if (Array.isArray(node)) node.forEach((item, i) => examplesIn(item, `${where}/${i}`, found));
  else if (node && typeof node === 'object') {
    const record = node as Record<string, unknown>;
    if (record.schema && typeof record.schema === 'object' && 'example' in record) found.push({ where, schema: record.schema, example: record.example });
    if (Array.isArray(record.examples) && (record.type || record.anyOf || record.oneOf || record.$ref)) {
      const { examples, ...schema } = record;
      for (const example of examples) found.push({ where, schema, example });
    }
    if ('example' in record && (record.type || record.anyOf) && !record.schema) {
      const { example, ...schema } = record;
      found.push({ where, schema, example });
    }
    for (const [key, value] of Object.entries(record)) examplesIn(value, `${where}/${key}`, found);
  }
  return found;
}

test('every example in the document matches its schema', async (t) => {
  const { text } = await fixture();
  const validator = new Validator();
  await validator.validate(JSON.parse(text));
  const resolved = validator.resolveRefs();
  const ajv = new Ajv2020({ strict: false, allErrors: true });
  addFormats.default(ajv);
  ajv.addFormat('base64', /^[A-Za-z0-9+/]*={0,2}$/);
  const examples = examplesIn(resolved.paths, '#/paths');
  t.true(examples.length >= 20, `only ${examples.length} examples`);
  for (const { where, schema, example } of examples) {
    const validate = ajv.compile(schema);
    t.true(validate(example), `${where}: ${JSON.stringify(example)} ${ajv.errorsText(validate.errors)}`);
  }
});

test("every request example is accepted by the route's own schema", async (t) => {
  const { app } = await fixture();
  const withExamples = appRoutes(app).filter((route) => route.description?.example !== undefined);
  t.true(withExamples.length >= 15, `only ${withExamples.length} request examples`);
  for (const { method, path, description } of withExamples) {
    t.truthy(description!.body, `${method} ${path}: an example without a body schema`);
    const parsed = description!.body!.safeParse(description!.example);
    t.true(parsed.success, `${method} ${path}: ${parsed.error?.message ?? ''}`);
  }
});

test("each problem response lists only codes of its status, and the Idempotency-Key and roles are shown where the route takes them", async (t) => {
  const { document } = await fixture();
  for (const [path, item] of Object.entries(document.paths)) {
    for (const [method, op] of Object.entries(item)) {
      for (const [status, response] of Object.entries(op.responses)) {
        const codes = response.content?.['application/problem+json']?.schema.allOf?.[1]?.properties?.code?.enum ?? [];
        if (Number(status) >= 400) t.true(codes.length > 0, `${method} ${path} ${status}: a problem answer without its codes`);
        for (const code of codes) t.is(String(problemKinds[code as ProblemCode].status), status, `${method} ${path} ${code}`);
      }
    }
  }
  const grant = document.paths['/api/v1/staff/grants']!.post!;
  t.true(grant.parameters!.some((p) => p.in === 'header' && p.name === 'Idempotency-Key'));
  t.deepEqual(grant['x-mykey-roles'], ['operator']);
  t.deepEqual(grant.responses['403']!.content!['application/problem+json']!.schema.allOf![1]!.properties!.code!.enum, ['staff_role_forbidden']);
  const signIn = document.paths['/api/v1/staff/sessions']!.post!;
  t.false((signIn.parameters ?? []).some((p) => p.name === 'Idempotency-Key'));
});

/** A one-route app around `route`, as createApp mounts routers. */
async function oneRoute(t: import('ava').ExecutionContext, route: (router: Router) => void): Promise<string> {
  const app = new Koa();
  app.silent = true;
  app.use(requestContext(silentLog));
  app.use(problemMiddleware);
  const router = new Router();
  route(router);
  app.use(router.routes());
  const server = app.listen(0, '127.0.0.1');
  await once(server, 'listening');
  t.teardown(() => server.close());
  return `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
}

const post = (url: string, headers: Record<string, string> = {}) => fetch(url, { method: 'POST', headers: { 'content-type': 'application/json', ...headers }, body: '{"name":"x"}' });

test('a route cannot read a body its description does not name, nor a key it does not declare', async (t) => {
  const documented = z.object({ name: z.string() });
  const other = z.object({ name: z.string() });
  const base = await oneRoute(t, (router) => {
    router.post('/same', described({ summary: 's', caller: 'anyone', body: documented, responses: { 200: 'ok' } }), async (ctx) => { ctx.body = await readJson(ctx, documented); });
    router.post('/other', described({ summary: 's', caller: 'anyone', body: documented, responses: { 200: 'ok' } }), async (ctx) => { ctx.body = await readJson(ctx, other); });
    router.post('/bare', async (ctx) => { ctx.body = await readJson(ctx, documented); });
    router.post('/keyed', described({ summary: 's', caller: 'anyone', idempotent: true, responses: { 200: 'ok' } }), (ctx) => { ctx.body = { key: idempotencyKey(ctx) }; });
    router.post('/unkeyed', described({ summary: 's', caller: 'anyone', responses: { 200: 'ok' } }), (ctx) => { ctx.body = { key: idempotencyKey(ctx) }; });
  });
  t.deepEqual(await (await post(`${base}/same`)).json(), { name: 'x' });
  for (const refused of ['/other', '/bare']) {
    const response = await post(`${base}${refused}`);
    t.is(response.status, 500, refused);
    t.is((await response.json()).code, 'internal_error', refused);
  }
  t.deepEqual(await (await post(`${base}/keyed`, { 'Idempotency-Key': 'key-00000001' })).json(), { key: 'key-00000001' });
  t.is((await post(`${base}/unkeyed`, { 'Idempotency-Key': 'key-00000001' })).status, 500);
});
