// わたしのページ in Chromium, through the real reader agent, pcscd and a simulated card, against
// the real backend, in Japanese and in English. A kiosk PC of the town (its agent enrolled and
// paired as the counter screens pair) opens the public page; the resident types the PIN with the
// keyboard alone and reads their balance, their lots (the one expiring within 30 days called out),
// the history with its reasons, a second page of it, and its CSV. Taking the card off the reader
// closes the page at once, at the backend too. A second app on the same database, whose pages idle
// out after ten seconds, shows the page closing by itself, and a third, whose pages close fifteen
// seconds after they open however used, its limit: the backend decides, and the page says why. An
// ID suspended while its page is open closes it at the next read. axe-core finds no accessibility
// violation on the page, closed or open.
import test from 'ava';
import type { ExecutionContext } from 'ava';
import { randomUUID } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import type { Page } from 'playwright-core';
import { inLanguage, launchBrowser, screenshotPath } from '@mykey/backend/test/helpers/browser.ts';
import { fileFixture } from '@mykey/backend/test/helpers/env.ts';
import { signInStaff } from '@mykey/backend/test/helpers/identity.ts';
import { startApp } from '@mykey/backend/test/helpers/server.ts';
import { creditConversions, inLedgerTransaction } from '@mykey/backend/ledger/ledger.ts';
import { presentCardAgain, waitForCard, waitUntil } from './helpers/agent.ts';
import { enrolledAgent, stackWithCardFrom, trustingBackend } from './helpers/counter.ts';
import { pinLeaks } from './helpers/pin-leaks.ts';
import { accessible, kioskPage, pairedKioskPage, typePin, type PageWords } from './helpers/resident.ts';

const PIN = '5827';
const DAY = 86_400_000;
// The second app's pages close after this long without use: long enough for the page's own reads
// right after it opens on a loaded machine, short enough to wait for.
const SHORT_IDLE_MS = 10_000;
// The third app's pages close this long after they open, however used (their idle time is a minute).
const SHORT_LIMIT_MS = 15_000;

/** The page's own words in one language. */
interface Words extends PageWords {
  open: string; town: string; balances: string; soon: string;
  conversion: string; grant: string; history: string; range1: string; older: string; range2: string; csv: string; closedByCard: RegExp; closedByIdle: RegExp; wrongPin: RegExp; notReady: string;
  closedByLimit: RegExp; suspended: RegExp;
}

const JA_WRONG_PIN = /暗証番号が違います（残り2回）/;

const JA: Words = {
  language: 'ja', mine: 'わたしのページ', reader: 'カードリーダー', cardPresent: '接続済み・カードあり', pin: '暗証番号（利用者証明用・数字4桁）', open: '暗証番号で開く',
  town: 'みらい市（デモ）', balances: 'ポイントの残高', soon: 'まもなく期限切れ', conversion: 'デモカード株式会社から交換', grant: '自治体からの付与', history: 'ポイントの記録',
  range1: '全23件中 1〜20件目', older: '古い記録へ', range2: '全23件中 21〜23件目', csv: '記録をCSVファイルで保存する',
  closedByCard: /カードが外されたため、わたしのページを閉じました。/, closedByIdle: /10秒間操作がなかったため、わたしのページを閉じました。/,
  closedByLimit: /開いてから15秒間たったため、わたしのページを閉じました。/, suspended: /このマイキーIDは利用停止中です。/,
  wrongPin: JA_WRONG_PIN, notReady: 'カードリーダーの準備ができていません。お近くの職員にお声がけください。',
};

const EN: Words = {
  language: 'en', mine: 'My page', reader: 'Card reader', cardPresent: 'Connected – card present', pin: 'PIN (user authentication, 4 digits)', open: 'Open with my PIN',
  town: 'Mirai City (demo)', balances: 'Your points', soon: 'Expiring soon', conversion: 'Converted from Demo Card Co., Ltd.', grant: 'Granted by the municipality', history: 'Your points history',
  range1: '1–20 of 23', older: 'Older records', range2: '21–23 of 23', csv: 'Save the history as a CSV file',
  closedByCard: /Your page is closed because the card was removed\./, closedByIdle: /Your page is closed because nothing was done for 10 seconds\./,
  closedByLimit: /Your page is closed because it has been open for 15 seconds\./, suspended: /This MyKey ID is suspended\./,
  // The card's words come in both languages, Japanese first, whichever the page's.
  wrongPin: JA_WRONG_PIN, notReady: 'The card reader is not ready. Please ask a member of staff nearby.',
};

