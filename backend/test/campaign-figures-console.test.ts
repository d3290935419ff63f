// The municipality console's キャンペーン実績 and 失効予定のポイント in Chromium, against the real
// backend: a town whose two campaigns granted, converted, were spent, refunded and expired through
// the ledger's own operations; its auditor reads the programme, opens a campaign's dashboard
// from it, reaches the charts by keyboard, reads their tables and downloads their data, then the
// points about to expire, in Japanese and in English.
import test from 'ava';
import { readFile } from 'node:fs/promises';
import type { Page } from 'playwright-core';
import { launchBrowser, paintedPixels, screenshotPath, signedInPage } from './helpers/browser.ts';
import { campaignActivity, dayAfter } from './helpers/campaign-figures.ts';
import { fileFixture, testDatabase } from './helpers/env.ts';
import { startTestApp } from './helpers/server.ts';

const fixture = fileFixture(test, async (cleanup) => {
  const { db } = await testDatabase(cleanup);
  const { base } = await startTestApp(cleanup, db);
  return { db, base, ...(await campaignActivity(db, new Date())), browser: await launchBrowser(cleanup) };
});

/** The chart of the region named `heading` is drawn with data, and says so to a screen reader. */
async function drawn(page: Page, heading: string, summary: string | RegExp): Promise<number> {
  const region = page.getByRole('region', { name: heading, exact: true });
  await region.getByRole('img', { name: summary }).waitFor();
  return paintedPixels(region.locator('canvas'));
}

const cells = (page: Page, region: string, row: string | RegExp) =>
  page.getByRole('region', { name: region, exact: true }).getByRole('table').getByRole('row', { name: row }).getByRole('cell').allTextContents();

test('キャンペーン実績: the programme, a campaign\'s dashboard from it, its charts by keyboard and their CSV, in Japanese', async (t) => {
  const f = await fixture();
  const page = await signedInPage(t, f.browser, f.base, f.loginId, '自治体コンソール', { acceptDownloads: true });
  const errors: string[] = [];
  page.on('pageerror', (error) => errors.push(error.message));
  await page.getByRole('link', { name: 'キャンペーン実績' }).click();
  await page.waitForURL(`${f.base}/municipality/campaign-figures`);
  await page.getByRole('heading', { name: 'キャンペーン実績', level: 2 }).waitFor();
  // The programme from its first campaign's first day through today: both campaigns together.
  t.true(await drawn(page, '日ごとの付与・利用・失効ポイント',
    '日ごとの付与・利用・失効ポイントのグラフ。期間の合計は付与 2,500 pt、利用 800 pt、失効 900 pt です。数値はグラフの下の表にあります。') > 100);
  t.deepEqual(await cells(page, '日ごとの付与・利用・失効ポイント', new RegExp(`^${dayAfter(f.today, -15)} `)), ['700', '0', '0']);
  t.deepEqual(await cells(page, '日ごとの付与・利用・失効ポイント', new RegExp(`^${dayAfter(f.today, -10)} `)), ['0', '-100', '0']);
  t.deepEqual(await cells(page, 'キャンペーンごとの実績', new RegExp(f.names.e)),
    [`${f.e.startsOn} – ${f.e.endsOn}`, '800', '0', '0', '2', '2,000', '1,200']);
  await page.screenshot({ path: screenshotPath('municipality-programme-figures.png'), fullPage: true });

  // The campaign's own dashboard, from its name.
  await page.getByRole('link', { name: f.names.c }).click();
  await page.waitForURL(`${f.base}/municipality/campaign-figures/${f.campaignC}`);
  await page.getByRole('heading', { name: `${f.names.c} の実績`, level: 2 }).waitFor();
  t.true(await drawn(page, '日ごとの付与・利用・失効ポイント', /付与 1,700 pt、利用 800 pt、失効 900 pt/) > 100);
  t.true(await drawn(page, '予算の使用と残り（各日の終わり）', `予算の使用と残り（各日の終わり）のグラフ。${f.today} の終わりで使用 1,700 pt、残り 8,300 pt です。数値はグラフの下の表にあります。`) > 100);
  t.true(await drawn(page, '利用の多い店舗', '利用の多い店舗のグラフ。合計 800 pt、最も多いのは まちのパン屋 の 600 pt です。数値はグラフの下の表にあります。') > 100);
  t.true(await drawn(page, '新しく届いた住民（日ごと）', /期間に新しく 3 人、期間の終わりまでに合計 3 人/) > 100);
  t.deepEqual(await cells(page, '利用の多い店舗', /^まちのパン屋 /), ['600', '1']);
  t.deepEqual(await cells(page, '予算の使用と残り（各日の終わり）', new RegExp(`^${f.periodC.from} `)), ['1,000', '9,000']);
  const summary = page.getByRole('region', { name: `${f.periodC.from} から ${f.today} までの実績` });
  t.is(await summary.getByRole('definition').nth(7).textContent(), '8,300 pt');
  t.is(await summary.getByRole('definition').nth(9).textContent(), '付与がないため、なくなりません', 'an ended campaign runs out no more');

  // Keyboard alone: from the last download, Tab reaches the first chart, named by its summary.
  await page.getByRole('link', { name: '店舗ごとの利用のCSVをダウンロード' }).focus();
  await page.keyboard.press('Tab');
  t.is(await page.evaluate(() => document.activeElement?.id), 'figures-points-chart');
  await page.getByLabel('開始日').fill(dayAfter(f.today, -12));
  await page.getByLabel('終了日').fill(dayAfter(f.today, -11));
  await page.getByLabel('終了日').press('Enter');
  await drawn(page, '日ごとの付与・利用・失効ポイント', /付与 0 pt、利用 900 pt、失効 0 pt/);

  const [download] = await Promise.all([page.waitForEvent('download'), page.getByRole('link', { name: '日ごとの実績のCSVをダウンロード' }).click()]);
  t.is(download.suggestedFilename(), `campaign-figures-campaign-${f.campaignC}-${dayAfter(f.today, -12)}-${dayAfter(f.today, -11)}-days.csv`);
  t.deepEqual((await readFile((await download.path())!, 'utf8')).split('\r\n'), [
    '\uFEFFdate,issued,redeemed,expired,new_residents,residents_reached,budget_used,budget_left',
    `${dayAfter(f.today, -12)},0,600,0,0,3,1700,8300`,
    `${dayAfter(f.today, -11)},0,300,0,0,3,1700,8300`,
    '',
  ]);

  await page.getByLabel('開始日').fill('2025-01-01');
  await page.getByRole('button', { name: '表示' }).click();
  await page.getByText('キャンペーン実績の期間の指定が正しくありません。', { exact: false }).waitFor();
  t.deepEqual(errors, [], 'the page threw nothing');
});

