// The municipality console's マイキーID screen in Chromium, against the real backend, in Japanese
// and in English: look an ID up (a typo is caught as it is typed), suspend, reinstate, and link a
// new card at the counter; another town's clerk is told the ID is not registered, as for an
// unknown one.
import test from 'ava';
import type { Page } from 'playwright-core';
import { problemKinds } from '@mykey/contracts/problem-kinds.ts';
import { inLanguage, launchBrowser, screenshotPath, signedInPage } from './helpers/browser.ts';
import { fileFixture } from './helpers/env.ts';
import { cardSession, firstLogin, municipalCounter, provenCard } from './helpers/identity.ts';
import { MYKEY_ALPHABET, parseMykeyId } from '../src/mykey/id.ts';

const fixture = fileFixture(test, async (cleanup) => {
  return { ...(await municipalCounter(cleanup)), browser: await launchBrowser(cleanup) };
});

/** The screen's words in one language. */
interface Words {
  language: 'ja' | 'en'; console: string; menu: string; idLabel: string; lookUp: string; status: string; active: string; issuedMethod: string; issuedAction: string;
  suspend: string; confirmSuspend: string; reasonRequired: string; reason: string; lost: string; suspended: (id: string) => string; suspendedStatus: string;
  reasonCell: (reason: string) => string; reinstate: string; confirmReinstate: string; found: string; reinstated: (id: string) => string;
  relink: string; confirmRelink: string; proof: string; reissued: string; relinked: (id: string) => string; counterMethod: string; replaced: string;
}

const JA: Words = {
  language: 'ja', console: '自治体コンソール', menu: 'マイキーID', idLabel: 'マイキーID', lookUp: '照会', status: '状態', active: '利用中', issuedMethod: '初回ログインで発行', issuedAction: 'マイキーIDを発行',
  suspend: '利用停止', confirmSuspend: '利用停止する', reasonRequired: '理由を入力してください', reason: '理由', lost: '紛失の届出（電話）',
  suspended: (id) => `マイキーID ${id} を利用停止しました。`, suspendedStatus: '利用停止中', reasonCell: (reason) => `理由：${reason}`,
  reinstate: '利用再開', confirmReinstate: '利用を再開する', found: 'カードが見つかった', reinstated: (id) => `マイキーID ${id} の利用を再開しました。`,
  relink: '新しいカードを紐付け（窓口で本人確認済み）', confirmRelink: '紐付ける', proof: '新しいカードの確認ID（カード読み取りで得たID）',
  reissued: '紛失による再交付。運転免許証で本人確認', relinked: (id) => `マイキーID ${id} に新しいカードを紐付けました。`, counterMethod: '窓口で職員が紐付け', replaced: '新しいカードに切り替え済み',
};

const EN: Words = {
  language: 'en', console: 'Municipality console', menu: 'MyKey IDs', idLabel: 'MyKey ID', lookUp: 'Look up', status: 'Status', active: 'Active', issuedMethod: 'Issued at first login', issuedAction: 'MyKey ID issued',
  suspend: 'Suspend', confirmSuspend: 'Suspend', reasonRequired: 'Enter a reason', reason: 'Reason', lost: 'Reported lost (by phone)',
  suspended: (id) => `MyKey ID ${id} is suspended.`, suspendedStatus: 'Suspended', reasonCell: (reason) => `Reason: ${reason}`,
  reinstate: 'Reinstate', confirmReinstate: 'Reinstate', found: 'The card was found', reinstated: (id) => `MyKey ID ${id} is reinstated.`,
  relink: 'Link a new card (person checked at the counter)', confirmRelink: 'Link the card', proof: "New card's proof ID (from reading the card)",
  reissued: "Reissued after a loss; checked with a driver's licence", relinked: (id) => `A new card is linked to MyKey ID ${id}.`, counterMethod: 'Staff at the counter', replaced: 'Replaced by a newer card',
};

/** The screen, signed in as a clerk of the demo city, in `w`'s language. */
async function cityPage(t: import('ava').ExecutionContext, w: Words): Promise<Page> {
  const { base, browser } = await fixture();
  const page = await signedInPage(t, browser, base, 'demo-city', JA.console);
  await inLanguage(page, w.language, w.console);
  return page;
}

