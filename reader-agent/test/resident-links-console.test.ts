// What is linked to the card, on わたしのページ, in Chromium through the real reader agent, pcscd
// and a simulated card, against the real backend, in Japanese and in English. The resident's card
// was first used at a counter of みらい市 (its home): there it linked the city library and offered
// a family consent, which a family member's card accepted. At a kiosk of あおば町 the resident opens
// the page with the PIN and, with the keyboard alone: unlinks the library after reading what that
// means, withdraws the consent (ended for the family member too), and moves the home to あおば町,
// told first what moving means, the card signing again after the PIN. Every result is said in a
// live region and the focus goes to it; axe-core finds no violation on the page, nor in the
// confirmation. Each language's walk has a card and kiosk of its own: the changes cannot be undone here.
import test from 'ava';
import type { ExecutionContext } from 'ava';
import { randomUUID } from 'node:crypto';
import type { Locator, Page } from 'playwright-core';
import { issueCertificate } from '@mykey/dev-tools/dev-ca/index.ts';
import { inLanguage, launchBrowser, screenshotPath, signedInPage } from '@mykey/backend/test/helpers/browser.ts';
import { fileFixture } from '@mykey/backend/test/helpers/env.ts';
import { cardProof, cardSession, enrollDevice, signInStaff } from '@mykey/backend/test/helpers/identity.ts';
import type { RunningAgent } from './helpers/agent.ts';
import { enrolledAgent, stackWithCardFrom, trustingBackend } from './helpers/counter.ts';
import { light, pair } from './helpers/console.ts';
import { pinLeaks } from './helpers/pin-leaks.ts';
import { accessible, typePin } from './helpers/resident.ts';

const PIN = '3916';

/** The page's own words in one language. */
interface Words {
  language: 'ja' | 'en'; mine: string; reader: string; cardPresent: string; pin: string; kioskTown: string; homeTown: string; library: string;
  memberships: string; unlink: string; unlinkWhat: RegExp; unlinked: RegExp; noMemberships: string;
  family: string; withdraw: string; withdrawWhat: RegExp; withdrawn: RegExp; noFamily: string;
  home: string; moveWhat: RegExp; homeMoved: string; homeIsHere: string;
}

const JA: Words = {
  language: 'ja', mine: 'わたしのページ', reader: 'カードリーダー', cardPresent: '接続済み・カードあり', pin: '暗証番号（利用者証明用・数字4桁）',
  kioskTown: 'あおば町（デモ）', homeTown: 'みらい市（デモ）', library: 'みらい市立図書館',
  memberships: 'カードにつながっている利用者カード', unlink: 'つながりを外す', unlinkWhat: /このマイナンバーカードではみらい市立図書館を利用できなくなります。利用者番号 LIB-JA はみらい市立図書館のものとしてそのまま残ります/,
  unlinked: /みらい市立図書館とのつながりを外しました（利用者番号 LIB-JA）。/, noMemberships: 'つながっている利用者カードはありません。',
  family: '家族の避難先確認の同意', withdraw: '取り消す', withdrawWhat: /あなたも子さんも、お互いの避難先を見られなくなります/, withdrawn: /子さんとの同意を取り消しました。/, noFamily: '避難先を確認し合う同意はありません。',
  home: '所属自治体', moveWhat: /あなたのマイキーIDはあおば町（デモ）の職員が担当し、みらい市（デモ）の職員は担当しなくなります。/,
  homeMoved: '所属自治体をあおば町（デモ）に移しました。', homeIsHere: 'この端末の自治体が、すでに所属自治体です。',
};

const EN: Words = {
  language: 'en', mine: 'My page', reader: 'Card reader', cardPresent: 'Connected – card present', pin: 'PIN (user authentication, 4 digits)',
  kioskTown: 'Aoba Town (demo)', homeTown: 'Mirai City (demo)', library: 'Mirai City Library',
  memberships: 'Memberships linked to your card', unlink: 'Unlink', unlinkWhat: /your My Number Card no longer works at Mirai City Library\. Your member number LIB-EN stays with Mirai City Library/,
  unlinked: /Mirai City Library is unlinked from your card \(member number LIB-EN\)\./, noMemberships: 'No membership is linked to your card.',
  family: 'Family consents to share shelters', withdraw: 'Withdraw', withdrawWhat: /neither you nor 子 can see the other's shelter any more/, withdrawn: /Your consent with 子 is withdrawn/, noFamily: 'You have no consent to share shelters.',
  home: 'Home municipality', moveWhat: /the staff of Aoba Town \(demo\) look after your MyKey ID, and the staff of Mirai City \(demo\) no longer do\./,
  homeMoved: 'Your home municipality is now Aoba Town (demo).', homeIsHere: 'This device\'s municipality is already your home municipality.',
};

