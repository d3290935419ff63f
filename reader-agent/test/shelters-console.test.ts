// The municipality console's 避難所 and 本部 screens in Chromium, with the real reader agent,
// pcscd and the simulated card, against the real backend: a clerk opens a drill shelter and gives
// it the desk's device with the keyboard alone; the resident checks in at the desk PIN-less, and
// the 本部 page, left alone, shows the count go up; the roster shows the MyKey ID and its CSV;
// a check-out empties it, a check-in with the PIN fills it again; the clerk closes the shelter,
// everyone inside is checked out, the desk is refused, and 本部 shows no open shelter. Walked in
// Japanese, then in English (where the shelter the first walk closed reads as such).
import test, { type ExecutionContext } from 'ava';
import type { Locator, Page } from 'playwright-core';
import { problemKinds } from '@mykey/contracts/problem-kinds.ts';
import { inLanguage, launchBrowser, signedInPage } from '@mykey/backend/test/helpers/browser.ts';
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

/** The screens' words in one language, and the shelter its walk opens. */
interface Words {
  language: 'ja' | 'en'; console: string; menu: string; nameJa: string; nameEn: string; shown: string; listedBefore: (t: ExecutionContext, page: Page) => Promise<void>;
  openHeading: string; open: string; fieldsRequired: string; nameJaLabel: string; drill: string; opened: string; openState: RegExp; hqRow: RegExp;
  insideOf: (inside: number) => string; checkedIn: RegExp; total: string; roster: string; rosterHeading: string; insideCount: (inside: number) => string;
  csv: string; refresh: string; nobody: string; close: string; closeHeading: string; closeBody: string; closeConfirm: string; closed: RegExp; noneOpen: string;
}

const JA: Words = {
  language: 'ja', console: '自治体コンソール', menu: '避難所', nameJa: 'みらい小学校体育館', nameEn: 'Mirai Elementary School Gym', shown: 'みらい小学校体育館',
  listedBefore: (_t, page) => page.getByText('開設した避難所はありません。').waitFor(), openHeading: '避難所を開設する', open: '開設する',
  fieldsRequired: '名前（日本語・英語）と所在地を入力してください。', nameJaLabel: '名前（日本語）', drill: '訓練として開設する', opened: '「みらい小学校体育館」を開設しました。',
  openState: /訓練・開設中/, hqRow: /みらい小学校体育館（訓練）/, insideOf: (inside) => `${inside} ／ 40 人`, checkedIn: /みらい小学校体育館への入所を受け付けました/,
  total: '入所者 合計 1 人', roster: '名簿', rosterHeading: '「みらい小学校体育館」の名簿', insideCount: (inside) => `入所 ${inside} 人 ／ 収容人数 40 人`,
  csv: '名簿をCSVでダウンロード', refresh: '一覧を更新', nobody: '入所している人はいません。', close: '避難所を閉鎖する', closeHeading: '「みらい小学校体育館」を閉鎖しますか？',
  closeBody: 'いま入所している 1 人は、この時刻で退所として記録されます。', closeConfirm: '閉鎖する', closed: /訓練・.* 閉鎖/, noneOpen: '開設中の避難所はありません。',
};

const EN: Words = {
  language: 'en', console: 'Municipality console', menu: 'Shelters', nameJa: 'みらい中学校体育館', nameEn: 'Mirai Junior High School Gym', shown: 'Mirai Junior High School Gym',
  // The Japanese walk's shelter, closed: its state in English words, not Japanese punctuation.
  listedBefore: async (t, page) => {
    const earlier = page.getByRole('row', { name: /Mirai Elementary School Gym/ });
    await earlier.waitFor();
    t.regex(await earlier.innerText(), /Drill, closed /);
  },
  openHeading: 'Open a shelter', open: 'Open', fieldsRequired: 'Enter the name in Japanese and English, and the place.', nameJaLabel: 'Name (Japanese)',
  drill: 'Open it as a drill', opened: '“Mirai Junior High School Gym” is open.', openState: /Drill, open/, hqRow: /Mirai Junior High School Gym \(drill\)/,
  insideOf: (inside) => `${inside} / 40`, checkedIn: /You are checked in at Mirai Junior High School Gym\./, total: 'Inside in all: 1 ', roster: 'Roster',
  rosterHeading: 'Roster of “Mirai Junior High School Gym”', insideCount: (inside) => `${inside} inside / capacity 40`, csv: 'Download the roster (CSV)',
  refresh: 'Refresh list', nobody: 'Nobody is checked in.', close: 'Close the shelter', closeHeading: 'Close “Mirai Junior High School Gym”?',
  closeBody: 'Everyone inside now (1) is checked out at this time.', closeConfirm: 'Close', closed: /Drill, closed /, noneOpen: 'No shelter is open.',
};

