// The console's security screens in Chromium against the real backend: municipal staff set up
// two-step verification at their first sign-in (QR code, the key as text, a code, recovery
// codes shown once), sign in with a code or a recovery code; a clerk changes their password and
// signs out everywhere.
import test from 'ava';
import type { Page } from 'playwright-core';
import { fileFixture, testDatabase } from './helpers/env.ts';
import { startApp } from './helpers/server.ts';
import { launchBrowser, screenshotPath, signIn } from './helpers/browser.ts';
import { demoPasswordHash, nextCode, post, type AccountState } from './helpers/staff.ts';
import { DEMO_MUNICIPALITY, DEMO_PASSWORD } from '@mykey/dev-tools/demo-towns.ts';
import { problemKinds } from '@mykey/contracts/problem-kinds.ts';
import type { Db } from '../src/db.ts';

const fixture = fileFixture(test, async (cleanup) => {
  const { db } = await testDatabase(cleanup);
  await db.seed.run();
  return { db, base: await startApp(cleanup, db), browser: await launchBrowser(cleanup) };
});

async function newAccount(db: Db, loginId: string, role: 'merchant' | 'municipality'): Promise<void> {
  const bakery = await db('merchants').where({ slug: 'demo-bakery' }).first('id');
  await db('staff_accounts').insert({ login_id: loginId, display_name: 'テスト 職員', organization_kind: role, roles: role === 'municipality' ? 'administrator,operator' : 'owner', password_hash: await demoPasswordHash(),
    municipality_code: role === 'municipality' ? DEMO_MUNICIPALITY.code : null, merchant_id: role === 'merchant' ? bakery.id : null });
}

async function newPage(t: import('ava').ExecutionContext): Promise<{ page: Page; base: string; db: Db }> {
  const { base, browser, db } = await fixture();
  const context = await browser.newContext({ viewport: { width: 1200, height: 1400 } });
  t.teardown(() => context.close());
  const page = await context.newPage();
  await page.goto(`${base}/sign-in`);
  return { page, base, db };
}

test('municipal staff set up two-step verification at their first sign-in, then sign in with a code or a recovery code', async (t) => {
  const { page, base, db } = await newPage(t);
  await newAccount(db, 'city-two-step', 'municipality');
  await signIn(page, 'city-two-step', DEMO_PASSWORD);
  await page.waitForURL(`${base}/two-step-setup`);
  await page.getByRole('heading', { level: 2, name: '二段階認証の設定' }).waitFor();
  t.true(await page.getByText('二段階認証を設定するまでコンソールを使えません').isVisible());
  t.is(await page.getByRole('navigation').count(), 0, 'no menu leads anywhere else');
  await page.getByRole('img', { name: '認証アプリに登録するためのQRコード' }).locator('svg').waitFor();
  const secret = (await page.getByLabel('設定キー').textContent())!;
  t.regex(secret, /^[A-Z2-7]{32}$/);
  await page.screenshot({ path: screenshotPath('totp-enrolment.png'), fullPage: true });

  // Nothing else opens meanwhile: the console sends the page back here.
  await page.goto(`${base}/municipality/mykeys`);
  await page.waitForURL(`${base}/two-step-setup`);
  const shown = (await page.getByLabel('設定キー').textContent())!;
  t.not(shown, secret, 'a fresh key for each visit');

  // Keyboard alone: type the code, Enter sends it.
  const phone: AccountState = { secret: shown, lastStep: 0, turn: Promise.resolve() };
  const codeField = page.getByLabel('2. 認証アプリに表示された6桁のコードを入力してください。');
  await codeField.focus();
  await page.keyboard.type(await nextCode(phone));
  await page.keyboard.press('Enter');
  const codesHeading = page.getByRole('heading', { level: 3, name: 'リカバリーコード' });
  await codesHeading.waitFor();
  t.is(await page.evaluate(() => document.activeElement?.textContent), 'リカバリーコード', 'focus moves to the codes');
  const codes = await page.getByRole('list', { name: 'リカバリーコード' }).getByRole('listitem').allTextContents();
  t.is(codes.length, 10);
  for (const code of codes) t.regex(code, /^[A-Z2-7]{4}(-[A-Z2-7]{4}){3}$/);
  await page.getByRole('button', { name: '保管しました。コンソールへ進む' }).click();
  await page.getByRole('heading', { level: 1, name: '自治体コンソール' }).waitFor();
  t.is(page.url(), `${base}/municipality`);

  // Next time: the password, then a code. A wrong one is said so; the right one opens the console.
  await page.getByRole('button', { name: 'サインアウト' }).click();
  await page.waitForURL(`${base}/sign-in`);
  await signIn(page, 'city-two-step', DEMO_PASSWORD);
  await page.getByRole('heading', { level: 1, name: '二段階認証' }).waitFor();
  await page.getByLabel('確認コード').fill('12345');
  await page.getByRole('button', { name: '確認', exact: true }).click();
  await page.getByText('確認コードが違うか、すでに使われています。').waitFor();
  await page.getByLabel('確認コード').fill(await nextCode(phone));
  await page.getByRole('button', { name: '確認', exact: true }).click();
  await page.getByRole('heading', { level: 1, name: '自治体コンソール' }).waitFor();

  // Without the phone: a recovery code, once.
  await page.getByRole('button', { name: 'サインアウト' }).click();
  await page.waitForURL(`${base}/sign-in`);
  await signIn(page, 'city-two-step', DEMO_PASSWORD);
  await page.getByRole('button', { name: 'スマートフォンが手元にないとき（リカバリーコードを使う）' }).click();
  await page.getByLabel('リカバリーコード').fill(codes[3]!.toLowerCase());
  await page.getByRole('button', { name: '確認', exact: true }).click();
  await page.getByRole('heading', { level: 1, name: '自治体コンソール' }).waitFor();
  await page.getByRole('status').getByText('リカバリーコードは残り9個です。').waitFor();
  t.pass();
});

