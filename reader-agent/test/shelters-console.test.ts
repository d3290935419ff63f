// The municipality console's 避難所 and 本部 screens in Chromium, with the real reader agent,
// pcscd and the simulated card, against the real backend: a clerk opens a drill shelter and gives
// it the desk's device with the keyboard alone; the resident checks in at the desk PIN-less, and
// the 本部 page, left alone, shows the count go up; the roster shows the MyKey ID and its CSV;
// a check-out empties it, a check-in with the PIN fills it again; the clerk closes the shelter,
// everyone inside is checked out, the desk is refused, and 本部 shows no open shelter.
import test from 'ava';
import type { Locator, Page } from 'playwright-core';
import { problemKinds } from '@mykey/contracts/problem-kinds.ts';
import { launchBrowser, signedInPage } from '@mykey/backend/test/helpers/browser.ts';
import { fileFixture } from '@mykey/backend/test/helpers/env.ts';
import { signInStaff } from '@mykey/backend/test/helpers/identity.ts';
import { backendWithCard, enrolledAgent } from './helpers/counter.ts';

const PIN = '6381';

const fixture = fileFixture(test, async (cleanup) => {
  const { db, base, stack } = await backendWithCard(cleanup, PIN);
  const city = await signInStaff(base, 'demo-city');
  const desk = await enrolledAgent(cleanup, stack, base, city, '体育館受付', { allowOrigins: [base] });
  // The card's first login gives it its MyKey ID.
  const login = await desk.agent.call('POST', '/v1/card-sessions', { pin: PIN, purpose: 'login' });
  if (login.status !== 200) throw new Error(`login: ${JSON.stringify(login.body)}`);
  return { db, base, desk, mykeyId: login.body.mykeyId as string, browser: await launchBrowser(cleanup) };
});

/** Presses Tab until `target` has the focus, as a keyboard user would. */
async function tabTo(page: Page, target: Locator, most = 40): Promise<void> {
  for (let i = 0; i < most; i++) {
    if (await target.evaluate((element) => element === document.activeElement)) return;
    await page.keyboard.press('Tab');
  }
  throw new Error('Tab never reached the element');
}

