// The 精算 screen's closed periods in Chromium, against the real backend: the city's
// administrator closes November (the amounts confirmed in a dialog), downloads the period's
// transfer file (refused first, naming the shop without an account) and invoices, sets the
// payer's name, closes the next period in English; the bakery's owner sees its
// closed periods on the shop console's home, in Japanese and in English.
import test from 'ava';
import { readFile } from 'node:fs/promises';
import { DEMO_MUNICIPALITY, DEMO_PARTNER, DEMO_PAYER } from '@mykey/dev-tools/demo-towns.ts';
import { payMerchant } from '../src/ledger/ledger.ts';
import { tokyoDate } from '../src/ledger/rules.ts';
import { launchBrowser, screenshotPath, signedInPage } from './helpers/browser.ts';
import { fileFixture, testDatabase } from './helpers/env.ts';
import { creditConversion, ref, run } from './helpers/ledger.ts';
import { newMykeyId } from './helpers/partners.ts';
import { startApp } from './helpers/server.ts';

const jst = (local: string) => new Date(`${local}+09:00`);

const fixture = fileFixture(test, async (cleanup) => {
  const { db } = await testDatabase(cleanup);
  await db.seed.run();
  // A resident's November: points converted from the demo partner, spent at the bakery.
  const mykeyId = newMykeyId();
  const bakery = Number((await db('merchants').where({ slug: 'demo-bakery' }).first('id')).id);
  const partner = Number((await db('partners').where({ slug: DEMO_PARTNER.slug }).first('id')).id);
  await db('mykeys').insert({ mykey_id: mykeyId, home_municipality_code: DEMO_MUNICIPALITY.code });
  await run(db, (trx) => creditConversion(trx, { reference: ref('conv'), municipalityCode: DEMO_MUNICIPALITY.code, mykeyId, partnerId: partner, points: 3_000, now: jst('2026-11-03T10:00:00.000') }));
  await run(db, (trx) => payMerchant(trx, { reference: ref('pay'), merchantId: bakery, mykeyId, points: 1_200, now: jst('2026-11-04T10:00:00.000') }));
  return { db, bakery, base: await startApp(cleanup, db), browser: await launchBrowser(cleanup) };
});