test('a clerk changes their password in the console and signs out everywhere', async (t) => {
  const { page, base, db } = await newPage(t);
  await newAccount(db, 'shop-password', 'merchant');
  const elsewhere = await post(base, '/api/v1/staff/sessions', { loginId: 'shop-password', password: DEMO_PASSWORD });
  await signIn(page, 'shop-password', DEMO_PASSWORD);
  await page.getByRole('heading', { level: 1, name: '加盟店コンソール' }).waitFor();
  await page.getByRole('link', { name: 'アカウント' }).click();
  await page.waitForURL(`${base}/account`);
  await page.getByRole('heading', { level: 2, name: 'アカウントとセキュリティ' }).waitFor();
  t.true(await page.getByText('二段階認証は設定されていません。').isVisible());

  const change = async (current: string, next: string, again = next) => {
    await page.getByLabel('現在のパスワード').fill(current);
    await page.getByLabel('新しいパスワード', { exact: true }).fill(next);
    await page.getByLabel('新しいパスワード（確認）').fill(again);
    await page.getByRole('button', { name: 'パスワードを変更' }).click();
  };
  await change(DEMO_PASSWORD, 'two different phrases', 'two different phrase');
  await page.getByText('新しいパスワードが確認欄と一致しません。').waitFor();
  await change(DEMO_PASSWORD, 'short-one');
  // The whole message: its first sentence is also in the screen's introduction.
  await page.getByText(problemKinds.staff_password_too_short.messages.ja).waitFor();
  await change(DEMO_PASSWORD, 'password1234');
  await page.getByText('このパスワードはよく使われていて推測されやすいため、使えません。').waitFor();
  await change('not-my-password', 'a long phrase of my own');
  await page.getByText('現在のパスワードが違います。').waitFor();
  await change(DEMO_PASSWORD, 'a long phrase of my own');
  await page.getByText('パスワードを変更しました。ほかの端末のサインインは終了しました。').waitFor();
  await page.screenshot({ path: screenshotPath('account-security.png'), fullPage: true });

  const session = (cookie: string) => fetch(`${base}/api/v1/staff/session`, { headers: { cookie } }).then((r) => r.status);
  t.is(await session(elsewhere.cookie!), 401, 'the other session ended with the change');
  const again = await post(base, '/api/v1/staff/sessions', { loginId: 'shop-password', password: 'a long phrase of my own' });
  t.is(again.status, 201);
  t.is(await session(again.cookie!), 200);

  // The console's own session went on; now it and every other one end.
  await page.getByRole('button', { name: 'すべての端末からサインアウト' }).click();
  await page.waitForURL(`${base}/sign-in`);
  t.is(await session(again.cookie!), 401);
  await page.goto(`${base}/merchant`);
  await page.waitForURL(`${base}/sign-in`);
});
