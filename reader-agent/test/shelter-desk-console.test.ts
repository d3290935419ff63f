// The console's 避難所受付 (the shelter's desk) in Chromium, through the real reader agent, pcscd
// and the simulated card, against the real backend: the clerk reaches the desk with the keyboard,
// the screen knows from the agent which shelter the PC serves; the resident checks in (and again:
// already inside), checks out (and again: the backend's refusal in both languages); then the
// network between the agent and the backend is cut, two taps are kept and the screen says 2 wait;
// the network comes back, the count goes to 0 by itself, and the roster has the stay at the times
// the card was tapped, not the time it was sent. Walked with the console in Japanese, then in
// English: the desk's own words follow the console, what the resident reads is in both.
import test from 'ava';
import type { Locator, Page } from 'playwright-core';
import { problemKinds } from '@mykey/contracts/problem-kinds.ts';
import { inLanguage, launchBrowser, screenshotPath, signedInPage } from '@mykey/backend/test/helpers/browser.ts';
import { fileFixture } from '@mykey/backend/test/helpers/env.ts';
import { signInStaff } from '@mykey/backend/test/helpers/identity.ts';
import { backendWithCard, enrolledAgent } from './helpers/counter.ts';
import { light, pair } from './helpers/console.ts';
import { network } from './helpers/network.ts';

const PIN = '8162';

const fixture = fileFixture(test, async (cleanup) => {
  const { db, base, stack } = await backendWithCard(cleanup, PIN);
  const city = await signInStaff(base, 'demo-city');
  const link = await network(cleanup, base);
  const desk = await enrolledAgent(cleanup, stack, base, city, '体育館受付', { backendUrl: link.url, allowOrigins: [base] });
  // The card's first login gives it its MyKey ID.
  const login = await desk.agent.call('POST', '/v1/card-sessions', { pin: PIN, purpose: 'login' });
  if (login.status !== 200) throw new Error(`login: ${JSON.stringify(login.body)}`);
  const opened = await city.post('/api/v1/shelters', { nameJa: 'みらい小学校体育館', nameEn: 'Mirai Elementary School Gym', place: 'みらい市中央1-2-3', capacity: 40, drill: true });
  if (opened.status !== 201) throw new Error(JSON.stringify(opened.body));
  const assigned = await city.put(`/api/v1/shelters/${opened.body.id}/devices`, { deviceIds: [desk.deviceId] });
  if (assigned.status !== 200) throw new Error(JSON.stringify(assigned.body));
  return { db, base, city, link, desk, shelterId: opened.body.id as number, mykeyId: login.body.mykeyId as string, browser: await launchBrowser(cleanup) };
});

/** Presses Tab until `target` has the focus, as a keyboard user would. */
async function tabTo(page: Page, target: Locator, most = 40): Promise<void> {
  for (let i = 0; i < most; i++) {
    if (await target.evaluate((element) => element === document.activeElement)) return;
    await page.keyboard.press('Tab');
  }
  throw new Error('Tab never reached the element');
}

/** A live region of the page saying `text`. */
const said = (page: Page, text: string | RegExp) => page.getByRole('status').filter({ hasText: text }).first().waitFor();

/** The desk's own words in one language (what the resident reads is in both, whichever the console's). */
interface Words {
  language: 'ja' | 'en'; console: string; menu: string; reader: string; cardPresent: string; own: string; insideCount: (inside: number) => string;
  noneWaiting: string; checkIn: RegExp; checkOut: RegExp; readCard: RegExp;
}

const JA: Words = {
  language: 'ja', console: '自治体コンソール', menu: '避難所受付', reader: 'カードリーダー', cardPresent: '接続済み・カードあり', own: 'この端末は「みらい小学校体育館」の受付です。',
  insideCount: (inside) => `入所 ${inside} 人 ／ 収容人数 40 人`, noneWaiting: '送信待ちはありません', checkIn: /入所/, checkOut: /退所/, readCard: /カードを読み取る/,
};

const EN: Words = {
  language: 'en', console: 'Municipality console', menu: 'Shelter desk', reader: 'Card reader', cardPresent: 'Connected – card present', own: 'This PC is the desk of Mirai Elementary School Gym.',
  insideCount: (inside) => `${inside} inside / capacity 40`, noneWaiting: 'Nothing waiting to be sent', checkIn: /Check in/, checkOut: /Check out/, readCard: /Read the card/,
};

