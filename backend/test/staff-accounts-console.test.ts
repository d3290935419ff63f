// The staff screens in Chromium against the real backend (docs/security/staff.md#the-life-of-an-account):
// an administrator invites an operator, who creates the account on the invitation page, sets up
// two-step verification and sees only an operator's places, and whom the administrator then
// disables, and invites a shop's first owner; a shop's owner invites a clerk in English, who works the register and sees no
// settlement; the administrator ends a partner agreement in English.
import test, { type ExecutionContext } from 'ava';
import { randomBytes } from 'node:crypto';
import type { Browser, Page } from 'playwright-core';
import { fileFixture, testDatabase } from './helpers/env.ts';
import { startApp } from './helpers/server.ts';
import { launchBrowser, screenshotPath, signedInPage, signIn } from './helpers/browser.ts';
import { addPartner } from './helpers/partners.ts';
import { nextCode, type AccountState } from './helpers/staff.ts';
import { problemKinds } from '@mykey/contracts/problem-kinds.ts';

const PASSWORD = 'まどぐち-招待-2026-passphrase';

const fixture = fileFixture(test, async (cleanup) => {
  const { db } = await testDatabase(cleanup);
  await db.seed.run();
  return { db, base: await startApp(cleanup, db), browser: await launchBrowser(cleanup) };
});

async function publicPage(t: ExecutionContext, browser: Browser, base: string, path: string): Promise<Page> {
  const context = await browser.newContext({ viewport: { width: 1200, height: 1400 } });
  t.teardown(() => context.close());
  const page = await context.newPage();
  await page.goto(`${base}${path}`);
  return page;
}

/** The invitation page filled in and sent, by keyboard from the code field on. */
async function redeem(page: Page, labels: { code: string; login: string; password: string; again: string; submit: string }, code: string, loginId: string): Promise<void> {
  await page.getByLabel(labels.code).fill(code);
  await page.getByLabel(labels.login, { exact: true }).fill(loginId);
  await page.getByLabel(labels.password, { exact: true }).fill(PASSWORD);
  await page.getByLabel(labels.again).fill(PASSWORD);
  await page.getByRole('button', { name: labels.submit }).click();
}

const menuOf = (page: Page) => page.getByRole('navigation').getByRole('link').allTextContents();

