// The shops screens in Chromium, against the real backend (docs/shops.md): a shop applies on the
// public page without signing in, seeing its bank names as the transfer file will write them;
// the town's administrator reviews, approves, suspends with a reason, reinstates, corrects the
// account and rejects, in Japanese and in English; the shop's owner finds the settlement screen
// in the merchant console, its clerk does not.
import test from 'ava';
import { randomBytes } from 'node:crypto';
import { DEMO_MUNICIPALITY } from '@mykey/dev-tools/demo-towns.ts';
import { launchBrowser, screenshotPath, signedInPage } from './helpers/browser.ts';
import { fileFixture, testDatabase } from './helpers/env.ts';
import { startApp } from './helpers/server.ts';
import { demoPasswordHash } from './helpers/staff.ts';
import { applyAsShop } from './helpers/shops.ts';

const fixture = fileFixture(test, async (cleanup) => {
  const { db } = await testDatabase(cleanup);
  await db.seed.run();
  return { db, base: await startApp(cleanup, db), browser: await launchBrowser(cleanup) };
});

/** A pending application to the demo city, by the public form's route. */
async function apply(base: string, nameJa: string, nameEn: string): Promise<number> {
  const reply = await applyAsShop(base, { nameJa, nameEn });
  if (reply.status !== 201) throw new Error(JSON.stringify(reply.body));
  return reply.body.applicationId;
}

test('a shop applies on the public page: names shown as the transfer file writes them, one it cannot write refused before sending; the receipt in Japanese and English', async (t) => {
  const { db, base, browser } = await fixture();
  const context = await browser.newContext({ viewport: { width: 1200, height: 1600 } });
  t.teardown(() => context.close());
  const page = await context.newPage();
  const errors: string[] = [];
  page.on('pageerror', (error) => errors.push(error.message));
  await page.goto(`${base}/shops/apply?town=${DEMO_MUNICIPALITY.code}`);
  await page.getByRole('heading', { level: 1, name: '加盟店の申請' }).waitFor();
  await page.getByLabel('申請先の市町村').getByRole('option', { name: DEMO_MUNICIPALITY.name_ja }).waitFor({ state: 'attached' });
  t.is(await page.getByLabel('申請先の市町村').inputValue(), DEMO_MUNICIPALITY.code, 'the town the link named is chosen');

  await page.getByLabel('業種').selectOption({ label: '飲食店' });
  await page.getByLabel('店名（日本語）').fill('みらい食堂');
  await page.getByLabel('店名（英語）').fill('Mirai Diner');
  await page.getByLabel('所在地').fill('みらい市中央3-2-1');
  await page.getByLabel('代表者名').fill('食堂 花子');
  await page.getByLabel('電話番号').fill('03-9876-5432');
  await page.getByLabel('メールアドレス').fill('diner@example.jp');
  await page.getByLabel('金融機関コード').fill('0005');
  await page.getByLabel('金融機関名（カナ）').fill('みらいぎんこう');
  await page.getByLabel('支店コード').fill('010');
  await page.getByLabel('支店名（カナ）').fill('ホンテン');
  await page.getByLabel('口座番号').fill('1234567');
  // A holder's name in kanji: the field says which characters the file cannot write, and nothing is sent.
  await page.getByLabel('口座名義（カナ）').fill('食堂 花子');
  await page.getByText('振込データに書けない文字があります: 食 堂 花 子').waitFor();
  await page.getByRole('button', { name: '申請する' }).click();
  await page.getByText('入力に誤りがあります。赤枠の欄を確認してください。').waitFor();
  t.is(await page.getByLabel('口座名義（カナ）').getAttribute('aria-invalid'), 'true');
  t.is(Number((await db('merchants').where({ name_ja: 'みらい食堂' }).count({ n: '*' }))[0]!.n), 0);

  // In kana, as people type it: the field shows the half-width form the transfer file writes.
  await page.getByLabel('口座名義（カナ）').fill('しょくどう　はなこ');
  await page.getByText('振込データでの表記: ｼﾖｸﾄﾞｳ ﾊﾅｺ').waitFor();
  t.is(await page.getByLabel('金融機関名（カナ）').getAttribute('aria-describedby'), 'apply-bank-name-hint');
  t.is(await page.locator('#apply-bank-name-hint').textContent(), '振込データでの表記: ﾐﾗｲｷﾞﾝｺｳ');
  await page.getByLabel('口座名義（カナ）').press('Enter');
  const received = page.getByRole('heading', { name: '申請を受け付けました' });
  await received.waitFor();
  await page.waitForFunction(() => document.activeElement?.id === 'apply-receipt-heading');
  const id = Number((await db('merchants').where({ name_ja: 'みらい食堂' }).first('id')).id);
  t.true(await page.getByText(`（受付番号 ${id}）`, { exact: false }).isVisible());
  t.true(await page.getByText('ｼﾖｸﾄﾞｳ ﾊﾅｺ', { exact: true }).isVisible());
  t.like(await db('merchants').where({ id }).first(), { status: 'pending', account_holder_kana: 'ｼﾖｸﾄﾞｳ ﾊﾅｺ', bank_name_kana: 'ﾐﾗｲｷﾞﾝｺｳ', category: 'restaurant' });
  await page.screenshot({ path: screenshotPath('shop-application.png'), fullPage: true });

  await page.getByRole('button', { name: 'English' }).click();
  await page.getByRole('heading', { name: 'Application received' }).waitFor();
  t.true(await page.getByText(`Your application to ${DEMO_MUNICIPALITY.name_en} (number ${id}) is received.`, { exact: false }).isVisible());
  await page.getByRole('button', { name: 'Apply for another shop' }).click();
  await page.getByRole('heading', { level: 1, name: 'Apply as a shop' }).waitFor();
  await page.getByLabel('Account holder (kana)').fill('ﾔﾏﾀﾞ');
  await page.getByText('In the transfer file: ﾔﾏﾀﾞ').waitFor();
  t.deepEqual(errors, [], 'the page threw nothing');
});