const fixture = fileFixture(test, async (cleanup) => {
  const { db, base, ca } = await trustingBackend(cleanup);
  const city = await signInStaff(base, 'demo-city');
  const aoba = await signInStaff(base, 'demo-aoba-city');
  const library = await city.post('/api/v1/services', { kind: 'library', nameJa: 'みらい市立図書館', nameEn: 'Mirai City Library', tapPolicy: 'pin' });
  if (library.status !== 201) throw new Error(JSON.stringify(library.body));
  // The family member's counter, where their card (signing in process) accepts the code.
  const familyCounter = await enrollDevice(base, city, '支所窓口');
  return { db, base, ca, city, aoba, libraryId: Number(library.body.id), familyCounter, browser: await launchBrowser(cleanup) };
});

/** The agent's answer to a card session, or the test stops with what it said. */
async function signed(agent: RunningAgent, body: Record<string, unknown>): Promise<Record<string, any>> {
  const answer = await agent.call('POST', '/v1/card-sessions', { pin: PIN, ...body });
  if (answer.status !== 200) throw new Error(`${String(body.purpose)}: ${JSON.stringify(answer.body)}`);
  return answer.body;
}

/** A staff call that must succeed. */
async function must(reply: Promise<{ status: number; body: any }>): Promise<any> {
  const { status, body } = await reply;
  if (status >= 300) throw new Error(JSON.stringify(body));
  return body;
}

/**
 * A resident's card of `w`'s own, first used at a counter of みらい市: it logs in (home: みらい市),
 * links the library as LIB-JA or LIB-EN, and offers a consent under 「母」, which a family member's
 * card accepts as 「子」. Then the counter's agent stops, and a kiosk of あおば町 is enrolled on the
 * same reader, its agent allowing the console's origin.
 */
async function residentAtAobaKiosk(t: ExecutionContext, w: Words) {
  const { base, ca, city, aoba, libraryId, familyCounter } = await fixture();
  const cleanup = (fn: () => unknown) => t.teardown(async () => { await fn(); });
  const stack = await stackWithCardFrom(cleanup, ca, PIN);
  const counter = await enrolledAgent(cleanup, stack, base, city, `みらい市窓口 ${w.language}`);
  const mykeyId = (await signed(counter.agent, { purpose: 'login' })).mykeyId as string;
  await must(city.put(`/api/v1/services/${libraryId}/devices`, { deviceIds: [counter.deviceId] }));
  const link = await must(city.post(`/api/v1/services/${libraryId}/membership-requests`, { action: 'link', memberNumber: `LIB-${w.language.toUpperCase()}` }));
  await signed(counter.agent, { purpose: 'service_link', membershipRequestId: link.requestId });
  const offer = await must(counter.agent.call('POST', '/v1/family-requests', { attempt: randomUUID(), request: { action: 'offer', label: '母' } }));
  const { code } = await signed(counter.agent, { purpose: 'family_offer', familyRequestId: offer.requestId });
  await acceptAsFamily(familyCounter, await issueCertificate(ca), code);
  await counter.agent.stop();
  const kiosk = await enrolledAgent(cleanup, stack, base, aoba, `あおば町ロビー端末 ${w.language}`, { allowOrigins: [base] });
  return { stack, kiosk, mykeyId };
}

/** The family member's card logs in and accepts `code` as 「子」 at their counter. */
async function acceptAsFamily(counter: Awaited<ReturnType<typeof enrollDevice>>, card: Awaited<ReturnType<typeof issueCertificate>>, code: string): Promise<void> {
  await must(cardSession(counter, card));
  const request = await must(counter.post('/api/v1/family/requests', { action: 'accept', code, label: '子' }));
  const challenge = await must(counter.post('/api/v1/auth/challenges', { purpose: 'family_accept', familyRequestId: request.requestId }));
  await must(counter.post('/api/v1/auth/card-sessions', cardProof(challenge, card)));
}

