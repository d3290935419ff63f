// The console's security screens in Chromium against the real backend, in Japanese and in English:
// municipal staff set up two-step verification at their first sign-in (QR code, the key as text,
// a code, recovery codes shown once), sign in with a code or a recovery code; a clerk changes
// their password and signs out everywhere.
import test from 'ava';
import type { Page } from 'playwright-core';
import { fileFixture, testDatabase } from './helpers/env.ts';
import { startApp } from './helpers/server.ts';
import { launchBrowser, screenshotPath, signIn, SIGN_IN_EN, SIGN_IN_JA, type SignInWords } from './helpers/browser.ts';
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

/** The screens' words in one language. */
interface Words extends SignInWords {
  language: 'ja' | 'en'; setupHeading: string; setupRequired: string; qr: string; setupKey: string; codeStep: string; codesHeading: string; codesSaved: string;
  cityConsole: string; shopConsole: string; signOut: string; secondStep: string; code: string; verify: string; useRecovery: string; recoveryCode: string;
  codesLeft: (count: number) => string; account: string; accountHeading: string; twoStepOff: string; currentPassword: string; newPassword: string;
  newPasswordAgain: string; change: string; differ: string; changed: string; signOutEverywhere: string;
}

const JA: Words = {
  ...SIGN_IN_JA, language: 'ja', setupHeading: '二段階認証の設定', setupRequired: '二段階認証を設定するまでコンソールを使えません', qr: '認証アプリに登録するためのQRコード',
  setupKey: '設定キー', codeStep: '2. 認証アプリに表示された6桁のコードを入力してください。', codesHeading: 'リカバリーコード', codesSaved: '保管しました。コンソールへ進む',
  cityConsole: '自治体コンソール', shopConsole: '加盟店コンソール', signOut: 'サインアウト', secondStep: '二段階認証', code: '確認コード', verify: '確認',
  useRecovery: 'スマートフォンが手元にないとき（リカバリーコードを使う）', recoveryCode: 'リカバリーコード', codesLeft: (count) => `リカバリーコードは残り${count}個です。`,
  account: 'アカウント', accountHeading: 'アカウントとセキュリティ', twoStepOff: '二段階認証は設定されていません。', currentPassword: '現在のパスワード',
  newPassword: '新しいパスワード', newPasswordAgain: '新しいパスワード（確認）', change: 'パスワードを変更', differ: '新しいパスワードが確認欄と一致しません。',
  changed: 'パスワードを変更しました。ほかの端末のサインインは終了しました。', signOutEverywhere: 'すべての端末からサインアウト',
};

const EN: Words = {
  ...SIGN_IN_EN, language: 'en', setupHeading: 'Set up two-step verification', setupRequired: 'cannot use the console until two-step verification is set up',
  qr: 'QR code to add this account to an authenticator app', setupKey: 'Setup key', codeStep: '2. Enter the 6-digit code the app shows.', codesHeading: 'Recovery codes',
  codesSaved: 'I have kept them. Go to the console', cityConsole: 'Municipality console', shopConsole: 'Merchant console', signOut: 'Sign out',
  secondStep: 'Two-step verification', code: 'Verification code', verify: 'Verify', useRecovery: 'No phone at hand? Use a recovery code', recoveryCode: 'Recovery code',
  codesLeft: (count) => `${count} recovery codes are left.`, account: 'Account', accountHeading: 'Account and security', twoStepOff: 'Two-step verification is off.',
  currentPassword: 'Current password', newPassword: 'New password', newPasswordAgain: 'New password (again)', change: 'Change password',
  differ: 'The new password and its confirmation differ.', changed: 'Your password was changed. Every other sign-in has ended.', signOutEverywhere: 'Sign out everywhere',
};

/** The sign-in page, in `w`'s language (chosen there, as someone would before signing in). */
async function newPage(t: import('ava').ExecutionContext, w: Words): Promise<{ page: Page; base: string; db: Db }> {
  const { base, browser, db } = await fixture();
  const context = await browser.newContext({ viewport: { width: 1200, height: 1400 } });
  t.teardown(() => context.close());
  const page = await context.newPage();
  await page.goto(`${base}/sign-in`);
  if (w.language === 'en') {
    await page.getByRole('button', { name: 'English' }).click();
    await page.getByRole('heading', { name: 'Staff sign-in' }).waitFor();
  }
  return { page, base, db };
}