/** Confirms the open dialog's action with a reason (and for a relink, the card proof). */
async function confirmInDialog(page: Page, w: Words, button: string, reason: string, proof?: string) {
  const dialog = page.getByRole('dialog');
  await dialog.waitFor();
  if (proof !== undefined) await dialog.getByLabel(w.proof).fill(proof);
  await dialog.getByLabel(w.reason, { exact: true }).fill(reason);
  await dialog.getByRole('button', { name: button, exact: true }).click();
  await dialog.waitFor({ state: 'hidden' });
}

for (const w of [JA, EN]) {
  test(`(${w.language}) a clerk looks a MyKey ID up, suspends it, reinstates it and links a new card checked at the counter`, async (t) => {
    const { pki, base, device } = await fixture();
    const { card, mykeyId } = await firstLogin(pki, device);
    const page = await cityPage(t, w);
    await page.getByRole('link', { name: w.menu }).click();
    await page.waitForURL(`${base}/municipality/mykeys`);

    // Two neighbours swapped: the check character says so before anything is sent.
    const input = page.getByLabel(w.idLabel, { exact: true });
    const swapped = mykeyId.charAt(1) + mykeyId.charAt(0) + mykeyId.slice(2);
    if (swapped !== mykeyId) {
      await input.fill(swapped.toLowerCase());
      await page.getByText(problemKinds.mykey_id_check_failed.messages[w.language]).waitFor();
    }
    await input.fill(`${mykeyId.slice(0, 4)}-${mykeyId.slice(4)}`.toLowerCase());
    await page.getByRole('button', { name: w.lookUp }).click();
    const result = page.getByRole('region', { name: mykeyId });
    await result.getByText(`${w.status}: ${w.active}`, { exact: true }).waitFor();
    t.true(await result.getByRole('cell', { name: w.issuedMethod, exact: true }).isVisible());
    t.true(await result.getByRole('rowheader', { name: w.issuedAction }).isVisible());

    await result.getByRole('button', { name: w.suspend, exact: true }).click();
    await page.getByRole('dialog').getByRole('button', { name: w.confirmSuspend, exact: true }).click();
    await page.getByRole('dialog').getByText(w.reasonRequired).waitFor();
    await confirmInDialog(page, w, w.confirmSuspend, w.lost);
    await page.getByText(w.suspended(mykeyId)).waitFor();
    await result.getByText(`${w.status}: ${w.suspendedStatus}`, { exact: true }).waitFor();
    t.true(await result.getByRole('cell', { name: w.reasonCell(w.lost) }).isVisible());
    t.is((await cardSession(device, card)).body.code, 'mykey_suspended');

    await result.getByRole('button', { name: w.reinstate, exact: true }).click();
    await confirmInDialog(page, w, w.confirmReinstate, w.found);
    await page.getByText(w.reinstated(mykeyId)).waitFor();
    t.like((await cardSession(device, card)).body, { mykeyId });

    // The card proof is made over HTTP, as the reader agent would, until the console asks the agent for it.
    const newCard = await pki.card();
    const proof = await provenCard(device, newCard, 'counter_relink');
    await result.getByRole('button', { name: w.relink }).click();
    await confirmInDialog(page, w, w.confirmRelink, w.reissued, proof);
    await page.getByText(w.relinked(mykeyId)).waitFor();
    await result.getByRole('cell', { name: w.counterMethod, exact: true }).waitFor();
    t.true(await result.getByRole('cell', { name: w.replaced }).isVisible());
    await page.screenshot({ path: screenshotPath(`municipality-mykey-${w.language}.png`), fullPage: true });
    t.like((await cardSession(device, newCard)).body, { mykeyId, issued: false });
    t.is((await cardSession(device, card)).body.code, 'certificate_replaced');
  });

  test(`(${w.language}) typing: no message while an ID is incomplete; a malformed or unknown ID gets the backend's message`, async (t) => {
    const { base } = await fixture();
    const page = await cityPage(t, w);
    await page.goto(`${base}/municipality/mykeys`);
    const input = page.getByLabel(w.idLabel, { exact: true });
    const malformed = problemKinds.mykey_id_malformed.messages[w.language];
    await input.fill('ABC');
    t.false(await page.getByText(malformed).isVisible(), 'no message while the ID is still being typed');
    await page.getByRole('button', { name: w.lookUp }).click();
    await page.getByText(malformed).waitFor();
    const unknown = [...MYKEY_ALPHABET].map((check) => `2345678${check}`).find((id) => parseMykeyId(id).ok)!;
    await input.fill(unknown);
    await page.getByRole('button', { name: w.lookUp }).click();
    await page.getByText(problemKinds.mykey_not_found.messages[w.language]).waitFor();
    t.pass();
  });
}

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
