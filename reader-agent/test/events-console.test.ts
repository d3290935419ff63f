// The municipality console's 行事・行政ポイント, 行事の受付 and ポイント付与 screens in Chromium,
// with the real reader agent, pcscd and the simulated card, against the real backend: a clerk adds
// a category and registers an event with the keyboard, giving it the reception PC; the reception
// screen, which knew of no event for its device before, finds the event by itself; a PIN-less tap
// grants the event's points once (a second tap says already granted, with the first grant; once
// the event wants the PIN, a tap is refused in both languages and the PIN finds that grant); the
// figures show the grant per category and per event, and their CSV downloads; the category is
// renamed; on ポイント付与 a
// grant one by one carries the category chosen, and the administrative campaign's latest grants
// name the category (the event's grant is its event campaign's, docs/campaigns.md).
import test from 'ava';
import type { Locator, Page } from 'playwright-core';
import { problemKinds } from '@mykey/contracts/problem-kinds.ts';
import { launchBrowser, signedInPage } from '@mykey/backend/test/helpers/browser.ts';
import { fileFixture } from '@mykey/backend/test/helpers/env.ts';
import { signInStaff } from '@mykey/backend/test/helpers/identity.ts';
import { backendWithCard, enrolledAgent } from './helpers/counter.ts';
import { light, pair } from './helpers/console.ts';

const PIN = '7319';

const fixture = fileFixture(test, async (cleanup) => {
  const { db, base, stack } = await backendWithCard(cleanup, PIN);
  const city = await signInStaff(base, 'demo-city');
  const desk = await enrolledAgent(cleanup, stack, base, city, '清掃活動受付', { allowOrigins: [base] });
  // The card's first login gives it its MyKey ID.
  const login = await desk.agent.call('POST', '/v1/card-sessions', { pin: PIN, purpose: 'login' });
  if (login.status !== 200) throw new Error(`login: ${JSON.stringify(login.body)}`);
  return { db, base, city, desk, mykeyId: login.body.mykeyId as string, browser: await launchBrowser(cleanup) };
});

/** Presses Tab until `target` has the focus, as a keyboard user would. */
async function tabTo(page: Page, target: Locator, most = 60): Promise<void> {
  for (let i = 0; i < most; i++) {
    if (await target.evaluate((element) => element === document.activeElement)) return;
    await page.keyboard.press('Tab');
  }
  throw new Error('Tab never reached the element');
}

async function download(page: Page, link: Locator): Promise<string> {
  const started = page.waitForEvent('download');
  await link.click();
  const chunks: Buffer[] = [];
  for await (const chunk of await (await started).createReadStream()) chunks.push(chunk as Buffer);
  const file = Buffer.concat(chunks);
  if (file[0] !== 0xef || file[1] !== 0xbb || file[2] !== 0xbf) throw new Error('the CSV file does not start with the BOM');
  return file.toString('utf8');
}

const selectedText = (select: Locator) => select.evaluate((element: HTMLSelectElement) => element.selectedOptions[0]?.text ?? '');