test('an administrator invites an operator, who signs up with the code, enrols two-step verification and sees only the places of an operator; then is disabled', async (t) => {
  const { db, base, browser } = await fixture();
  // An approved shop without an owner yet, whose first owner the administrator invites at the end.
  const [shop] = await db('merchants').insert({ municipality_code: '139998', slug: `new-shop-${randomBytes(3).toString('hex')}`, name_ja: 'つばさ文具店', name_en: 'Tsubasa Stationery', status: 'approved' });
  const admin = await signedInPage(t, browser, base, 'demo-city', '自治体コンソール');
  await admin.getByRole('navigation').getByRole('link', { name: '職員' }).click();
  await admin.waitForURL(`${base}/municipality/staff`);
  await admin.getByRole('heading', { level: 2, name: '職員' }).waitFor();

  // Nothing chosen: said so, nothing issued.
  await admin.getByRole('button', { name: '招待コードを発行' }).click();
  await admin.getByText('氏名を入力してください。').waitFor();
  await admin.getByLabel('氏名（画面に表示される名前）').fill('窓口 花子');
  await admin.getByRole('button', { name: '招待コードを発行' }).click();
  await admin.getByText('役割を一つ以上選んでください。').waitFor();
  await admin.getByRole('group', { name: '役割' }).getByLabel('窓口担当').check();
  await admin.getByRole('button', { name: '招待コードを発行' }).click();
  await admin.getByRole('heading', { level: 4, name: '窓口 花子 さんの招待コード' }).waitFor();
  const code = (await admin.locator('.issued code').textContent())!;
  t.regex(code, /^[A-Z0-9]{4}-[A-Z0-9]{4}-[A-Z0-9]{2}$/);
  t.true(await admin.getByText(`${base}/invitation`).isVisible());
  await admin.screenshot({ path: screenshotPath('staff-accounts.png'), fullPage: true });

  // The invitee, on a browser of their own.
  const loginId = `hanako-${randomBytes(3).toString('hex')}`;
  const invitee = await publicPage(t, browser, base, '/invitation');
  await invitee.getByRole('heading', { level: 1, name: '招待コードでアカウントを作る' }).waitFor();
  const labels = { code: '招待コード', login: 'ログインID', password: '新しいパスワード', again: '新しいパスワード（確認）', submit: 'アカウントを作成' };
  await redeem(invitee, labels, 'AAAA-AAAA-AA', loginId);
  await invitee.getByText('招待コードが正しくないか、期限切れか、すでに使われています。').waitFor();
  await redeem(invitee, labels, code.toLowerCase(), loginId);
  const done = invitee.getByRole('heading', { level: 1, name: 'アカウントを作成しました' });
  await done.waitFor();
  t.is(await invitee.evaluate(() => document.activeElement?.textContent), 'アカウントを作成しました', 'focus moves to the result');
  t.true(await invitee.getByText('最初のサインインで、スマートフォンの認証アプリによる二段階認証を設定します。').isVisible());
  await invitee.getByRole('link', { name: 'サインインへ進む' }).click();
  await invitee.waitForURL(`${base}/sign-in`);
  await signIn(invitee, loginId, PASSWORD);
  await invitee.waitForURL(`${base}/two-step-setup`);
  const phone: AccountState = { secret: (await invitee.getByLabel('設定キー').textContent())!, lastStep: 0, turn: Promise.resolve() };
  await invitee.getByLabel('2. 認証アプリに表示された6桁のコードを入力してください。').fill(await nextCode(phone));
  await invitee.keyboard.press('Enter');
  await invitee.getByRole('button', { name: '保管しました。コンソールへ進む' }).click();
  await invitee.getByRole('heading', { level: 1, name: '自治体コンソール' }).waitFor();
  const menu = await menuOf(invitee);
  t.true(menu.includes('ポイント付与'), `an operator grants: ${menu.join(' / ')}`);
  t.false(menu.includes('職員'), 'an operator manages no staff');
  await invitee.goto(`${base}/municipality/staff`);
  await invitee.getByText(problemKinds.staff_role_forbidden.messages.ja).waitFor();

  // The administrator sees the new account, and disables it: the operator's session ends at once.
  await admin.getByRole('region', { name: 'アカウント一覧' }).getByRole('button', { name: '一覧を更新' }).click();
  const row = admin.getByRole('row').filter({ hasText: loginId });
  await row.getByRole('cell', { name: '窓口担当', exact: true }).waitFor();
  await row.getByRole('cell', { name: '設定済み', exact: true }).waitFor();
  await row.getByRole('button', { name: '無効にする' }).click();
  const dialog = admin.getByRole('dialog', { name: '窓口 花子 さんのアカウントを無効にしますか？' });
  await dialog.getByRole('button', { name: '無効にする' }).click();
  await admin.getByRole('status').getByText('窓口 花子 さんのアカウントを更新しました。').waitFor();
  await row.getByRole('cell', { name: '無効', exact: true }).waitFor();
  const status = await invitee.evaluate(() => fetch('/api/v1/staff/session').then((r) => r.status));
  t.is(status, 401, "the operator's session ended");

  // The last administrator of a town keeps the role: a refusal, said in the dialog.
  const own = admin.getByRole('row').filter({ hasText: 'demo-city' });
  await own.getByRole('button', { name: '役割を変更' }).click();
  const roles = admin.getByRole('dialog', { name: /さんの役割$/ });
  await roles.getByLabel('管理者').uncheck();
  await roles.getByRole('button', { name: '役割を保存' }).click();
  await roles.getByText(problemKinds.staff_last_administrator.messages.ja).waitFor();
  await roles.getByRole('button', { name: 'やめる' }).click();

  // A shop of the town's first owner: the shop chosen, the role is the owner's.
  await admin.getByLabel('氏名（画面に表示される名前）').fill('光 店主');
  await admin.getByLabel('勤務先').selectOption({ label: 'つばさ文具店（店舗の最初のオーナーとして）' });
  t.is(await admin.getByRole('group', { name: '役割' }).count(), 0, "the shop's first account is its owner");
  await admin.getByRole('button', { name: '招待コードを発行' }).click();
  await admin.getByRole('heading', { level: 4, name: '光 店主 さんの招待コード' }).waitFor();
  t.like(await db('staff_invitations').where({ merchant_id: shop }).first('roles', 'organization_kind'), { roles: 'owner', organization_kind: 'merchant' });

  // The code not yet used is listed (never the code itself), and cancelled: it stops working.
  const waiting = admin.getByRole('region', { name: '使われていない招待コード' });
  const invited = waiting.getByRole('row').filter({ hasText: '光 店主' });
  await invited.getByRole('cell', { name: 'つばさ文具店', exact: true }).waitFor();
  await invited.getByRole('cell', { name: '市職員 太郎', exact: true }).waitFor();
  t.is(await waiting.getByRole('row').filter({ hasText: '窓口 花子' }).count(), 0, 'a used code is not listed');
  await invited.getByRole('button', { name: '取り消す' }).click();
  await admin.getByRole('dialog', { name: '光 店主 さんへの招待を取り消しますか？' }).getByRole('button', { name: '取り消す' }).click();
  await admin.getByRole('status').getByText('光 店主 さんへの招待を取り消しました。').waitFor();
  await invited.waitFor({ state: 'detached' });
  t.truthy((await db('staff_invitations').where({ merchant_id: shop }).first('closed_at')).closed_at, 'closed in the database');
});