for (const w of [JA, EN]) {
  test(`(${w.language}) municipal staff set up two-step verification at their first sign-in, then sign in with a code or a recovery code`, async (t) => {
    const { page, base, db } = await newPage(t, w);
    const loginId = `city-two-step-${w.language}`;
    await newAccount(db, loginId, 'municipality');
    await signIn(page, loginId, DEMO_PASSWORD, w);
    await page.waitForURL(`${base}/two-step-setup`);
    await page.getByRole('heading', { level: 2, name: w.setupHeading }).waitFor();
    t.true(await page.getByText(w.setupRequired).isVisible());
    t.is(await page.getByRole('navigation').count(), 0, 'no menu leads anywhere else');
    await page.getByRole('img', { name: w.qr }).locator('svg').waitFor();
    const secret = (await page.getByLabel(w.setupKey).textContent())!;
    t.regex(secret, /^[A-Z2-7]{32}$/);
    await page.screenshot({ path: screenshotPath(`totp-enrolment-${w.language}.png`), fullPage: true });

    // Nothing else opens meanwhile: the console sends the page back here.
    await page.goto(`${base}/municipality/mykeys`);
    await page.waitForURL(`${base}/two-step-setup`);
    const shown = (await page.getByLabel(w.setupKey).textContent())!;
    t.not(shown, secret, 'a fresh key for each visit');

    // Keyboard alone: type the code, Enter sends it.
    const phone: AccountState = { secret: shown, lastStep: 0, turn: Promise.resolve() };
    const codeField = page.getByLabel(w.codeStep);
    await codeField.focus();
    await page.keyboard.type(await nextCode(phone));
    await page.keyboard.press('Enter');
    const codesHeading = page.getByRole('heading', { level: 3, name: w.codesHeading });
    await codesHeading.waitFor();
    t.is(await page.evaluate(() => document.activeElement?.textContent), w.codesHeading, 'focus moves to the codes');
    const codes = await page.getByRole('list', { name: w.codesHeading }).getByRole('listitem').allTextContents();
    t.is(codes.length, 10);
    for (const code of codes) t.regex(code, /^[A-Z2-7]{4}(-[A-Z2-7]{4}){3}$/);
    await page.getByRole('button', { name: w.codesSaved }).click();
    await page.getByRole('heading', { level: 1, name: w.cityConsole }).waitFor();
    t.is(page.url(), `${base}/municipality`);

    // Next time: the password, then a code. A wrong one is said so; the right one opens the console.
    await page.getByRole('button', { name: w.signOut, exact: true }).click();
    await page.waitForURL(`${base}/sign-in`);
    await signIn(page, loginId, DEMO_PASSWORD, w);
    await page.getByRole('heading', { level: 1, name: w.secondStep }).waitFor();
    await page.getByLabel(w.code).fill('12345');
    await page.getByRole('button', { name: w.verify, exact: true }).click();
    await page.getByText(problemKinds.staff_second_factor_invalid.messages[w.language]).waitFor();
    await page.getByLabel(w.code).fill(await nextCode(phone));
    await page.getByRole('button', { name: w.verify, exact: true }).click();
    await page.getByRole('heading', { level: 1, name: w.cityConsole }).waitFor();

    // Without the phone: a recovery code, once.
    await page.getByRole('button', { name: w.signOut, exact: true }).click();
    await page.waitForURL(`${base}/sign-in`);
    await signIn(page, loginId, DEMO_PASSWORD, w);
    await page.getByRole('button', { name: w.useRecovery }).click();
    await page.getByLabel(w.recoveryCode).fill(codes[3]!.toLowerCase());
    await page.getByRole('button', { name: w.verify, exact: true }).click();
    await page.getByRole('heading', { level: 1, name: w.cityConsole }).waitFor();
    await page.getByRole('status').getByText(w.codesLeft(9)).waitFor();
    t.pass();
  });

  test(`(${w.language}) a clerk changes their password in the console and signs out everywhere`, async (t) => {
    const { page, base, db } = await newPage(t, w);
    const loginId = `shop-password-${w.language}`;
    await newAccount(db, loginId, 'merchant');
    const elsewhere = await post(base, '/api/v1/staff/sessions', { loginId, password: DEMO_PASSWORD });
    await signIn(page, loginId, DEMO_PASSWORD, w);
    await page.getByRole('heading', { level: 1, name: w.shopConsole }).waitFor();
    await page.getByRole('link', { name: w.account }).click();
    await page.waitForURL(`${base}/account`);
    await page.getByRole('heading', { level: 2, name: w.accountHeading }).waitFor();
    t.true(await page.getByText(w.twoStepOff).isVisible());

    const change = async (current: string, next: string, again = next) => {
      await page.getByLabel(w.currentPassword).fill(current);
      await page.getByLabel(w.newPassword, { exact: true }).fill(next);
      await page.getByLabel(w.newPasswordAgain).fill(again);
      await page.getByRole('button', { name: w.change }).click();
    };
    const said = (code: 'staff_password_too_short' | 'staff_password_common' | 'staff_current_password_wrong') => page.getByText(problemKinds[code].messages[w.language]).waitFor();
    await change(DEMO_PASSWORD, 'two different phrases', 'two different phrase');
    await page.getByText(w.differ).waitFor();
    await change(DEMO_PASSWORD, 'short-one');
    // The whole message: its first sentence is also in the screen's introduction.
    await said('staff_password_too_short');
    await change(DEMO_PASSWORD, 'password1234');
    await said('staff_password_common');
    await change('not-my-password', 'a long phrase of my own');
    await said('staff_current_password_wrong');
    await change(DEMO_PASSWORD, 'a long phrase of my own');
    await page.getByText(w.changed).waitFor();
    await page.screenshot({ path: screenshotPath(`account-security-${w.language}.png`), fullPage: true });

    const session = (cookie: string) => fetch(`${base}/api/v1/staff/session`, { headers: { cookie } }).then((r) => r.status);
    t.is(await session(elsewhere.cookie!), 401, 'the other session ended with the change');
    const again = await post(base, '/api/v1/staff/sessions', { loginId, password: 'a long phrase of my own' });
    t.is(again.status, 201);
    t.is(await session(again.cookie!), 200);

    // The console's own session went on; now it and every other one end.
    await page.getByRole('button', { name: w.signOutEverywhere }).click();
    await page.waitForURL(`${base}/sign-in`);
    t.is(await session(again.cookie!), 401);
    await page.goto(`${base}/merchant`);
    await page.waitForURL(`${base}/sign-in`);
  });
}