for (const w of [JA, EN]) {
  test.serial(`(${w.language}) a clerk opens a drill shelter with the keyboard; PIN-less check-in shows on 本部 by itself; roster, CSV, check-out, check-in with the PIN, closing`, async (t) => {
    const { base, desk, mykeyId, browser } = await fixture();
    const page = await signedInPage(t, browser, base, 'demo-city', JA.console);
    await inLanguage(page, w.language, w.console);

    await page.getByRole('link', { name: w.menu, exact: true }).focus();
    await page.keyboard.press('Enter');
    await page.waitForURL(`${base}/municipality/shelters`);
    await w.listedBefore(t, page);
    const form = page.getByRole('region', { name: w.openHeading });
    const submit = form.getByRole('button', { name: w.open, exact: true });
    await tabTo(page, submit);
    await page.keyboard.press('Enter');
    await form.getByText(w.fieldsRequired).waitFor();
    t.is(await form.getByLabel(w.nameJaLabel).getAttribute('aria-invalid'), 'true');
    await form.getByLabel(w.nameJaLabel).focus();
    await page.keyboard.type(w.nameJa);
    await page.keyboard.press('Tab');
    await page.keyboard.type(w.nameEn);
    await page.keyboard.press('Tab');
    await page.keyboard.type('みらい市中央1-2-3');
    await page.keyboard.press('Tab');
    await page.keyboard.type('40');
    await page.keyboard.press('Tab');
    t.true(await form.getByRole('checkbox', { name: w.drill }).isChecked(), 'a drill unless told');
    await tabTo(page, form.getByRole('checkbox', { name: '体育館受付' }));
    await page.keyboard.press('Space');
    await tabTo(page, submit);
    await page.keyboard.press('Enter');
    await page.getByText(w.opened).waitFor();
    const row = page.getByRole('row', { name: new RegExp(w.shown) });
    t.regex(await row.innerText(), w.openState);
    t.regex(await row.innerText(), /体育館受付/);

    // 本部 on a page of its own, left alone from here on.
    const hq = await page.context().newPage();
    await hq.goto(`${base}/municipality/shelters/summary`);
    const hqRow = hq.getByRole('row', { name: w.hqRow });
    await hqRow.getByText(w.insideOf(0)).waitFor();

    const checkedIn = await desk.agent.call('POST', '/v1/card-taps', { purpose: 'shelter_check_in' });
    t.is(checkedIn.status, 200, JSON.stringify(checkedIn.body));
    t.like(checkedIn.body, { result: 'checked_in', inside: 1, capacity: 40 });
    t.regex(checkedIn.body.messages[w.language], w.checkedIn);
    t.false(JSON.stringify(checkedIn.body).includes(mykeyId), 'the desk screen is not shown the MyKey ID');
    await hqRow.getByText(w.insideOf(1)).waitFor();
    await hq.getByRole('status').filter({ hasText: w.total }).waitFor();

    await row.getByRole('button', { name: new RegExp(`^${w.roster}`) }).click();
    const roster = page.getByRole('region', { name: w.rosterHeading });
    await roster.getByText(w.insideCount(1)).waitFor();
    t.true(await roster.getByRole('row', { name: new RegExp(mykeyId) }).isVisible(), 'the roster names the MyKey ID');
    const download = page.waitForEvent('download');
    await roster.getByRole('link', { name: w.csv }).click();
    const file = await (await download).createReadStream();
    const chunks: Buffer[] = [];
    for await (const chunk of file) chunks.push(chunk as Buffer);
    const csv = Buffer.concat(chunks);
    t.deepEqual([...csv.subarray(0, 3)], [0xef, 0xbb, 0xbf], 'the file starts with the BOM');
    t.true(csv.toString('utf8').includes(`,${mykeyId},`) && csv.toString('utf8').includes('\r\n'));

    t.like(await desk.agent.call('POST', '/v1/card-taps', { purpose: 'shelter_check_out' }), { status: 200, body: { result: 'checked_out', inside: 0 } });
    await roster.getByRole('button', { name: w.refresh }).click();
    await roster.getByText(w.nobody).waitFor();
    await hqRow.getByText(w.insideOf(0)).waitFor();
    t.like(await desk.agent.call('POST', '/v1/card-sessions', { pin: PIN, purpose: 'shelter_check_in' }), { status: 200, body: { result: 'checked_in', inside: 1 } });
    await roster.getByRole('button', { name: w.refresh }).click();
    await roster.getByText(w.insideCount(1)).waitFor();

    await roster.getByRole('button', { name: w.close }).click();
    const dialog = page.getByRole('dialog', { name: w.closeHeading });
    await dialog.getByText(w.closeBody, { exact: false }).waitFor();
    await dialog.getByRole('button', { name: w.closeConfirm, exact: true }).click();
    await roster.getByText(w.nobody).waitFor();
    t.regex(await row.innerText(), w.closed);
    t.is(await roster.getByRole('button', { name: w.close }).count(), 0);
    const refused = await desk.agent.call('POST', '/v1/card-taps', { purpose: 'shelter_check_in' });
    t.like(refused, { status: 502, body: { code: 'shelter_closed', messages: problemKinds.shelter_closed.messages, backendStatus: 409 } });
    await hq.getByText(w.noneOpen).waitFor();
  });
}