test("in English: a shop's owner invites a clerk, who signs up and works the register but sees no settlement", async (t) => {
  const { base, browser } = await fixture();
  const owner = await signedInPage(t, browser, base, 'demo-shop', '加盟店コンソール');
  await owner.getByRole('button', { name: 'English' }).click();
  await owner.getByRole('navigation').getByRole('link', { name: 'Staff' }).click();
  await owner.waitForURL(`${base}/merchant/staff`);
  await owner.getByRole('heading', { level: 2, name: 'Staff' }).waitFor();
  t.is(await owner.getByRole('group', { name: 'Roles' }).getByRole('checkbox').count(), 2, "a shop's roles only: owner and clerk");
  await owner.getByLabel('Name (as the screens show it)').fill('Jiro Clerk');
  await owner.getByRole('group', { name: 'Roles' }).getByLabel('Clerk').check();
  await owner.getByRole('button', { name: 'Issue an invitation code' }).click();
  await owner.getByRole('heading', { level: 4, name: 'Invitation code for Jiro Clerk' }).waitFor();
  const code = (await owner.locator('.issued code').textContent())!;
  const waiting = owner.getByRole('region', { name: 'Invitation codes not yet used' });
  await waiting.getByRole('row').filter({ hasText: 'Jiro Clerk' }).getByRole('cell', { name: 'Clerk', exact: true }).waitFor();

  const loginId = `jiro-${randomBytes(3).toString('hex')}`;
  const clerk = await publicPage(t, browser, base, '/invitation');
  await clerk.getByRole('button', { name: 'English' }).click();
  await clerk.getByRole('heading', { level: 1, name: 'Create your account with an invitation code' }).waitFor();
  const labels = { code: 'Invitation code', login: 'Login ID', password: 'New password', again: 'New password again', submit: 'Create account' };
  await clerk.getByLabel(labels.code).fill(code);
  await clerk.getByLabel(labels.login, { exact: true }).fill(loginId);
  await clerk.getByLabel(labels.password, { exact: true }).fill(PASSWORD);
  await clerk.getByLabel(labels.again).fill(`${PASSWORD}!`);
  await clerk.getByRole('button', { name: labels.submit }).click();
  await clerk.getByText('The two passwords differ.').waitFor();
  await redeem(clerk, labels, code, loginId);
  await clerk.getByRole('heading', { level: 1, name: 'Your account is ready' }).waitFor();
  t.false(await clerk.getByText('two-step verification').isVisible(), "a shop's staff need no second factor");
  await clerk.screenshot({ path: screenshotPath('staff-invitation-en.png'), fullPage: true });
  await clerk.getByRole('link', { name: 'Go to sign-in' }).click();
  await clerk.getByLabel('Login ID').fill(loginId);
  await clerk.getByLabel('Password').fill(PASSWORD);
  await clerk.getByRole('button', { name: 'Sign in' }).click();
  await clerk.getByRole('heading', { level: 1, name: 'Merchant console' }).waitFor();
  const menu = await menuOf(clerk);
  t.true(menu.includes('Register'), menu.join(' / '));
  t.false(menu.includes('Staff'), 'a clerk manages no staff');
  const settlement = await clerk.evaluate(() => fetch('/api/v1/merchant/settlement?from=2026-12-01&to=2026-12-01').then((r) => r.status));
  t.is(settlement, 403, 'nor sees the settlement');
  const intent = await clerk.evaluate(() => fetch('/api/v1/merchant/payment-intents', {
    method: 'POST', headers: { 'Content-Type': 'application/json', 'Idempotency-Key': crypto.randomUUID() }, body: JSON.stringify({ amount: 300 }),
  }).then((r) => r.status));
  t.is(intent, 201, 'but opens a payment at the register');

  // Back at the owner's screen: the clerk is listed as a clerk, never signed in before now.
  await owner.getByRole('region', { name: 'Accounts' }).getByRole('button', { name: 'Refresh list' }).click();
  await owner.getByRole('row').filter({ hasText: loginId }).getByRole('cell', { name: 'Clerk', exact: true }).waitFor();
});

