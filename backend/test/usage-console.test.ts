// The municipality console's 利用状況 screen in Chromium, against the real backend: a gym's
// member taps at its gate, older uses are already only hourly counts, and the clerk sees the
// uses per day and per hour of the day as charts with their tables, then downloads the CSV.
import test from 'ava';
import { readFile } from 'node:fs/promises';
import { launchBrowser, paintedPixels, screenshotPath, signedInPage } from './helpers/browser.ts';
import { fileFixture, silentLog } from './helpers/env.ts';
import { enrollDevice, municipalCounter } from './helpers/identity.ts';
import { insertUses, lastUseDay, serviceWithMember } from './helpers/service-uses.ts';
import { tokyoHour } from '../src/ledger/rules.ts';
import { foldExpiredUses } from '../src/town-services/uses-retention-job.ts';

const fixture = fileFixture(test, async (cleanup) => {
  const town = await municipalCounter(cleanup);
  return { ...town, browser: await launchBrowser(cleanup) };
});

test('a clerk charts a gym\'s uses per day and per hour, reads the same figures in the tables, and downloads them as CSV', async (t) => {
  const { db, base, staff, pki, browser } = await fixture();
  const gate = await enrollDevice(base, staff, '体育館ゲート');
  const gym = await serviceWithMember(staff, gate, pki, 'みらい市総合体育館');
  for (let n = 0; n < 3; n++) await gym.tap();
  // 31 March, 23:00 and 23:30 Japan time, and 1 April, 00:10: long past, so only their counts remain.
  await insertUses(db, gym.id, gate.id, [new Date('2026-03-31T14:00:00Z'), new Date('2026-03-31T14:30:00Z'), new Date('2026-03-31T15:10:00Z')]);
  await foldExpiredUses(db, silentLog, 90);
  const today = await lastUseDay(db, gym.id);
  const perHour = new Map<number, number>([[23, 2], [0, 1]]);
  for (const { used_at: at } of await db('service_uses').where({ service_id: gym.id }).select('used_at')) perHour.set(tokyoHour(at), (perHour.get(tokyoHour(at)) ?? 0) + 1);

  const page = await signedInPage(t, browser, base, 'demo-city', '自治体コンソール', { acceptDownloads: true });
  const errors: string[] = [];
  page.on('pageerror', (error) => errors.push(error.message));
  await page.getByRole('link', { name: '利用状況' }).click();
  await page.waitForURL(`${base}/municipality/usage`);
  // The last 30 days of every service, at first: today's taps.
  const days = page.getByRole('region', { name: '日ごとの利用件数' });
  await days.getByRole('img', { name: /合計 3 件/ }).waitFor();

  // Keyboard alone: the service, the period, Enter.
  await page.getByLabel('施設', { exact: true }).focus();
  await page.getByLabel('施設', { exact: true }).selectOption({ label: 'みらい市総合体育館' });
  await page.getByLabel('開始日').fill('2026-03-31');
  await page.getByLabel('終了日').fill(today);
  await page.getByLabel('終了日').press('Enter');
  await days.getByRole('img', { name: `日ごとの利用件数のグラフ。合計 6 件、最も多いのは ${today} の 3 件です。数値はグラフの下の表にあります。` }).waitFor();
  // Months of days: the table starts folded, and its summary opens it from the keyboard.
  const dayTable = days.getByRole('table', { name: '日ごとの利用件数（表）' });
  t.false(await dayTable.isVisible(), 'a table longer than a month starts folded');
  const unfold = days.getByText(/^表で見る（\d+ 行）$/);
  await unfold.focus();
  await page.keyboard.press('Enter');
  await dayTable.waitFor();
  t.deepEqual(await dayTable.getByRole('row', { name: /^2026-03-31 / }).getByRole('cell').allTextContents(), ['2']);
  t.deepEqual(await dayTable.getByRole('row', { name: /^2026-04-01 / }).getByRole('cell').allTextContents(), ['1']);
  t.deepEqual(await dayTable.getByRole('row', { name: new RegExp(`^${today} `) }).getByRole('cell').allTextContents(), ['3']);
  t.deepEqual(await dayTable.getByRole('columnheader').allTextContents(), ['日付', 'みらい市総合体育館']);

  const hours = page.getByRole('region', { name: '時間帯ごとの利用件数（期間の合計）' });
  const hourTable = hours.getByRole('table');
  t.is(await hourTable.getByRole('row').count(), 25, 'a row per hour of the day, and the header');
  for (let hour = 0; hour < 24; hour++) {
    const row = hourTable.getByRole('row', { name: new RegExp(`^${String(hour).padStart(2, '0')}:00 `) });
    t.deepEqual(await row.getByRole('cell').allTextContents(), [String(perHour.get(hour) ?? 0)], `${hour}:00`);
  }
  // The chart is drawn: its canvas has painted pixels.
  const painted = await paintedPixels(days.locator('canvas'));
  t.true(painted > 100, `${painted} pixels painted`);
  t.deepEqual(errors, [], 'the page threw nothing');
  await page.screenshot({ path: screenshotPath('municipality-usage.png') });

  const [download] = await Promise.all([page.waitForEvent('download'), page.getByRole('link', { name: '日ごとのCSVをダウンロード' }).click()]);
  t.is(download.suggestedFilename(), `service-uses-service-${gym.id}-2026-03-31-${today}-day.csv`);
  const lines = (await readFile((await download.path())!, 'utf8')).split('\r\n');
  t.is(lines[0], '\uFEFFservice_id,service_name_ja,service_name_en,date,uses');
  t.is(lines[1], `${gym.id},みらい市総合体育館,${gym.nameEn},2026-03-31,2`);
  t.true(lines.includes(`${gym.id},みらい市総合体育館,${gym.nameEn},${today},3`));

  await page.getByLabel('開始日').fill('2025-01-01');
  await page.getByRole('button', { name: '表示' }).click();
  await page.getByText('利用状況の期間の指定が正しくありません。').waitFor();

  await page.getByRole('button', { name: 'English' }).click();
  await page.getByRole('heading', { name: 'Usage', level: 2 }).waitFor();
  t.true(await page.getByText('The period of the usage figures is not valid.', { exact: false }).isVisible());
});