test.serial('the administrator closes November in Japanese and downloads its files, then closes the next period in English', async (t) => {
  const { db, bakery, base, browser } = await fixture();
  const page = await signedInPage(t, browser, base, 'demo-city', '自治体コンソール', { acceptDownloads: true });
  await page.getByRole('link', { name: '精算' }).click();
  const periods = page.getByRole('region', { name: '締め済みの精算期間' });
  await periods.getByText('締め済みの期間はまだありません。').waitFor();
  await periods.getByLabel('開始日', { exact: true }).fill('2026-11-01');
  await periods.getByLabel('終了日', { exact: true }).fill('2026-11-30');
  await periods.getByLabel('振込指定日', { exact: true }).fill('2026-12-10');
  await periods.getByRole('button', { name: '締める内容を確認' }).click();
  const dialog = page.getByRole('dialog');
  await dialog.getByRole('heading', { name: '2026-11-01 〜 2026-11-30 を締めますか？' }).waitFor();
  await dialog.getByRole('button', { name: '締める' }).click();
  await page.getByRole('status').getByText('2026-11-01 〜 2026-11-30 を締めました。加盟店への振込額は合計 1,200 です。').waitFor();
  const row = periods.getByRole('row', { name: /2026-11-01 〜 2026-11-30/ });
  t.is(await row.getByRole('cell').nth(1).textContent(), '1,200');

  // The bakery has given no bank account yet: the file is refused, naming it.
  const transferFile = row.getByRole('button', { name: '2026-11-01 〜 2026-11-30: 振込ファイル' });
  await transferFile.click();
  await periods.getByRole('list', { name: '振込ファイルに書けない加盟店' }).getByText('みらいベーカリー: 口座が登録されていません').waitFor();
  t.true(await periods.getByText('振込ファイルを作れません。').isVisible());
  await db('merchants').where({ id: bakery }).update({ bank_code: '0005', bank_name_kana: 'ﾐﾗｲｼﾝｷﾝ', branch_code: '001', branch_name_kana: 'ﾎﾝﾃﾝ', account_type: 'ordinary', account_number: '1234567', account_holder_kana: 'ﾐﾗｲﾍﾞｰｶﾘｰ' });
  const download = page.waitForEvent('download');
  await transferFile.click();
  const file = await readFile((await (await download).path())!);
  t.is((await download).suggestedFilename(), `zengin-transfer-${DEMO_MUNICIPALITY.code}-2026-11-01-2026-11-30.txt`);
  t.is(file.length, 4 * 122, 'header, one shop, trailer and end');
  t.is(file.subarray(4, 14).toString('latin1'), DEMO_PAYER.requester_code, "the seeded payer's requester code");
  t.is(file.subarray(122 * 2, 122 * 2 + 19).toString('latin1'), '8000001000000001200');
  const invoices = page.waitForEvent('download');
  await row.getByRole('link', { name: '2026-11-01 〜 2026-11-30: 提携事業者への請求CSV' }).click();
  t.regex(await readFile((await (await invoices).path())!, 'utf8'), /デモカード株式会社,"Demo Card Co\., Ltd\.",1,3000,3000/);
  const costs = page.waitForEvent('download');
  await row.getByRole('link', { name: '2026-11-01 〜 2026-11-30: キャンペーンの費用CSV' }).click();
  t.regex(await readFile((await (await costs).path())!, 'utf8'), /^\uFEFFmunicipality_code,period_from,period_to,campaign_id,campaign_slug,campaign_name_ja,campaign_name_en,premiums,premium_points,grants,grant_points,total_points\r?\n/);
  await row.getByRole('button', { name: '2026-11-01 〜 2026-11-30: 加盟店別の明細' }).click();
  await periods.getByRole('link', { name: 'みらいベーカリー' }).waitFor();
  await page.screenshot({ path: screenshotPath('municipality-settlement-periods.png'), fullPage: true });

  // The payer's name typed in kanji is refused; in kana it is saved in half-width.
  const payer = page.getByRole('region', { name: '振込依頼人（市の口座）' });
  t.is(await payer.getByLabel('依頼人コード').inputValue(), DEMO_PAYER.requester_code);
  await payer.getByLabel('依頼人名（カナ）').fill('未来市会計課');
  await payer.getByRole('button', { name: '振込依頼人を保存' }).click();
  await payer.getByText('振込依頼人の設定に誤りがあります。').waitFor();
  await payer.getByLabel('依頼人名（カナ）').fill('ミライシ　カイケイカ');
  await payer.getByRole('button', { name: '振込依頼人を保存' }).click();
  await payer.getByRole('status').getByText('振込依頼人を保存しました（依頼人名 ﾐﾗｲｼ ｶｲｹｲｶ）。').waitFor();

  await page.getByRole('button', { name: 'English' }).click();
  const english = page.getByRole('region', { name: 'Closed settlement periods' });
  t.is(await english.getByLabel('From', { exact: true }).inputValue(), '2026-12-01', 'the next period starts the day after November');
  const yesterday = tokyoDate(new Date(Date.now() - 86_400_000));
  await english.getByLabel('To', { exact: true }).fill(yesterday);
  await english.getByLabel('Payment date', { exact: true }).fill(tokyoDate(new Date(Date.now() + 7 * 86_400_000)));
  await english.getByRole('button', { name: 'Review the closing' }).click();
  await page.getByRole('dialog').getByRole('button', { name: 'Close the period' }).click();
  await page.getByRole('status').getByText(`Closed 2026-12-01 to ${yesterday}.`, { exact: false }).waitFor();
  await english.getByRole('row', { name: new RegExp(`2026-12-01 to ${yesterday}`) }).waitFor();
  t.is(await english.getByRole('row').count(), 3, 'a header and the two periods');
  const payerEn = page.getByRole('region', { name: "Payer (the city's account)" });
  t.is(await payerEn.getByLabel('Requester name (kana)').inputValue(), 'ﾐﾗｲｼ ｶｲｹｲｶ');
  t.is(await payerEn.getByLabel('Account type').inputValue(), DEMO_PAYER.account_type);
});

test.serial("the bakery's owner sees its closed periods on the shop console's home, in Japanese and in English", async (t) => {
  const { base, browser } = await fixture();
  const page = await signedInPage(t, browser, base, 'demo-shop', '加盟店コンソール');
  const periods = page.getByRole('region', { name: '締め済みの精算期間' });
  const row = periods.getByRole('row', { name: /2026-11-01 〜 2026-11-30/ });
  await row.waitFor();
  t.is(await row.getByRole('cell').nth(1).textContent(), '1,200');
  t.true(await row.getByRole('link', { name: '2026-11-01 〜 2026-11-30: 精算明細CSV' }).isVisible());
  await page.getByRole('button', { name: 'English' }).click();
  await page.getByRole('region', { name: 'Closed settlement periods' }).getByRole('columnheader', { name: 'Paid to the shop' }).waitFor();
  t.true(await page.getByRole('link', { name: '2026-11-01 to 2026-11-30: Statement CSV' }).isVisible());
});