const fixture = fileFixture(test, async (cleanup) => {
  const { db, base, ca } = await trustingBackend(cleanup);
  // The same platform on the same database, whose resident pages idle out in seconds.
  const shortIdle = await startApp(cleanup, db, { config: { RESIDENT_SESSION_IDLE_MS: SHORT_IDLE_MS } });
  const shortLimit = await startApp(cleanup, db, { config: { RESIDENT_SESSION_IDLE_MS: 60_000, RESIDENT_SESSION_LIMIT_MS: SHORT_LIMIT_MS } });
  const stack = await stackWithCardFrom(cleanup, ca, PIN);
  const city = await signInStaff(base, 'demo-city');
  const kiosk = await enrolledAgent(cleanup, stack, base, city, '市役所ロビー端末', { allowOrigins: [base, shortIdle, shortLimit] });
  const login = await kiosk.agent.call('POST', '/v1/card-sessions', { pin: PIN, purpose: 'login' });
  if (login.status !== 200) throw new Error(`login: ${JSON.stringify(login.body)}`);
  const mykeyId = login.body.mykeyId as string;
  // 21 conversions a year ago, 10 days before their last day; one now; and a grant by the town.
  const partner = await db('partners').where({ slug: 'demo-card' }).first('id');
  const converted = (points: number, now: Date) => ({ reference: `test:${randomUUID()}`, municipalityCode: '139998', mykeyId, partnerId: Number(partner.id), points, now });
  await inLedgerTransaction(db, (trx) => creditConversions(trx, Array.from({ length: 21 }, () => converted(10, new Date(Date.now() - 355 * DAY)))));
  await inLedgerTransaction(db, (trx) => creditConversions(trx, [converted(1_000, new Date())]));
  const granted = await city.post('/api/v1/staff/grants', { mykeyId, campaign: 'demo-grants-2026', points: 40, reason: '清掃活動' });
  if (granted.status !== 201) throw new Error(JSON.stringify(granted.body));
  return { db, base, shortIdle, shortLimit, city, mykeyId, stack, kiosk, browser: await launchBrowser(cleanup) };
});

/** The kiosk's browser at another app's page: another origin, paired as the devices screen (walked in the first test) would. */
async function kioskPageOn(t: ExecutionContext, w: Words, origin: string): Promise<Page> {
  const { browser, kiosk } = await fixture();
  return pairedKioskPage(t, browser, origin, kiosk.agent, w);
}

async function openWithPin(page: Page, w: Words): Promise<void> {
  await typePin(page, w, PIN);
  await page.getByRole('heading', { level: 2, name: w.town }).waitFor();
}

/** The page's sessions opened since `since` and not ended by a call (one idled out is not ended by a call). */
const openSessions = async (since: Date) => Number((await (await fixture()).db('resident_sessions').where('opened_at', '>=', since).whereNull('ended_at').count({ n: '*' }))[0]!.n);

