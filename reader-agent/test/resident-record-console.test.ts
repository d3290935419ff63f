// Who looked at my record, on わたしのページ in Chromium, through the real reader agent, pcscd and a
// simulated card, against the real backend, in Japanese and in English. みらい市's staff grant the
// resident points and its auditor looks at the grants; あおば町's staff check the resident's
// standing in their town again and again. The resident opens the page with the keyboard alone and
// reads each look and act with its town, the staff member's roles, the time and words, a second
// page of it, and no staff member's name anywhere. axe-core finds no violation on the open page.
import test from 'ava';
import type { Page } from 'playwright-core';
import { launchBrowser, screenshotPath } from '@mykey/backend/test/helpers/browser.ts';
import { fileFixture } from '@mykey/backend/test/helpers/env.ts';
import { signInStaff } from '@mykey/backend/test/helpers/identity.ts';
import { enrolledAgent, stackWithCardFrom, trustingBackend } from './helpers/counter.ts';
import { accessible, kioskPage, typePin, type PageWords } from './helpers/resident.ts';

const PIN = '4906';
/** あおば町's looks: with the grant and the auditor's look, a page and a bit of the list. */
const AOBA_LOOKS = 21;

interface Words extends PageWords {
  town: string; views: string; range1: string; older: string; range2: string; aoba: string; adminRoles: string; looked: string; changed: string;
  aobaLook: string; grant: string; auditorLook: string; auditor: string; close: string;
}

const JA: Words = {
  language: 'ja', mine: 'わたしのページ', reader: 'カードリーダー', cardPresent: '接続済み・カードあり', pin: '暗証番号（利用者証明用・数字4桁）',
  town: 'みらい市（デモ）', views: 'わたしの記録を見た・扱った職員', range1: '全23件中 1〜20件目', older: '古い記録へ', range2: '全23件中 21〜23件目',
  aoba: 'あおば町（デモ）', adminRoles: '管理者、窓口担当', looked: '見た', changed: '変えた',
  aobaLook: 'この自治体でのあなたの利用状況（利用停止の有無など）を確認しました', grant: 'あなたにポイントを付与しました（40ポイント）',
  auditorLook: 'あなたへのポイント付与の記録を見ました', auditor: '監査担当', close: 'ページを閉じる',
};

const EN: Words = {
  language: 'en', mine: 'My page', reader: 'Card reader', cardPresent: 'Connected – card present', pin: 'PIN (user authentication, 4 digits)',
  town: 'Mirai City (demo)', views: 'Staff who looked at or acted on your record', range1: '1–20 of 23', older: 'Older records', range2: '21–23 of 23',
  aoba: 'Aoba Town (demo)', adminRoles: 'Administrator, Operator', looked: 'Looked', changed: 'Changed',
  aobaLook: 'Checked your standing in this municipality (whether your use is stopped here)', grant: 'Granted you 40 points',
  auditorLook: 'Looked at the points granted to you', auditor: 'Auditor', close: 'Close my page',
};

const fixture = fileFixture(test, async (cleanup) => {
  const { db, base, ca } = await trustingBackend(cleanup);
  const stack = await stackWithCardFrom(cleanup, ca, PIN);
  const city = await signInStaff(base, 'demo-city');
  const kiosk = await enrolledAgent(cleanup, stack, base, city, '図書館ロビー端末', { allowOrigins: [base] });
  const login = await kiosk.agent.call('POST', '/v1/card-sessions', { pin: PIN, purpose: 'login' });
  if (login.status !== 200) throw new Error(`login: ${JSON.stringify(login.body)}`);
  const mykeyId = login.body.mykeyId as string;
  // みらい市 grants points; its auditor looks at the grants; あおば町 checks the resident's standing there.
  const granted = await city.post('/api/v1/staff/grants', { mykeyId, campaign: 'demo-grants-2026', points: 40, reason: '清掃活動' });
  if (granted.status !== 201) throw new Error(JSON.stringify(granted.body));
  const auditor = await signInStaff(base, 'demo-auditor');
  if ((await auditor.get(`/api/v1/staff/grant-history?mykeyId=${mykeyId}`)).status !== 200) throw new Error('the auditor could not look');
  const aoba = await signInStaff(base, 'demo-aoba-city');
  for (let i = 0; i < AOBA_LOOKS; i++) {
    if ((await aoba.get(`/api/v1/staff/mykeys/${mykeyId}/town`)).status !== 200) throw new Error('あおば町 could not look');
  }
  // What would name the staff members, were it shown.
  const staff = await db('staff_accounts').whereIn('login_id', ['demo-city', 'demo-auditor', 'demo-aoba-city']).select('login_id', 'display_name');
  return { base, kiosk, staff, browser: await launchBrowser(cleanup) };
});

/** The page's rows of who looked, as the screen shows them: its cells' text. */
const rows = (page: Page, w: Words) => page.getByRole('region', { name: w.views, exact: true }).getByRole('row')
  .evaluateAll((trs) => trs.slice(1).map((tr) => [...tr.querySelectorAll('td')].map((td) => td.textContent!.trim())));

for (const w of [JA, EN]) {
  test.serial(`(${w.language}) the open page lists who looked at the record and what they did: the town, the roles, the time and words, paged, never a name`, async (t) => {
    const { base, kiosk, staff, browser } = await fixture();
    const page = await kioskPage(t, browser, base, kiosk.agent, w);
    await typePin(page, w, PIN);
    await page.getByRole('heading', { level: 2, name: w.town }).waitFor();
    const views = page.getByRole('region', { name: w.views, exact: true });
    await views.getByText(w.range1).waitFor();

    // Newest first: あおば町's looks, each with its town, roles, kind and words.
    const first = await rows(page, w);
    t.is(first.length, 20);
    t.deepEqual(first[0]!.slice(1), [w.aoba, w.adminRoles, w.looked, w.aobaLook]);
    t.regex(first[0]![0]!, /2\d{3}/, 'the date and time of the look');
    await accessible(t, page, 'the open page with who looked at the record');
    await views.screenshot({ path: screenshotPath(`resident-record-views-${w.language}.png`) });

    // The older page, from the keyboard: the focus goes to the list's heading.
    await views.getByRole('button', { name: w.older }).focus();
    await page.keyboard.press('Enter');
    await views.getByText(w.range2).waitFor();
    t.true(await views.getByRole('heading', { level: 2, name: w.views }).evaluate((e) => e === document.activeElement), 'the focus goes to the list');
    const second = await rows(page, w);
    t.deepEqual(second.map((cells) => cells.slice(1)), [
      [w.aoba, w.adminRoles, w.looked, w.aobaLook],
      [w.town, w.auditor, w.looked, w.auditorLook],
      [w.town, w.adminRoles, w.changed, w.grant],
    ]);
    const text = await page.innerText('main');
    for (const account of staff) {
      for (const marker of [account.display_name, account.login_id]) t.false(text.includes(marker), `the page names ${marker}`);
    }
    await accessible(t, page, 'the second page of who looked at the record');

    await page.getByRole('button', { name: w.close }).click();
    t.is(await views.count(), 0, 'nothing of the resident is left on screen');
  });
}