test('in English: the administrator adds and ends a partner agreement; an auditor reads the list only', async (t) => {
  const { db, base, browser } = await fixture();
  const partner = await addPartner(db);
  const admin = await signedInPage(t, browser, base, 'demo-city', '自治体コンソール');
  await admin.getByRole('button', { name: 'English' }).click();
  await admin.getByRole('navigation').getByRole('link', { name: 'Partners' }).click();
  await admin.waitForURL(`${base}/municipality/partners`);
  await admin.getByRole('heading', { level: 2, name: 'Partners' }).waitFor();
  await admin.getByRole('button', { name: 'Add agreement' }).click();
  await admin.getByText('Please enter the partner ID.').waitFor();
  await admin.getByLabel('Partner ID').fill('no-such-partner');
  await admin.getByRole('button', { name: 'Add agreement' }).click();
  await admin.getByText('The partner was not found.').waitFor();
  await admin.getByLabel('Partner ID').fill(partner.slug);
  await admin.getByRole('button', { name: 'Add agreement' }).click();
  await admin.getByRole('status').getByText(`Added the agreement with ${partner.slug}.`).waitFor();
  const row = admin.getByRole('row').filter({ hasText: partner.slug });
  await row.getByRole('cell', { name: 'In force', exact: true }).waitFor();
  await row.getByRole('button', { name: 'End agreement' }).click();
  await admin.getByRole('dialog', { name: `End the agreement with ${partner.slug}?` }).getByRole('button', { name: 'End agreement' }).click();
  await admin.getByRole('status').getByText(`Ended the agreement with ${partner.slug}.`).waitFor();
  await row.getByRole('cell', { name: 'Ended', exact: true }).waitFor();
  await admin.screenshot({ path: screenshotPath('partner-agreements-en.png'), fullPage: true });
  t.is((await db('partner_agreements').where({ partner_id: partner.id }).first('status')).status, 'ended');

  const auditor = await signedInPage(t, browser, base, 'demo-auditor', '自治体コンソール');
  await auditor.getByRole('navigation').getByRole('link', { name: '提携事業者' }).click();
  await auditor.getByRole('heading', { level: 3, name: '提携の一覧' }).waitFor();
  await auditor.getByRole('row').filter({ hasText: partner.slug }).getByRole('cell', { name: '終了', exact: true }).waitFor();
  t.is(await auditor.getByRole('button', { name: '提携を追加' }).count(), 0, 'an auditor adds nothing');
});
