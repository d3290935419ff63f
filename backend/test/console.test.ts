// The console in a real browser (Debian's Chromium), served by the real backend as in production.
import test from 'ava';
import type { Page } from 'playwright-core';
import { fileFixture, testDatabase } from './helpers/env.ts';
import { startApp } from './helpers/server.ts';
import { launchBrowser, screenshotPath, signIn, signInThroughForm } from './helpers/browser.ts';
import { DEMO_PASSWORD } from '../../seeds/01_demo_town.ts';

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