for (const w of [JA, EN]) {
  test.serial(`(${w.language}) the card and its PIN open the page: balances, lots, history with reasons, paged, its CSV; taking the card off closes it at once`, async (t) => {
    const { base, stack, kiosk, browser } = await fixture();
    const since = new Date();
    const page = await kioskPage(t, browser, base, kiosk.agent, w);
    // A wrong PIN: the card's own words, in both languages, and the tries left; nothing opens.
    await typePin(page, w, '0000');
    await page.getByText(w.wrongPin).waitFor();
    t.is(await page.getByRole('heading', { level: 2, name: w.town }).count(), 0);
    await accessible(t, page, 'the closed page with a wrong PIN');
    await presentCardAgain(stack, kiosk.agent);

    await openWithPin(page, w);
    t.true(await page.getByRole('heading', { level: 2, name: w.town }).evaluate((e) => e === document.activeElement), 'the focus goes to the open page');
    const balances = page.getByRole('region', { name: w.balances, exact: true });
    t.regex(await balances.innerText(), /1,250/);
    const soon = page.getByRole('row').filter({ hasText: w.soon });
    t.is(await soon.count(), 21, 'each lot expiring within 30 days is called out; the fresh one is not');
    const history = page.getByRole('region', { name: w.history, exact: true });
    await history.getByText(w.range1).waitFor();
    t.true((await history.innerText()).includes(w.grant));
    t.true((await history.innerText()).includes(w.conversion));
    await accessible(t, page, 'the open page');
    await page.screenshot({ path: screenshotPath(`resident-page-${w.language}.png`), fullPage: true });

    // The next page of the history, from the keyboard.
    await history.getByRole('button', { name: w.older }).focus();
    await page.keyboard.press('Enter');
    await history.getByText(w.range2).waitFor();
    const [download] = await Promise.all([page.waitForEvent('download'), history.getByRole('link', { name: w.csv }).click()]);
    const csv = await readFile((await download.path())!, 'utf8');
    t.true(csv.startsWith('\uFEFFposted_at_japan_time,municipality_code,kind,points,reason_ja,reason_en\r\n'));
    t.is(csv.trimEnd().split('\r\n').length, 24);
    t.deepEqual(pinLeaks(await page.evaluate(() => JSON.stringify({ ...localStorage, ...sessionStorage, cookie: document.cookie })), PIN), [], 'no PIN, and no session readable by the page');

    // The card leaves the reader: closed here and at the backend, said in the live region.
    t.is(await openSessions(since), 1);
    await stack.removeCard();
    await page.getByRole('status').filter({ hasText: w.closedByCard }).waitFor();
    t.is(await page.getByRole('region', { name: w.balances, exact: true }).count(), 0, 'nothing of the resident is left on screen');
    await waitUntil(async () => (await openSessions(since)) === 0, 'the backend to end the page');
    t.is((await page.request.get(`${base}/api/v1/resident/points`)).status(), 401, 'the page reads nothing any more');
    await stack.insertCard();
    await waitForCard(kiosk.agent);
  });

  test.serial(`(${w.language}) left alone, the page closes by itself when the backend says its time is up`, async (t) => {
    const { shortIdle } = await fixture();
    const since = new Date();
    const page = await kioskPageOn(t, w, shortIdle);
    await openWithPin(page, w);
    await page.getByRole('status').filter({ hasText: w.closedByIdle }).waitFor();
    t.is(await page.getByRole('region', { name: w.balances, exact: true }).count(), 0);
    // The backend closed it by its idle time; the page only asked.
    t.is(await openSessions(since), 1, 'ended by time, not by a call');
    t.is((await page.request.get(`${shortIdle}/api/v1/resident/session`)).status(), 401);
    await accessible(t, page, 'the page closed by time');
  });

  test.serial(`(${w.language}) however long it is idle for, the page closes at its limit after it opened`, async (t) => {
    const { shortLimit } = await fixture();
    const page = await kioskPageOn(t, w, shortLimit);
    await openWithPin(page, w);
    await page.getByRole('status').filter({ hasText: w.closedByLimit }).waitFor();
    t.is(await page.getByRole('region', { name: w.balances, exact: true }).count(), 0);
    t.is((await page.request.get(`${shortLimit}/api/v1/resident/session`)).status(), 401);
  });

  test.serial(`(${w.language}) an ID suspended while its page is open: the next read closes the page, saying so`, async (t) => {
    const { city, mykeyId, browser, base, kiosk } = await fixture();
    const page = await kioskPage(t, browser, base, kiosk.agent, w);
    await openWithPin(page, w);
    t.is((await city.post(`/api/v1/staff/mykeys/${mykeyId}/suspension`, { reason: '紛失の届出（テスト）' })).status, 200);
    try {
      await page.getByRole('region', { name: w.history, exact: true }).getByRole('button', { name: w.older }).click();
      await page.getByRole('status').filter({ hasText: w.suspended }).waitFor();
      t.is(await page.getByRole('region', { name: w.balances, exact: true }).count(), 0, 'nothing of the resident is left on screen');
      await accessible(t, page, 'the page closed for a suspended ID');
    } finally {
      t.is((await city.post(`/api/v1/staff/mykeys/${mykeyId}/reinstatement`, { reason: 'テストの後' })).status, 200);
    }
  });
}

for (const w of [JA, EN]) {
  test(`(${w.language}) a kiosk whose reader agent is not ready tells the resident to ask staff, not how to start it`, async (t) => {
    const { base, browser } = await fixture();
    const context = await browser.newContext();
    t.teardown(() => context.close());
    const page = await context.newPage();
    await page.goto(`${base}/mine`);
    await inLanguage(page, w.language, w.mine);
    await page.getByRole('status').filter({ hasText: w.notReady }).waitFor();
    t.false((await page.innerText('main')).includes('npm run'), 'no command for a resident');
    await accessible(t, page, 'the page without a reader');
  });
}
