// The municipality console's マイキーID screen in Chromium, against the real backend: look an ID
// up (a typo is caught as it is typed), suspend, reinstate, and link a new card at the counter;
// another town's clerk is told the ID is not registered, as for an unknown one.
import test from 'ava';
import type { Page } from 'playwright-core';
import { launchBrowser, screenshotPath, signedInPage } from './helpers/browser.ts';
import { fileFixture } from './helpers/env.ts';
import { cardSession, firstLogin, municipalCounter, provenCard } from './helpers/identity.ts';
import { MYKEY_ALPHABET, parseMykeyId } from '../src/mykey/id.ts';

const fixture = fileFixture(test, async (cleanup) => {
  return { ...(await municipalCounter(cleanup)), browser: await launchBrowser(cleanup) };
});

async function cityPage(t: import('ava').ExecutionContext): Promise<Page> {
  const { base, browser } = await fixture();
  return signedInPage(t, browser, base, 'demo-city', '自治体コンソール');
}

/** Confirms the open dialog's action with a reason (and for a relink, the card proof). */
async function confirmInDialog(page: Page, button: string, reason: string, proof?: string) {
  const dialog = page.getByRole('dialog');
  await dialog.waitFor();
  if (proof !== undefined) await dialog.getByLabel('新しいカードの確認ID（カード読み取りで得たID）').fill(proof);
  await dialog.getByLabel('理由').fill(reason);
  await dialog.getByRole('button', { name: button, exact: true }).click();
  await dialog.waitFor({ state: 'hidden' });
}

test('a clerk looks a MyKey ID up, suspends it, reinstates it and links a new card checked at the counter', async (t) => {
  const { pki, base, device } = await fixture();
  const { card, mykeyId } = await firstLogin(pki, device);
  const page = await cityPage(t);
  await page.getByRole('link', { name: 'マイキーID' }).click();
  await page.waitForURL(`${base}/municipality/mykeys`);

  // Two neighbours swapped: the check character says so before anything is sent.
  const input = page.getByLabel('マイキーID', { exact: true });
  const swapped = mykeyId.charAt(1) + mykeyId.charAt(0) + mykeyId.slice(2);
  if (swapped !== mykeyId) {
    await input.fill(swapped.toLowerCase());
    await page.getByText('マイキーIDの確認文字が一致しません').waitFor();
  }
  await input.fill(`${mykeyId.slice(0, 4)}-${mykeyId.slice(4)}`.toLowerCase());
  await page.getByRole('button', { name: '照会' }).click();
  const result = page.getByRole('region', { name: mykeyId });
  await result.getByText('利用中', { exact: true }).first().waitFor();
  t.true(await result.getByRole('cell', { name: '初回ログインで発行', exact: true }).isVisible());
  t.true(await result.getByRole('rowheader', { name: 'マイキーIDを発行' }).isVisible());

  await result.getByRole('button', { name: '利用停止' }).click();
  await page.getByRole('dialog').getByRole('button', { name: '利用停止する' }).click();
  await page.getByRole('dialog').getByText('理由を入力してください').waitFor();
  await confirmInDialog(page, '利用停止する', '紛失の届出（電話）');
  await page.getByText(`マイキーID ${mykeyId} を利用停止しました。`).waitFor();
  await result.getByText('利用停止中').waitFor();
  t.true(await result.getByRole('cell', { name: '理由：紛失の届出（電話）' }).isVisible());
  t.is((await cardSession(device, card)).body.code, 'mykey_suspended');

  await result.getByRole('button', { name: '利用再開' }).click();
  await confirmInDialog(page, '利用を再開する', 'カードが見つかった');
  await page.getByText(`マイキーID ${mykeyId} の利用を再開しました。`).waitFor();
  t.like((await cardSession(device, card)).body, { mykeyId });

  // The card proof is made over HTTP, as the reader agent would, until the console asks the agent for it.
  const newCard = await pki.card();
  const proof = await provenCard(device, newCard, 'counter_relink');
  await result.getByRole('button', { name: '新しいカードを紐付け（窓口で本人確認済み）' }).click();
  await confirmInDialog(page, '紐付ける', '紛失による再交付。運転免許証で本人確認', proof);
  await page.getByText(`マイキーID ${mykeyId} に新しいカードを紐付けました。`).waitFor();
  await result.getByRole('cell', { name: '窓口で職員が紐付け', exact: true }).waitFor();
  t.true(await result.getByRole('cell', { name: '新しいカードに切り替え済み' }).isVisible());
  await page.screenshot({ path: screenshotPath('municipality-mykey.png'), fullPage: true });
  t.like((await cardSession(device, newCard)).body, { mykeyId, issued: false });
  t.is((await cardSession(device, card)).body.code, 'certificate_replaced');
});

test("typing: no message while an ID is incomplete; a malformed or unknown ID gets the backend's message", async (t) => {
  const { base } = await fixture();
  const page = await cityPage(t);
  await page.goto(`${base}/municipality/mykeys`);
  const input = page.getByLabel('マイキーID', { exact: true });
  await input.fill('ABC');
  t.false(await page.getByText('マイキーIDの形式が正しくありません').isVisible(), 'no message while the ID is still being typed');
  await page.getByRole('button', { name: '照会' }).click();
  await page.getByText('マイキーIDの形式が正しくありません').waitFor();
  const unknown = [...MYKEY_ALPHABET].map((check) => `2345678${check}`).find((id) => parseMykeyId(id).ok)!;
  await input.fill(unknown);
  await page.getByRole('button', { name: '照会' }).click();
  await page.getByText('このマイキーIDは登録されていません。').waitFor();
  t.pass();
});

test("another town's clerk looking up this town's resident is told what an unknown ID gets", async (t) => {
  const { pki, base, browser, device } = await fixture();
  const { mykeyId } = await firstLogin(pki, device);
  const page = await signedInPage(t, browser, base, 'demo-aoba-city', '自治体コンソール');
  await page.goto(`${base}/municipality/mykeys`);
  await page.getByLabel('マイキーID', { exact: true }).fill(mykeyId);
  await page.getByRole('button', { name: '照会' }).click();
  await page.getByText('このマイキーIDは登録されていません。').waitFor();
  t.false(await page.getByRole('region', { name: mykeyId }).isVisible(), 'nothing of the record is shown');
});
