import test from 'ava';
import { once } from 'node:events';
import type { AddressInfo } from 'node:net';
import Koa from 'koa';
import { problemMiddleware } from '../src/http/errors.ts';
import { requestContext } from '../src/http/request-context.ts';
import { fileFixture, silentLog, testDatabase } from './helpers/env.ts';
import { startApp } from './helpers/server.ts';
import { createDb } from '../src/db.ts';

const fixture = fileFixture(test, async (cleanup) => startApp(cleanup, (await testDatabase(cleanup)).db));

function expectProblem(t: import('ava').ExecutionContext, response: Response, body: Record<string, unknown>, status: number, code: string) {
  t.is(response.status, status);
  t.is(response.headers.get('content-type'), 'application/problem+json; charset=utf-8');
  t.is(body.code, code);
  t.is(body.type, `urn:mykey:problem:${code}`);
  t.is(body.status, status);
  const messages = body.messages as { ja: string; en: string };
  t.regex(messages.ja, /[ぁ-んァ-ン一-龯]/, 'a Japanese message');
  t.regex(messages.en, /^[A-Z]/, 'an English message');
  t.is(body.requestId, response.headers.get('x-request-id'));
}

test('an unknown route is a 404 problem document in both languages', async (t) => {
  const base = await fixture();
  const response = await fetch(`${base}/api/v1/nothing-here`);
  const body = await response.json();
  expectProblem(t, response, body, 404, 'not_found');
  t.is(body.instance, '/api/v1/nothing-here');
});

test('a caller-supplied request id is echoed; a malformed one is replaced', async (t) => {
  const base = await fixture();
  const kept = await fetch(`${base}/api/v1/nothing-here`, { headers: { 'X-Request-Id': 'trace-1234abcd' } });
  t.is(kept.headers.get('x-request-id'), 'trace-1234abcd');
  t.is((await kept.json()).requestId, 'trace-1234abcd');
  const replaced = await fetch(`${base}/api/v1/nothing-here`, { headers: { 'X-Request-Id': 'bad id <script>' } });
  t.regex(replaced.headers.get('x-request-id') ?? '', /^[0-9a-f-]{36}$/);
});

test('a wrong method is a 405 problem', async (t) => {
  const base = await fixture();
  const response = await fetch(`${base}/api/v1/staff/session`, { method: 'PUT' });
  expectProblem(t, response, await response.json(), 405, 'method_not_allowed');
});

test('malformed JSON is a 400 problem', async (t) => {
  const base = await fixture();
  const response = await fetch(`${base}/api/v1/staff/sessions`, { method: 'POST', headers: { 'Content-Type': 'application/json' }, body: '{"loginId":' });
  const body = await response.json();
  expectProblem(t, response, body, 400, 'request_invalid');
  t.is(body.detail, 'The body is not well-formed JSON.');
});

test('a body of the wrong shape names the fields', async (t) => {
  const base = await fixture();
  const response = await fetch(`${base}/api/v1/staff/sessions`, { method: 'POST', headers: { 'Content-Type': 'application/json' }, body: '{"loginId":""}' });
  const body = await response.json();
  expectProblem(t, response, body, 400, 'request_invalid');
  t.deepEqual(body.errors.map((e: { path: string }) => e.path).sort(), ['loginId', 'password']);
});

test('a body that is not JSON is a 415 problem', async (t) => {
  const base = await fixture();
  const response = await fetch(`${base}/api/v1/staff/sessions`, { method: 'POST', headers: { 'Content-Type': 'text/plain' }, body: 'hello' });
  expectProblem(t, response, await response.json(), 415, 'unsupported_media_type');
});

test('an oversized body is a 413 problem', async (t) => {
  const base = await fixture();
  const body = JSON.stringify({ loginId: 'x', password: 'y'.repeat(100_000) });
  const response = await fetch(`${base}/api/v1/staff/sessions`, { method: 'POST', headers: { 'Content-Type': 'application/json' }, body });
  expectProblem(t, response, await response.json(), 413, 'body_too_large');
});

test('an unexpected error is a 500 problem that leaks no stack or message', async (t) => {
  const app = new Koa();
  app.silent = true;
  app.use(requestContext(silentLog));
  app.use(problemMiddleware);
  app.use(() => { throw new Error('secret internals at /srv/app.ts:42'); });
  const server = app.listen(0, '127.0.0.1');
  await once(server, 'listening');
  t.teardown(() => server.close());
  const response = await fetch(`http://127.0.0.1:${(server.address() as AddressInfo).port}/`);
  const text = await response.text();
  expectProblem(t, response, JSON.parse(text), 500, 'internal_error');
  t.notRegex(text, /secret internals|app\.ts|\bat /);
});

test('a database that is down is a 503 problem, not a crash', async (t) => {
  const downDb = createDb('mysql://mykey:mykey@127.0.0.1:1/none', silentLog);
  t.teardown(() => downDb.destroy());
  const downBase = await startApp((fn) => t.teardown(fn), downDb);
  const response = await fetch(`${downBase}/api/v1/staff/sessions`, { method: 'POST', headers: { 'Content-Type': 'application/json' }, body: '{"loginId":"a","password":"b"}' });
  expectProblem(t, response, await response.json(), 503, 'database_unavailable');
});
