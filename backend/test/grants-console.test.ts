// The municipality console's ポイント付与 and 精算 screens in Chromium, against the real backend:
// a clerk grants points to a resident (a typo caught as typed, the amount confirmed in a dialog),
// grants from a CSV file and downloads its result, then sees the grants in this month's statement.
import test from 'ava';
import { randomInt } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { DEMO_GRANT_CAMPAIGN, DEMO_MUNICIPALITY } from '@mykey/dev-tools/demo-towns.ts';
import { checkLedger } from '../src/ledger/check.ts';
import { residentPoints } from '../src/ledger/ledger.ts';
import { checkValue, encode, MYKEY_ALPHABET, PAYLOAD_LENGTH } from '@mykey/contracts/mykey-id.ts';
import { launchBrowser, screenshotPath, signedInPage } from './helpers/browser.ts';
import { fileFixture, testDatabase } from './helpers/env.ts';
import { startApp } from './helpers/server.ts';

const fixture = fileFixture(test, async (cleanup) => {
  const { db } = await testDatabase(cleanup);
  await db.seed.run();
  return { db, base: await startApp(cleanup, db), browser: await launchBrowser(cleanup) };
});

function mykeyId(): string {
  const payload = Array.from({ length: PAYLOAD_LENGTH }, () => randomInt(MYKEY_ALPHABET.length));
  return encode([...payload, checkValue(payload)]);
}

test('a clerk grants points one by one and from a CSV file, then sees them in the settlement statement', async (t) => {
  const { db, base, browser } = await fixture();
  const [resident, other] = [mykeyId(), mykeyId()];
  await db('mykeys').insert([resident, other].map((mykey_id) => ({ mykey_id, home_municipality_code: DEMO_MUNICIPALITY.code })));
  const page = await signedInPage(t, browser, base, 'demo-city', '自治体コンソール', { acceptDownloads: true });
  await page.getByRole('link', { name: 'ポイント付与' }).click();
  await page.waitForURL(`${base}/municipality/grants`);

  await page.getByLabel('キャンペーン', { exact: true }).getByRole('option', { name: new RegExp(`^${DEMO_GRANT_CAMPAIGN.name_ja}（予算残り`) }).waitFor({ state: 'attached' });
  t.regex(await page.getByLabel('キャンペーン', { exact: true }).inputValue(), /^\d+$/, 'the running campaign is chosen');
  const input = page.getByLabel('マイキーID', { exact: true });
  const swapped = resident.charAt(1) + resident.charAt(0) + resident.slice(2);
  if (swapped !== resident) {
    await input.fill(swapped);
    await page.getByText('マイキーIDの確認文字が一致しません').waitFor();
  }
  await input.fill(`${resident.slice(0, 4)}-${resident.slice(4)}`.toLowerCase());
  await page.getByLabel('ポイント数').fill('1200');
  await page.getByLabel('理由').fill('子育て応援（第1回）');
  await page.getByRole('button', { name: '付与内容を確認' }).click();
  const dialog = page.getByRole('dialog');
  await dialog.getByRole('heading', { name: '1,200 ポイントを付与しますか？' }).waitFor();
  t.true(await dialog.getByText(`マイキーID ${resident} に、「${DEMO_GRANT_CAMPAIGN.name_ja}」の予算から 1,200 ポイントを付与します。`).isVisible());
  await dialog.getByRole('button', { name: '付与する' }).click();
  await page.getByText(`マイキーID ${resident} に 1,200 ポイントを付与しました。付与後の残高は 1,200 ポイントです。`).waitFor();
  t.is((await residentPoints(db, DEMO_MUNICIPALITY.code, resident)).balance, 1_200);

  // A quote left open: the file is refused whole, and the clerk is shown where to look.
  const broken = Buffer.from(`\uFEFFmykey_id,points,reason\r\n${other},300,"転入\r\n歓迎"\r\n${other},100,"閉じていない\r\n`);
  await page.getByLabel('CSVファイル', { exact: true }).setInputFiles({ name: 'broken.csv', mimeType: 'text/csv', buffer: broken });
  await page.getByRole('button', { name: 'アップロードして付与' }).click();
  await page.getByText('ファイルを CSV として読み取れません。').waitFor();
  t.true(await page.getByText('確認する行: 4 行目から始まる行').isVisible());
  t.is((await residentPoints(db, DEMO_MUNICIPALITY.code, other)).balance, 0);

  const file = Buffer.from(`\uFEFFmykey_id,points,reason\r\n${other},300,転入歓迎\r\nABC,100,誤り\r\n`);
  await page.getByLabel('CSVファイル', { exact: true }).setInputFiles({ name: 'grants.csv', mimeType: 'text/csv', buffer: file });
  await page.getByRole('button', { name: 'アップロードして付与' }).click();
  const result = page.getByRole('region', { name: '処理結果' });
  await result.waitFor();
  t.is(await result.getByRole('definition').nth(1).textContent(), '1');
  t.is(await result.getByRole('definition').nth(3).textContent(), '1');
  t.is(await result.getByRole('definition').nth(4).textContent(), '300 ポイント');
  const [download] = await Promise.all([page.waitForEvent('download'), result.getByRole('link', { name: '結果ファイル（CSV）をダウンロード' }).click()]);
  const rows = (await readFile((await download.path())!, 'utf8')).split('\r\n');
  t.regex(rows[1]!, new RegExp(`^2,${other},300,granted,\\d+,`));
  t.regex(rows[2]!, /^3,,100,refused,,mykey_id_malformed,/);
  await page.screenshot({ path: screenshotPath('municipality-grants.png'), fullPage: true });

  await page.getByRole('link', { name: '精算' }).click();
  await page.waitForURL(`${base}/municipality/settlement`);
  const campaigns = page.getByRole('region', { name: 'キャンペーンの負担（市の負担）' });
  const row = campaigns.getByRole('row', { name: new RegExp(DEMO_GRANT_CAMPAIGN.name_ja) });
  await row.waitFor();
  t.is(await row.getByRole('cell').nth(1).textContent(), '2件 / 1,500');
  t.true(await page.getByRole('region', { name: '加盟店への支払い（市が加盟店に支払う額）' }).getByText('この期間の取引はありません。').isVisible());
  await page.screenshot({ path: screenshotPath('municipality-settlement.png'), fullPage: true });

  await page.getByRole('button', { name: 'English' }).click();
  await page.getByRole('heading', { name: 'Settlement', level: 2 }).waitFor();
  t.true(await page.getByRole('columnheader', { name: 'Grants' }).isVisible());
  const report = await checkLedger(db);
  t.true(report.ok, JSON.stringify(report.violations.slice(0, 5)));
});