/** The kiosk's browser: paired with its agent on the devices screen, then at the public わたしのページ, opened with the PIN. */
async function openPage(t: ExecutionContext, w: Words, kiosk: { agent: RunningAgent }): Promise<Page> {
  const { base, browser } = await fixture();
  const page = await signedInPage(t, browser, base, 'demo-city', '自治体コンソール');
  await page.goto(`${base}/municipality/devices`);
  await pair(page, kiosk.agent.base, kiosk.agent.token);
  await page.goto(`${base}/mine`);
  await page.getByRole('heading', { level: 1, name: JA.mine }).waitFor();
  await inLanguage(page, w.language, w.mine);
  await light(page, w.cardPresent, w.reader);
  await typePin(page, w, PIN);
  await page.getByRole('heading', { level: 2, name: w.kioskTown }).waitFor();
  return page;
}

/** Presses Tab until `button` has the focus, then Enter, as a keyboard user would. */
async function press(page: Page, button: Locator): Promise<void> {
  for (let i = 0; i < 80 && !(await button.evaluate((e) => e === document.activeElement)); i++) await page.keyboard.press('Tab');
  await page.keyboard.press('Enter');
}

/** The confirmation in words: read, checked by axe-core, then confirmed from the keyboard. The result is said and focused. */
async function confirmInDialog(t: ExecutionContext, page: Page, what: RegExp, confirm: string, result: RegExp): Promise<void> {
  const dialog = page.getByRole('dialog');
  await dialog.getByText(what).waitFor();
  await accessible(t, page, 'the confirmation');
  await press(page, dialog.getByRole('button', { name: confirm, exact: true }));
  const said = page.getByRole('status').filter({ hasText: result });
  await said.waitFor();
  t.is(await dialog.count(), 0, 'the confirmation is gone');
  await page.waitForFunction(() => document.activeElement?.closest('[role="status"]') !== null);
}

for (const w of [JA, EN]) {
  test.serial(`(${w.language}) the page shows what is linked to the card; the resident unlinks, withdraws and moves home with the keyboard alone`, async (t) => {
    const { db } = await fixture();
    const { kiosk, mykeyId } = await residentAtAobaKiosk(t, w);
    const page = await openPage(t, w, kiosk);

    const memberships = page.getByRole('region', { name: w.memberships, exact: true });
    await memberships.getByRole('row').filter({ hasText: `LIB-${w.language.toUpperCase()}` }).filter({ hasText: w.homeTown }).waitFor();
    const family = page.getByRole('region', { name: w.family, exact: true });
    await family.getByRole('row').filter({ hasText: '子' }).filter({ hasText: '母' }).waitFor();
    const home = page.getByRole('region', { name: w.home, exact: true });
    await home.getByText(w.homeTown, { exact: true }).waitFor();
    t.false((await page.innerText('main')).includes(mykeyId), 'no MyKey ID on the page');
    await accessible(t, page, 'the page with what is linked to the card');
    await page.screenshot({ path: screenshotPath(`resident-links-${w.language}.png`), fullPage: true });

    // Unlinking, after the words of what it means; the row's button names its service to a screen reader too.
    await press(page, memberships.getByRole('button', { name: new RegExp(`^${w.unlink}.*${w.library}$`) }));
    await confirmInDialog(t, page, w.unlinkWhat, w.unlink, w.unlinked);
    await memberships.getByText(w.noMemberships).waitFor();

    // Withdrawing the consent: ended for both.
    await press(page, family.getByRole('button', { name: new RegExp(`^${w.withdraw}.*子$`) }));
    await confirmInDialog(t, page, w.withdrawWhat, w.withdraw, w.withdrawn);
    await family.getByText(w.noFamily).waitFor();
    const { id: mykeyPk } = await db('mykeys').where({ mykey_id: mykeyId }).first('id');
    t.is(Number((await db('family_pairings').where({ offerer_mykey_pk: mykeyPk }).whereNull('ended_at').count({ n: '*' }))[0]!.n), 0, 'ended at the backend, for both');

    // Moving home: what it means is said before the PIN; the card signs again.
    await home.getByText(w.moveWhat).waitFor();
    await typePin(page, w, PIN);
    await page.getByRole('status').filter({ hasText: w.homeMoved }).waitFor();
    await home.getByText(w.homeIsHere).waitFor();
    await home.getByText(w.kioskTown, { exact: true }).waitFor();
    t.is((await db('mykeys').where({ mykey_id: mykeyId }).first('home_municipality_code')).home_municipality_code, '139971');
    await page.getByRole('heading', { level: 2, name: w.kioskTown }).waitFor();
    await accessible(t, page, 'the page after the changes');
    t.deepEqual(pinLeaks(await page.evaluate(() => JSON.stringify({ ...localStorage, ...sessionStorage, cookie: document.cookie })), PIN), [], 'no PIN in the page\'s storage');
  });
}