for (const w of [JA, EN]) {
  test.serial(`(${w.language}) a clerk checks a resident in and out at the desk; with the network cut two taps wait, and once it is back they are on the roster at their own times`, async (t) => {
    const { db, base, city, link, desk, shelterId, mykeyId, browser } = await fixture();
    const started = new Date();
    const page = await signedInPage(t, browser, base, 'demo-city', JA.console);
    await page.goto(`${base}/municipality/devices`);
    await pair(page, desk.agent.base, desk.agent.token);
    await inLanguage(page, w.language, w.console);
    await page.getByRole('link', { name: w.menu }).focus();
    await page.keyboard.press('Enter');
    await page.waitForURL(`${base}/municipality/shelters/desk`);
    await light(page, w.cardPresent, w.reader);
    await said(page, w.own);
    await said(page, w.insideCount(0));
    await said(page, w.noneWaiting);

    const checkIn = page.getByRole('radio', { name: w.checkIn });
    const checkOut = page.getByRole('radio', { name: w.checkOut });
    const readCard = page.getByRole('button', { name: w.readCard });
    t.true(await checkIn.isChecked(), 'check-in unless told');
    await tabTo(page, readCard);
    await page.keyboard.press('Enter');
    await said(page, /入所しました\s*Checked in.*への入所を受け付けました/s);
    await said(page, w.insideCount(1));
    t.true(await readCard.evaluate((element) => element === document.activeElement), 'the button keeps the focus for the next resident');

    await page.keyboard.press('Enter');
    await said(page, /すでに入所しています\s*Already checked in.*（\d{4}-\d\d-\d\d \d\d:\d\d:\d\d から）/s);

    await checkIn.focus();
    await page.keyboard.press('ArrowRight');
    t.true(await checkOut.isChecked(), 'the arrow keys change the mode');
    await tabTo(page, readCard);
    await page.keyboard.press('Enter');
    await said(page, /退所しました\s*Checked out.*からの退所を記録しました/s);
    await said(page, w.insideCount(0));

    await page.keyboard.press('Enter');
    const refusal = page.locator('.problem');
    await refusal.getByText(problemKinds.shelter_not_inside.messages.ja).waitFor();
    await refusal.getByText(problemKinds.shelter_not_inside.messages.en).waitFor();

    // The network goes: the desk keeps taking taps.
    await link.cut();
    const before = Date.now();
    await checkOut.focus();
    await page.keyboard.press('ArrowLeft');
    await tabTo(page, readCard);
    await page.keyboard.press('Enter');
    await said(page, /入所を受け付けました\s*Check-in accepted.*通信が回復したら送信します（送信待ち 1 件）/s);
    // The time it is kept at, written each language's way whichever the console's.
    await said(page, /\d{4}\/\d\d\/\d\d \d{1,2}:\d\d:\d\d のタッチとして記録します。\s*It is recorded as tapped at \d{1,2} [A-Z][a-z]{2} \d{4}, \d\d:\d\d:\d\d\./);
    const between = Date.now();
    await checkIn.focus();
    await page.keyboard.press('ArrowRight');
    await tabTo(page, readCard);
    await page.keyboard.press('Enter');
    await said(page, /退所を受け付けました\s*Check-out accepted.*通信が回復したら送信します（送信待ち 2 件）/s);
    const after = Date.now();
    await page.locator('.figures').getByText('通信が回復したら送信します（送信待ち 2 件）').waitFor();
    await page.screenshot({ path: screenshotPath(`shelter-desk-waiting-${w.language}.png`), fullPage: true });
    t.is((await city.get(`/api/v1/shelters/${shelterId}/roster`)).body.inside, 0, 'nothing reached the backend meanwhile');
    t.is((await db('shelter_stays').where({ shelter_id: shelterId }).where('in_at', '>=', started)).length, 1);

    // The network comes back: the agent sends what waits, the screen follows by itself.
    const restoredAt = Date.now();
    await link.restore();
    await said(page, w.noneWaiting);
    const stays = await db('shelter_stays as st').join('mykeys as m', 'm.id', 'st.mykey_pk').where({ 'st.shelter_id': shelterId, 'm.mykey_id': mykeyId }).where('st.in_at', '>=', started)
      .orderBy('st.id').select('st.in_at', 'st.out_at', 'st.out_by');
    t.is(stays.length, 2, 'the stay before the outage and the one during it, each once (of this walk)');
    const late = stays[1] as { in_at: Date; out_at: Date; out_by: string };
    t.is(late.out_by, 'tap');
    t.true(before <= late.in_at.getTime() && late.in_at.getTime() <= between, 'checked in at the time of the first tap');
    t.true(between <= late.out_at.getTime() && late.out_at.getTime() <= after, 'checked out at the time of the second');
    t.true(late.out_at.getTime() < restoredAt, 'not at the time they were sent');
    await said(page, w.insideCount(0));
  });
}