test('the administrator reviews an application, approves it, suspends it with a reason, reinstates it and corrects its account; then rejects another in English', async (t) => {
  const { db, base, browser } = await fixture();
  const id = await apply(base, '審査の店', 'Review Shop');
  const other = await apply(base, '却下の店', 'Rejected Shop');
  const page = await signedInPage(t, browser, base, 'demo-city', '自治体コンソール');
  const errors: string[] = [];
  page.on('pageerror', (error) => errors.push(error.message));
  await page.getByRole('link', { name: '加盟店' }).click();
  await page.waitForURL(`${base}/municipality/shops`);
  await page.getByLabel('表示する状態').selectOption({ label: '審査待ち' });
  const list = page.getByRole('region', { name: '加盟店と申請' });
  await list.getByRole('row', { name: /審査の店/ }).waitFor();
  // The list shown before the choice held the application too: wait for the approved shop to go.
  await list.getByRole('row', { name: /みらいベーカリー/ }).waitFor({ state: 'detached' });
  await list.getByRole('button', { name: /^詳細\s?: 審査の店$/ }).click();
  const detail = page.getByRole('region', { name: '審査の店' });
  await detail.getByText('ﾀﾞｲﾋﾖｳ ﾀﾛｳ').waitFor();
  t.true(await detail.getByText('審査待ち').isVisible());

  await detail.getByRole('button', { name: '承認する' }).click();
  const approve = page.getByRole('dialog', { name: '承認する: 審査の店' });
  await approve.getByRole('button', { name: '承認する' }).click();
  await page.getByRole('status').getByText('審査の店を承認しました。').waitFor();
  t.is((await db('merchants').where({ id }).first('status')).status, 'approved');

  // A suspension needs its reason: asked in the dialog, announced when missing.
  await detail.getByRole('button', { name: '停止する' }).click();
  const suspend = page.getByRole('dialog', { name: '停止する: 審査の店' });
  await suspend.getByRole('button', { name: '停止する' }).click();
  await suspend.getByText('理由を入力してください。').waitFor();
  await suspend.getByLabel('理由').fill('営業実態の確認のため');
  await suspend.getByLabel('理由').press('Enter');
  await page.getByRole('status').getByText('審査の店を停止しました。').waitFor();
  await detail.getByText('営業実態の確認のため').waitFor();
  t.like(await db('merchants').where({ id }).first('status', 'status_reason'), { status: 'suspended', status_reason: '営業実態の確認のため' });
  await page.screenshot({ path: screenshotPath('municipality-shops.png'), fullPage: true });

  await detail.getByRole('button', { name: '再開する' }).click();
  await page.getByRole('dialog', { name: '再開する: 審査の店' }).getByRole('button', { name: '再開する' }).click();
  await page.getByRole('status').getByText('審査の店を再開しました。').waitFor();

  await detail.getByRole('button', { name: '振込先口座を修正' }).click();
  await detail.getByLabel('口座番号').fill('123');
  await detail.getByRole('button', { name: '口座を保存' }).click();
  await detail.getByText('振込先口座の入力に誤りがあります。').waitFor();
  await detail.getByLabel('口座番号').fill('0001234');
  await detail.getByLabel('支店名（カナ）').fill('えきまえ');
  await detail.getByRole('button', { name: '口座を保存' }).click();
  await page.getByRole('status').getByText('審査の店の振込先口座を保存しました。').waitFor();
  t.like(await db('merchants').where({ id }).first('account_number', 'branch_name_kana', 'status'), { account_number: '0001234', branch_name_kana: 'ｴｷﾏｴ', status: 'approved' });

  await page.getByRole('button', { name: 'English' }).click();
  await page.getByRole('heading', { name: 'Shops', level: 2 }).waitFor();
  await page.getByLabel('Show').selectOption({ label: 'Waiting for review' });
  const listEn = page.getByRole('region', { name: 'Shops and applications' });
  await listEn.getByRole('button', { name: /^Details\s?: Rejected Shop$/ }).click();
  const detailEn = page.getByRole('region', { name: 'Rejected Shop' });
  await detailEn.getByRole('button', { name: 'Reject' }).click();
  const reject = page.getByRole('dialog', { name: 'Reject: Rejected Shop' });
  await reject.getByLabel('Reason').fill('Outside the city');
  await reject.getByRole('button', { name: 'Reject' }).click();
  await page.getByRole('status').getByText('The application of Rejected Shop is rejected.').waitFor();
  t.like(await db('merchants').where({ id: other }).first('status', 'status_reason'), { status: 'rejected', status_reason: 'Outside the city' });
  t.deepEqual(errors, [], 'the page threw nothing');
});