test('失効予定のポイント: counts by month, the residents to warn and the CSV; then both screens in English', async (t) => {
  const f = await fixture();
  const page = await signedInPage(t, f.browser, f.base, f.loginId, '自治体コンソール', { acceptDownloads: true });
  await page.getByRole('link', { name: '失効予定のポイント' }).click();
  await page.getByRole('heading', { name: '失効予定のポイント', level: 2 }).waitFor();
  const month = f.e.endsOn.slice(0, 7);
  await page.getByLabel('この日まで').fill(f.e.endsOn);
  await page.getByLabel('この日まで').press('Enter');
  t.true(await drawn(page, '月ごとの失効予定ポイント', `月ごとの失効予定ポイントのグラフ。合計 800 pt、最も多いのは ${month} の 800 pt です。数値はグラフの下の表にあります。`) > 100);
  t.deepEqual(await cells(page, '月ごとの失効予定ポイント', new RegExp(`^${month} `)), ['800', '2']);
  const list = page.getByRole('table', { name: '住民ごとの失効予定（期限の近い順）' });
  for (const mykeyId of f.residents.slice(0, 2)) t.deepEqual(await list.getByRole('row', { name: new RegExp(`^${mykeyId} `) }).getByRole('cell').allTextContents(), ['400', f.e.endsOn]);
  t.is(await list.getByRole('row').count(), 3, 'the two residents and the header');
  await page.screenshot({ path: screenshotPath('municipality-expiring-points.png'), fullPage: true });
  const [download] = await Promise.all([page.waitForEvent('download'), page.getByRole('link', { name: '失効予定の一覧のCSVをダウンロード' }).click()]);
  t.is((await readFile((await download.path())!, 'utf8')).split('\r\n')[0], '\uFEFFmykey_id,points,last_day');

  await page.getByRole('button', { name: 'English' }).click();
  await page.getByRole('heading', { name: 'Points about to expire', level: 2 }).waitFor();
  t.true(await drawn(page, 'Points expiring per month', `Points expiring per month, as a chart: 800 pt in all, the most for ${month} (800 pt). The figures are in the table below the chart.`) > 100);
  t.deepEqual(await page.getByRole('table', { name: 'Expiring points per resident (soonest first)' }).getByRole('columnheader').allTextContents(), ['MyKey ID', 'Points', 'Last day to spend']);

  await page.getByRole('link', { name: 'Campaign figures' }).click();
  await page.getByRole('heading', { name: 'Campaign figures', level: 2 }).waitFor();
  t.true(await drawn(page, 'Points issued, redeemed and expired per day', /in the period 2,500 pt issued, 800 pt redeemed, 900 pt expired/) > 100);
  t.true(await drawn(page, "Budget used and left (at each day's end)", new RegExp(`at the end of ${f.today}, 2,500 pt used and 9,500 pt left`)) > 100);
  await page.getByRole('link', { name: `Winter support ${f.names.e.slice(-6)}` }).click();
  await page.getByRole('heading', { name: `Figures of Winter support ${f.names.e.slice(-6)}`, level: 2 }).waitFor();
  await page.getByRole('region', { name: 'Top shops', exact: true }).getByRole('img', { name: 'Top shops, as a chart: nothing was redeemed at shops in this period.' }).waitFor();
  const summary = page.getByRole('region', { name: `Figures from ${f.e.startsOn} to ${f.today}` });
  await summary.getByText('100 pt a day (average of the last 8 days)').waitFor();
  t.is(await summary.getByRole('definition').nth(9).textContent(), dayAfter(f.today, 12));
  await page.screenshot({ path: screenshotPath('municipality-campaign-figures-en.png'), fullPage: true });
});