test.serial('a clerk opens a drill shelter with the keyboard; PIN-less check-in shows on 本部 by itself; roster, CSV, check-out, check-in with the PIN, closing', async (t) => {
  const { base, desk, mykeyId, browser } = await fixture();
  const page = await signedInPage(t, browser, base, 'demo-city', '自治体コンソール');

  await page.getByRole('link', { name: '避難所', exact: true }).focus();
  await page.keyboard.press('Enter');
  await page.waitForURL(`${base}/municipality/shelters`);
  await page.getByText('開設した避難所はありません。').waitFor();
  const form = page.getByRole('region', { name: '避難所を開設する' });
  const submit = form.getByRole('button', { name: '開設する' });
  await tabTo(page, submit);
  await page.keyboard.press('Enter');
  await form.getByText('名前（日本語・英語）と所在地を入力してください。').waitFor();
  t.is(await form.getByLabel('名前（日本語）').getAttribute('aria-invalid'), 'true');
  await form.getByLabel('名前（日本語）').focus();
  await page.keyboard.type('みらい小学校体育館');
  await page.keyboard.press('Tab');
  await page.keyboard.type('Mirai Elementary School Gym');
  await page.keyboard.press('Tab');
  await page.keyboard.type('みらい市中央1-2-3');
  await page.keyboard.press('Tab');
  await page.keyboard.type('40');
  await page.keyboard.press('Tab');
  t.true(await form.getByRole('checkbox', { name: '訓練として開設する' }).isChecked(), 'a drill unless told');
  await tabTo(page, form.getByRole('checkbox', { name: '体育館受付' }));
  await page.keyboard.press('Space');
  await tabTo(page, submit);
  await page.keyboard.press('Enter');
  await page.getByText('「みらい小学校体育館」を開設しました。').waitFor();
  const row = page.getByRole('row', { name: /みらい小学校体育館/ });
  t.regex(await row.innerText(), /訓練・開設中/);
  t.regex(await row.innerText(), /体育館受付/);

  // 本部 on a page of its own, left alone from here on.
  const hq = await page.context().newPage();
  await hq.goto(`${base}/municipality/shelters/summary`);
  const hqRow = hq.getByRole('row', { name: /みらい小学校体育館（訓練）/ });
  await hqRow.getByText('0 ／ 40 人').waitFor();

  const checkedIn = await desk.agent.call('POST', '/v1/card-taps', { purpose: 'shelter_check_in' });
  t.is(checkedIn.status, 200, JSON.stringify(checkedIn.body));
  t.like(checkedIn.body, { result: 'checked_in', inside: 1, capacity: 40 });
  t.regex(checkedIn.body.messages.ja, /みらい小学校体育館への入所を受け付けました/);
  t.false(JSON.stringify(checkedIn.body).includes(mykeyId), 'the desk screen is not shown the MyKey ID');
  await hqRow.getByText('1 ／ 40 人').waitFor();
  await hq.getByRole('status').filter({ hasText: '入所者 合計 1 人' }).waitFor();

  await row.getByRole('button', { name: '名簿' }).click();
  const roster = page.getByRole('region', { name: '「みらい小学校体育館」の名簿' });
  await roster.getByText('入所 1 人 ／ 収容人数 40 人').waitFor();
  t.true(await roster.getByRole('row', { name: new RegExp(mykeyId) }).isVisible(), 'the roster names the MyKey ID');
  const download = page.waitForEvent('download');
  await roster.getByRole('link', { name: '名簿をCSVでダウンロード' }).click();
  const file = await (await download).createReadStream();
  const chunks: Buffer[] = [];
  for await (const chunk of file) chunks.push(chunk as Buffer);
  const csv = Buffer.concat(chunks);
  t.deepEqual([...csv.subarray(0, 3)], [0xef, 0xbb, 0xbf], 'the file starts with the BOM');
  t.true(csv.toString('utf8').includes(`,${mykeyId},`) && csv.toString('utf8').includes('\r\n'));

  t.like(await desk.agent.call('POST', '/v1/card-taps', { purpose: 'shelter_check_out' }), { status: 200, body: { result: 'checked_out', inside: 0 } });
  await roster.getByRole('button', { name: '一覧を更新' }).click();
  await roster.getByText('入所している人はいません。').waitFor();
  await hqRow.getByText('0 ／ 40 人').waitFor();
  t.like(await desk.agent.call('POST', '/v1/card-sessions', { pin: PIN, purpose: 'shelter_check_in' }), { status: 200, body: { result: 'checked_in', inside: 1 } });
  await roster.getByRole('button', { name: '一覧を更新' }).click();
  await roster.getByText('入所 1 人 ／ 収容人数 40 人').waitFor();

  await roster.getByRole('button', { name: '避難所を閉鎖する' }).click();
  const dialog = page.getByRole('dialog', { name: '「みらい小学校体育館」を閉鎖しますか？' });
  await dialog.getByText('いま入所している 1 人は、この時刻で退所として記録されます。', { exact: false }).waitFor();
  await dialog.getByRole('button', { name: '閉鎖する' }).click();
  await roster.getByText('入所している人はいません。').waitFor();
  t.regex(await row.innerText(), /閉鎖/);
  t.is(await roster.getByRole('button', { name: '避難所を閉鎖する' }).count(), 0);
  const refused = await desk.agent.call('POST', '/v1/card-taps', { purpose: 'shelter_check_in' });
  t.like(refused, { status: 502, body: { code: 'shelter_closed', messages: problemKinds.shelter_closed.messages, backendStatus: 409 } });
  await hq.getByText('開設中の避難所はありません。').waitFor();
});