test('an auditor reads the shops and is offered no decision', async (t) => {
  const { base, browser } = await fixture();
  const page = await signedInPage(t, browser, base, 'demo-auditor', '自治体コンソール');
  await page.getByRole('link', { name: '加盟店' }).click();
  await page.getByRole('button', { name: /^詳細\s?: みらいベーカリー$/ }).click();
  const detail = page.getByRole('region', { name: 'みらいベーカリー' });
  await detail.getByText('承認済み').waitFor();
  t.is(await detail.getByRole('button').count(), 0, 'no button to approve, suspend or edit');
});

test("the shop's owner finds the settlement screen in the merchant console, with the shop's own line; a clerk is not shown it", async (t) => {
  const { db, base, browser } = await fixture();
  const owner = await signedInPage(t, browser, base, 'demo-shop', '加盟店コンソール');
  await owner.getByRole('link', { name: '精算' }).click();
  await owner.waitForURL(`${base}/merchant/settlement`);
  const lines = owner.getByRole('region', { name: '加盟店への支払い（市が加盟店に支払う額）' });
  await lines.getByRole('row', { name: /みらいベーカリー/ }).waitFor();
  t.false(await owner.getByRole('heading', { name: /提携事業者/ }).isVisible(), "no partner's figures for a shop");
  t.regex(await lines.getByRole('link').getAttribute('href') ?? '', /^\/api\/v1\/merchant\/settlement\?from=.*&format=csv$/);
  await owner.getByRole('button', { name: 'English' }).click();
  await owner.getByRole('heading', { name: 'Settlement', level: 2 }).waitFor();
  await owner.getByText("This shop's settlement statement", { exact: false }).waitFor();

  const bakery = await db('merchants').where({ slug: 'demo-bakery' }).first('id');
  const loginId = `clerk-${randomBytes(3).toString('hex')}`;
  await db('staff_accounts').insert({ login_id: loginId, display_name: '店員 次郎', organization_kind: 'merchant', roles: 'clerk', merchant_id: bakery.id, password_hash: await demoPasswordHash() });
  const clerk = await signedInPage(t, browser, base, loginId, '加盟店コンソール');
  await clerk.getByRole('link', { name: 'レジ' }).waitFor();
  t.is(await clerk.getByRole('link', { name: '精算' }).count(), 0);
});