test.serial('a clerk adds a category and an event with the keyboard; the reception PC finds it; a PIN-less tap grants once; the figures and their CSV show it; a grant one by one carries its category', async (t) => {
  const { db, base, city, desk, mykeyId, browser } = await fixture();
  const page = await signedInPage(t, browser, base, 'demo-city', '自治体コンソール');
  const today = new Date(Date.now() + 9 * 3_600_000).toISOString().slice(0, 10);
  const menu = page.getByRole('navigation', { name: 'コンソールのメニュー' });

  // The reception PC, paired, before any event: it is told its device serves none.
  await page.goto(`${base}/municipality/devices`);
  await pair(page, desk.agent.base, desk.agent.token);
  await menu.getByRole('link', { name: '行事の受付' }).click();
  await page.waitForURL(`${base}/municipality/event-reception`);
  await light(page, '接続済み・カードあり');
  await page.getByText('この端末は、どの行事の受付にも割り当てられていません。', { exact: false }).waitFor();
  t.is(await page.getByRole('button', { name: 'カードで受付' }).count(), 0);

  // 行事・行政ポイント with the keyboard: a category, then an event.
  await menu.getByRole('link', { name: '行事・行政ポイント' }).focus();
  await page.keyboard.press('Enter');
  await page.waitForURL(`${base}/municipality/events`);
  const categories = page.getByRole('region', { name: '分類', exact: true });
  await categories.getByRole('rowheader', { name: 'ボランティア', exact: true }).waitFor();
  await tabTo(page, categories.getByLabel('分類の名前（日本語）'));
  await page.keyboard.type('環境美化');
  await page.keyboard.press('Tab');
  await page.keyboard.type('Environment');
  await page.keyboard.press('Enter');
  await page.getByText('分類「環境美化」を追加しました。').waitFor();
  await categories.getByRole('rowheader', { name: '環境美化' }).waitFor();

  const form = page.getByRole('region', { name: '新しい行事を登録する' });
  const submit = form.getByRole('button', { name: '登録する' });
  await tabTo(page, submit);
  await page.keyboard.press('Enter');
  await form.getByText('名前（日本語・英語）、分類、開催日、財源のキャンペーンを入力してください。').waitFor();
  t.is(await form.getByLabel('名前（日本語）', { exact: true }).getAttribute('aria-invalid'), 'true');
  await form.getByLabel('名前（日本語）', { exact: true }).focus();
  await page.keyboard.type('ボランティア清掃活動');
  await page.keyboard.press('Tab');
  await page.keyboard.type('Volunteer clean-up');
  await page.keyboard.press('Tab');
  const category = form.getByLabel('分類', { exact: true });
  t.true(await category.evaluate((element) => element === document.activeElement), 'the category is the next stop');
  await page.keyboard.press('End');
  t.is(await selectedText(category), '環境美化', 'the category added last is the last choice');
  // A date field's segments follow the browser's locale: the day is filled in as the date itself.
  await form.getByLabel('開催日（初日）').fill(today);
  await tabTo(page, form.getByLabel('付与ポイント（1人あたり）'));
  await page.keyboard.type('50');
  t.regex(await selectedText(form.getByLabel('財源のキャンペーン')), /（\d{4}-\d{2}-\d{2}〜\d{4}-\d{2}-\d{2}）$/, 'the running campaign is chosen');
  const pinPolicy = form.getByRole('radio', { name: '毎回、暗証番号を入力する（標準）' });
  t.true(await pinPolicy.isChecked(), 'the PIN unless told');
  await tabTo(page, pinPolicy);
  await page.keyboard.press('ArrowDown');
  t.true(await form.getByRole('radio', { name: '暗証番号なしのタッチで受け付ける（混み合う受付向け）' }).isChecked());
  await tabTo(page, form.getByRole('checkbox', { name: '清掃活動受付' }));
  await page.keyboard.press('Space');
  await tabTo(page, submit);
  await page.keyboard.press('Enter');
  await page.getByText('行事「ボランティア清掃活動」を登録しました。').waitFor();
  const row = page.getByRole('row').filter({ has: page.getByRole('rowheader', { name: /ボランティア清掃活動/ }) });
  t.regex(await row.innerText(), /環境美化/);
  t.regex(await row.innerText(), /50 pt/);
  t.regex(await row.innerText(), /タッチだけ/);
  t.regex(await row.innerText(), /清掃活動受付/);
  t.regex(await row.innerText(), new RegExp(today));

  // The reception finds its event from the agent's device; the tap grants once.
  await menu.getByRole('link', { name: '行事の受付' }).click();
  await page.waitForURL(`${base}/municipality/event-reception`);
  await light(page, '接続済み・カードあり');
  const reception = page.getByRole('region', { name: /ボランティア清掃活動/ });
  await reception.getByText('参加者1人に 50 pt を付与します。', { exact: false }).waitFor();
  t.is(await reception.getByLabel('暗証番号', { exact: false }).count(), 0, 'a tap-only event asks for no PIN');
  await reception.getByRole('button', { name: 'カードで受付' }).click();
  const granted = reception.getByRole('status').filter({ hasText: 'ボランティア清掃活動 50pt を付与しました' });
  await granted.waitFor();
  t.true(await granted.getByText('Volunteer clean-up: 50 pt granted').isVisible(), 'the resident reads it in English too');
  t.regex(await granted.innerText(), /ポイント残高: 50 pt/);
  t.false((await page.content()).includes(mykeyId), 'the reception is not shown the MyKey ID');
  await reception.getByRole('button', { name: 'カードで受付' }).click();
  const again = reception.getByRole('status').filter({ hasText: 'すでに付与済みです（ボランティア清掃活動 50pt・' });
  await again.waitFor();
  t.true(await again.getByText('Already granted (Volunteer clean-up 50 pt,', { exact: false }).isVisible());
  t.regex(await again.innerText(), /ポイント残高: 50 pt/, 'nothing granted twice');
  const records = await db('grant_records').whereNotNull('event_id');
  t.is(records.length, 1);

  // The event wants the PIN from now on, while the reception still shows it tap-only: the tap is
  // refused in both languages; once reloaded, the screen asks for the PIN, which finds the first grant.
  t.is((await city.patch(`/api/v1/events/${records[0].event_id}`, { tapPolicy: 'pin' })).status, 200);
  await reception.getByRole('button', { name: 'カードで受付' }).click();
  await reception.getByText(problemKinds.card_tap_not_allowed.messages.ja).waitFor();
  t.true(await reception.getByText(problemKinds.card_tap_not_allowed.messages.en).isVisible());
  await page.reload();
  await light(page, '接続済み・カードあり');
  await reception.getByLabel('暗証番号（利用者証明用・数字4桁）').fill(PIN);
  await page.keyboard.press('Enter');
  await again.waitFor();
  t.is(await reception.getByLabel('暗証番号（利用者証明用・数字4桁）').inputValue(), '', 'the PIN is not left in its field');
  t.is((await db('grant_records').whereNotNull('event_id')).length, 1);

  // The figures: per category and per event, and the CSV file.
  await menu.getByRole('link', { name: '行事・行政ポイント' }).click();
  await page.waitForURL(`${base}/municipality/events`);
  await page.getByRole('status').filter({ hasText: '合計 1 件・50 pt' }).waitFor();
  const perCategory = page.locator('#event-categories-table');
  t.regex(await perCategory.getByRole('row', { name: /環境美化/ }).innerText(), /^環境美化\s+50\s+1$/);
  t.regex(await perCategory.getByRole('row', { name: /^ボランティア / }).innerText(), /^ボランティア\s+0\s+0$/, 'a category without grants shows zero');
  t.regex(await page.locator('#event-events-table').getByRole('row', { name: /ボランティア清掃活動/ }).innerText(), /^ボランティア清掃活動\s+50\s+1$/);
  t.regex(await page.locator('#event-categories-chart').getAttribute('aria-label') ?? '', /合計 50 pt、最も多いのは 環境美化 の 50 pt/);
  const csv = await download(page, page.getByRole('link', { name: '集計をCSVでダウンロード' }));
  const line = csv.split('\r\n').find((l) => l.includes('ボランティア清掃活動'));
  t.truthy(line, csv);
  t.regex(line!, /,環境美化,Environment,\d+,ボランティア清掃活動,Volunteer clean-up,1,50$/);

  // A category renamed: focus goes to its name, and the list shows the new one.
  await categories.getByRole('row', { name: /環境美化/ }).getByRole('button', { name: /^名前を変更/ }).click();
  const renamedEn = categories.getByLabel('分類の名前（英語）');
  await categories.getByRole('heading', { name: '分類「環境美化」の名前を変更する' }).waitFor();
  t.true(await categories.getByLabel('分類の名前（日本語）').evaluate((element) => element === document.activeElement), 'focus goes to the name');
  await renamedEn.fill('Environmental care');
  await renamedEn.press('Enter');
  await page.getByText('分類の名前を「環境美化」に変更しました。').waitFor();
  t.regex(await categories.getByRole('row', { name: /環境美化/ }).innerText(), /Environmental care/);

  // ポイント付与: one grant with its category; the latest grants name the category.
  await menu.getByRole('link', { name: 'ポイント付与' }).click();
  await page.waitForURL(`${base}/municipality/grants`);
  await page.getByLabel('マイキーID', { exact: true }).fill(mykeyId);
  await page.getByLabel('ポイント数').fill('300');
  const grantCategory = page.getByLabel('分類', { exact: true });
  t.is(await selectedText(grantCategory), '分類なし', 'uncategorised unless chosen');
  await grantCategory.selectOption({ label: '健康診断' });
  await page.getByLabel('理由').fill('健診受診（秋）');
  await page.getByRole('button', { name: '付与内容を確認' }).click();
  const dialog = page.getByRole('dialog');
  await dialog.getByText('（分類: 健康診断）', { exact: false }).waitFor();
  await dialog.getByRole('button', { name: '付与する' }).click();
  await page.getByText(`マイキーID ${mykeyId} に 300 ポイントを付与しました。付与後の残高は 350 ポイントです。`, { exact: false }).waitFor();
  await page.getByText('分類: 健康診断').waitFor();
  const recent = page.getByRole('region', { name: '最近の付与' });
  const single = recent.getByRole('row').filter({ hasText: '1件ずつ' });
  await single.waitFor();
  t.regex(await single.innerText(), /300\s+1件ずつ\s+健康診断\s+—/);
  t.is(await recent.getByRole('row').filter({ hasText: '行事の受付' }).count(), 0, 'the event paid from its own campaign');
  const health = await db('event_categories').where({ name_ja: '健康診断' }).first();
  t.is((await db('grant_records').whereNull('event_id').where({ category_id: health.id })).length, 1);
});
