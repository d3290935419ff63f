// What the console shows each role, in Chromium against the real backend, in Japanese and in
// English: the menu in labelled groups of the places the staff member's roles work in (a group
// with none of them is not there); and to an auditor, the card readers, MyKey IDs and grants to
// read, none of the screens offering a change (the backend would refuse it:
// docs/security/staff.md#roles).
import test, { type ExecutionContext } from 'ava';
import type { Page } from 'playwright-core';
import { launchBrowser, screenshotPath, signedInPage } from './helpers/browser.ts';
import { fileFixture, testDatabase } from './helpers/env.ts';
import { enrollDevice, signInStaff } from './helpers/identity.ts';
import { newMykeyId } from './helpers/partners.ts';
import { startApp } from './helpers/server.ts';

const DEMO_TOWN = '139998';

const fixture = fileFixture(test, async (cleanup) => {
  const { db } = await testDatabase(cleanup);
  await db.seed.run();
  const base = await startApp(cleanup, db);
  // Something on each screen to read: a reader of the town and one of its residents' IDs.
  await enrollDevice(base, await signInStaff(base, 'demo-city'), '窓口3');
  const mykeyId = newMykeyId();
  await db('mykeys').insert({ mykey_id: mykeyId, status: 'active', home_municipality_code: DEMO_TOWN });
  return { base, mykeyId, browser: await launchBrowser(cleanup) };
});

interface Words {
  language: 'ja' | 'en'; auditorMenu: Menu; ownerMenu: Menu; devices: string; deviceList: string; issue: string; revoke: string; mykeys: string; lookUp: string; mykeyId: string;
  suspend: string; relink: string; grants: string; recent: string; grantOne: string; grantFile: string;
}

/** Each group's label with its links, in order (the home link, alone before them, is not a group). */
type Menu = Array<[string, string[]]>;

const JA: Words = {
  language: 'ja',
  auditorMenu: [
    ['住民とカード', ['マイキーID']],
    ['窓口と施設', ['端末（カードリーダー）', '施設・サービス', '利用状況', '避難所', '本部', '行事・行政ポイント']],
    ['ポイントとキャンペーン', ['キャンペーン', 'ポイント付与', 'キャンペーン実績', '失効予定のポイント']],
    ['加盟店と精算', ['加盟店', '精算', '提携事業者']],
    ['管理', ['アカウント']],
  ],
  ownerMenu: [['お店の業務', ['レジ', '精算', '端末（カードリーダー）']], ['管理', ['店員', 'アカウント']]], devices: '端末（カードリーダー）', deviceList: '登録済みの端末', issue: '新しい端末を登録する', revoke: '登録を取り消す',
  mykeys: 'マイキーID', lookUp: '照会', mykeyId: 'マイキーID', suspend: '利用停止', relink: '新しいカードを紐付け',
  grants: 'ポイント付与', recent: '最近の付与', grantOne: '1件ずつ付与する', grantFile: 'CSVファイルでまとめて付与する',
};

const EN: Words = {
  language: 'en',
  auditorMenu: [
    ['Residents and cards', ['MyKey IDs']],
    ['Counters and facilities', ['Card readers', 'Services', 'Usage', 'Shelters', 'Headquarters', 'Events and points']],
    ['Points and campaigns', ['Campaigns', 'Grant points', 'Campaign figures', 'Points about to expire']],
    ['Shops and settlement', ['Shops', 'Settlement', 'Partners']],
    ['Administration', ['Account']],
  ],
  ownerMenu: [["The shop's work", ['Register', 'Settlement', 'Card readers']], ['Administration', ['Staff', 'Account']]], devices: 'Card readers', deviceList: 'Enrolled card readers', issue: 'Enroll a new card reader', revoke: 'Revoke',
  mykeys: 'MyKey IDs', lookUp: 'Look up', mykeyId: 'MyKey ID', suspend: 'Suspend', relink: 'Link a new card',
  grants: 'Grant points', recent: 'Latest grants', grantOne: 'Grant to one resident', grantFile: 'Grant from a CSV file',
};

async function inEnglish(page: Page, heading: string): Promise<void> {
  await page.getByRole('button', { name: 'English' }).click();
  await page.getByRole('heading', { level: 1, name: heading }).waitFor();
}

/** The menu as a screen reader finds it: the lists of the navigation landmark, each by its name. */
async function checkMenu(t: ExecutionContext, page: Page, menu: Menu): Promise<void> {
  const navigation = page.getByRole('navigation');
  t.is(await navigation.getByRole('list').count(), menu.length + 1, 'the home link, then the groups with a place to go');
  for (const [group, places] of menu) {
    t.deepEqual(await navigation.getByRole('list', { name: group, exact: true }).getByRole('link').allTextContents(), places, group);
  }
}

async function open(page: Page, menu: string): Promise<void> {
  await page.getByRole('navigation').getByRole('link', { name: menu, exact: true }).click();
  await page.getByRole('heading', { level: 2, name: menu }).waitFor();
}

for (const w of [JA, EN]) {
  test(`(${w.language}) the menu groups the places of each role, and leaves out a group with none`, async (t) => {
    const { base, browser } = await fixture();
    const auditor = await signedInPage(t, browser, base, 'demo-auditor', '自治体コンソール');
    if (w.language === 'en') await inEnglish(auditor, 'Municipality console');
    await checkMenu(t, auditor, w.auditorMenu);
    await auditor.screenshot({ path: screenshotPath(`console-menu-${w.language}.png`) });
    const owner = await signedInPage(t, browser, base, 'demo-shop', '加盟店コンソール');
    if (w.language === 'en') await inEnglish(owner, 'Merchant console');
    await checkMenu(t, owner, w.ownerMenu);
  });

  test(`(${w.language}) an auditor reads the card readers, MyKey IDs and grants and is offered no change`, async (t) => {
    const { base, mykeyId, browser } = await fixture();
    const page = await signedInPage(t, browser, base, 'demo-auditor', '自治体コンソール');
    if (w.language === 'en') await inEnglish(page, 'Municipality console');

    await open(page, w.devices);
    const devices = page.getByRole('region', { name: w.deviceList });
    await devices.getByRole('rowheader', { name: '窓口3' }).waitFor();
    t.is(await devices.getByRole('button', { name: new RegExp(w.revoke) }).count(), 0, 'no reader is revoked');
    t.is(await page.getByRole('heading', { name: w.issue }).count(), 0, 'no reader is enrolled');

    await open(page, w.mykeys);
    await page.getByLabel(w.mykeyId, { exact: true }).fill(mykeyId);
    await page.getByRole('button', { name: w.lookUp }).click();
    const result = page.getByRole('region', { name: mykeyId });
    await result.waitFor();
    t.is(await result.getByRole('button').count(), 0, `neither ${w.suspend} nor ${w.relink}`);

    await open(page, w.grants);
    await page.getByRole('region', { name: w.recent }).waitFor();
    t.is(await page.getByRole('heading', { name: w.grantOne }).count(), 0, 'nothing is granted');
    t.is(await page.getByRole('heading', { name: w.grantFile }).count(), 0, 'no file is sent');
    t.is(await page.getByRole('main').locator('form').count(), 0);
  });
}
