// The console's 家族の同意 and the family on 避難所受付 in Chromium, through the real reader agent,
// pcscd and simulated cards, against the real backend. Two residents need two cards: each has a
// PC of their own (a private PC/SC stack with its card, and an agent enrolled as a device of the
// town), each PC the desk of a shelter. Mother offers under 「母・花子」 and is shown the code; the
// son types a wrong code (refused before any PIN), then hers, sees her label and what his card
// signs, and consents: given both ways. He checks in at his shelter and learns she is in none;
// her whereabouts tap at her desk shows 「太郎」 at his shelter. She withdraws: neither sees the
// other, and he has nothing left to withdraw. Her new offer, never accepted, shows nothing. And the
// agent's route that opens a family request for the console, on its own. The walk is taken with the
// consoles in Japanese, then in English: the screens' own words follow the console, what the
// resident reads (what the card signs, the answers, the family's shelters) is in both.
import test from 'ava';
import type { ExecutionContext } from 'ava';
import type { Locator, Page } from 'playwright-core';
import { problemKinds } from '@mykey/contracts/problem-kinds.ts';
import { inLanguage, launchBrowser, screenshotPath, signedInPage } from '@mykey/backend/test/helpers/browser.ts';
import { fileFixture } from '@mykey/backend/test/helpers/env.ts';
import { signInStaff, type Staff } from '@mykey/backend/test/helpers/identity.ts';
import { AgentError } from '../src/agent/errors.ts';
import { agentEnrolledAs, backendWithCard, enrolledAgent, stackWithCardFrom } from './helpers/counter.ts';
import { light, pair } from './helpers/console.ts';
import { pinLeaks } from './helpers/pin-leaks.ts';

// Digits unlikely to turn up in a log by chance, so finding them there means a leak.
const MOTHER_PIN = '6183';
const SON_PIN = '7294';
// Shown in both languages, whichever the console's.
const NONE_LINKED = '避難先を確認し合うご家族の同意はありません。';

/** The screens' own words in one language. */
interface Words {
  language: 'ja' | 'en'; console: string; family: string; desk: string; reader: string; cardPresent: string; deskOwn: string; pin: string; label: string;
  offer: string; accept: string; code: string; codeInvalid: string; review: string; readCard: RegExp; withdraw: string; withdrawAll: string; withdrawWarning: RegExp;
  until: RegExp;
}

const JA: Words = {
  language: 'ja', console: '自治体コンソール', family: '家族の同意', desk: '避難所受付', reader: 'カードリーダー', cardPresent: '接続済み・カードあり', deskOwn: 'の受付です。',
  pin: '暗証番号（利用者証明用・数字4桁）', label: 'ご家族に表示されるあなたの呼び名', offer: '申し出る（確認コードを受け取る）', accept: '承諾する（確認コードを入力する）',
  code: '確認コード', codeInvalid: '確認コードは英字と数字の8文字です（数字の0・1と、英字のI・L・Oは使われていません）。', review: '内容を確認する', readCard: /カードを読み取る/,
  withdraw: '同意を取り消す', withdrawAll: 'すべての同意を取り消す', withdrawWarning: /あなたも相手の方も、お互いの避難先を見られなくなります/,
  until: /\d{4}\/\d\d\/\d\d \d{1,2}:\d\d:\d\d まで有効（10分間）\s*Valid until \d{1,2} [A-Z][a-z]{2} \d{4}, \d\d:\d\d:\d\d \(10 minutes\)/,
};

const EN: Words = {
  language: 'en', console: 'Municipality console', family: 'Family consent', desk: 'Shelter desk', reader: 'Card reader', cardPresent: 'Connected – card present',
  deskOwn: 'This PC is the desk of ', pin: 'PIN (user authentication, 4 digits)', label: 'Your name as your family will see it', offer: 'Offer (get a code)',
  accept: 'Accept (type a code)', code: 'Code', codeInvalid: 'The code is 8 letters and digits (it never has 0, 1, I, L or O).', review: 'Review', readCard: /Read the card/,
  withdraw: 'Withdraw consent', withdrawAll: 'Withdraw every consent', withdrawWarning: /neither you nor they will see each other's shelter any more/,
  // The time written each language's way, whichever the console's.
  until: JA.until,
};

/** A shelter open with `deviceId` as its desk. */
async function shelterAt(city: Staff, deviceId: number, names: { nameJa: string; nameEn: string; place: string }): Promise<void> {
  const opened = await city.post('/api/v1/shelters', { ...names, capacity: 40, drill: true });
  if (opened.status !== 201) throw new Error(JSON.stringify(opened.body));
  const assigned = await city.put(`/api/v1/shelters/${opened.body.id}/devices`, { deviceIds: [deviceId] });
  if (assigned.status !== 200) throw new Error(JSON.stringify(assigned.body));
}

const fixture = fileFixture(test, async (cleanup) => {
  const { base, ca, stack } = await backendWithCard(cleanup, MOTHER_PIN);
  const city = await signInStaff(base, 'demo-city');
  const motherPc = await enrolledAgent(cleanup, stack, base, city, '公民館受付', { allowOrigins: [base] });
  const sonPc = await enrolledAgent(cleanup, await stackWithCardFrom(cleanup, ca, SON_PIN), base, city, '体育館受付', { allowOrigins: [base] });
  // Each card's first login gives it its MyKey ID.
  for (const [pc, pin] of [[motherPc, MOTHER_PIN], [sonPc, SON_PIN]] as const) {
    const login = await pc.agent.call('POST', '/v1/card-sessions', { pin, purpose: 'login' });
    if (login.status !== 200) throw new Error(`login: ${JSON.stringify(login.body)}`);
  }
  await shelterAt(city, motherPc.deviceId, { nameJa: '中央公民館', nameEn: 'Central Community Hall', place: 'みらい市本町4-5-6' });
  await shelterAt(city, sonPc.deviceId, { nameJa: 'みらい小学校体育館', nameEn: 'Mirai Elementary School Gym', place: 'みらい市中央1-2-3' });
  return { base, stack, motherPc, sonPc, browser: await launchBrowser(cleanup) };
});

/** Presses Tab until `target` has the focus, as a keyboard user would. */
async function tabTo(page: Page, target: Locator, most = 40): Promise<void> {
  for (let i = 0; i < most; i++) {
    if (await target.evaluate((element) => element === document.activeElement)) return;
    await page.keyboard.press('Tab');
  }
  throw new Error('Tab never reached the element');
}

/** Whether `target` gets the focus (the screen moves it once the page has caught up with a step). */
async function focused(target: Locator): Promise<boolean> {
  const element = await target.elementHandle();
  return target.page().waitForFunction((e) => e === document.activeElement, element, { timeout: 30_000 }).then(() => true, () => false);
}

/** Tabs to `field` and types `text` into it. */
async function typeInto(page: Page, field: Locator, text: string): Promise<void> {
  await tabTo(page, field);
  await page.keyboard.type(text);
}

/** A PC's console, signed in and paired with its agent, in `w`'s language. */
async function pcPage(t: ExecutionContext, w: Words, agent: { base: string; token: string }): Promise<Page> {
  const { base, browser } = await fixture();
  const page = await signedInPage(t, browser, base, 'demo-city', JA.console);
  await page.goto(`${base}/municipality/devices`);
  await pair(page, agent.base, agent.token);
  await inLanguage(page, w.language, w.console);
  return page;
}

/** Follows the menu's link to `name` with the keyboard, the status light showing the card. */
async function menuTo(page: Page, w: Words, name: string, path: string): Promise<void> {
  const { base } = await fixture();
  await page.getByRole('link', { name, exact: true }).focus();
  await page.keyboard.press('Enter');
  await page.waitForURL(`${base}${path}`);
  await light(page, w.cardPresent, w.reader);
}

/** On 避難所受付, a whereabouts tap: the family list's region once it is shown. */
async function whereabouts(t: ExecutionContext, w: Words, page: Page): Promise<Locator> {
  await menuTo(page, w, w.desk, '/municipality/shelters/desk');
  await page.getByRole('status').filter({ hasText: w.deskOwn }).waitFor();
  const button = page.getByRole('button', { name: /家族の居場所を見る/ });
  await tabTo(page, button);
  await page.keyboard.press('Enter');
  const family = page.getByRole('region', { name: /ご家族の避難先/ });
  await family.waitFor();
  t.true(await button.evaluate((element) => element === document.activeElement), 'the button keeps the focus for the next resident');
  return family;
}

for (const w of [JA, EN]) {
  test.serial(`(${w.language}) a mother offers, her son accepts, each sees the other at a shelter; she withdraws for both; an offer never accepted shows nothing`, async (t) => {
    const { motherPc, sonPc } = await fixture();
    const mother = await pcPage(t, w, motherPc.agent);
    const son = await pcPage(t, w, sonPc.agent);

    // The offer: her label, what her card signs, her PIN; the code large.
    await menuTo(mother, w, w.family, '/municipality/family');
    const offer = mother.getByRole('region', { name: w.offer });
    await typeInto(mother, offer.getByLabel(w.label), '母・花子');
    await mother.keyboard.press('Enter');
    const consent = mother.getByRole('region', { name: /ご家族への申し出/ });
    const pin = consent.getByLabel(w.pin);
    t.true(await focused(pin), 'the PIN field has the focus once the request is open');
    const signed = await consent.getByRole('heading', { name: /カードが署名する文面/ }).waitFor().then(() => consent.locator('pre').innerText());
    t.regex(signed, /^family-request: fr_[A-Za-z0-9_-]{22}\nfamily-offer: the holder of the card that accepts code [A-Z2-9]{8} may learn which shelter I check into, and I theirs\nfamily-my-label: 母・花子$/);
    await mother.keyboard.type(MOTHER_PIN);
    await mother.keyboard.press('Enter');
    const offered = mother.getByRole('region', { name: /この確認コードをご家族にお伝えください/ });
    t.true(await focused(offered.getByRole('heading')), 'the focus moves to what was done');
    const code = (await offered.locator('.code').innerText()).trim();
    t.regex(code, /^[ABCDEFGHJKMNPQRSTUVWXYZ2-9]{8}$/);
    t.true(signed.includes(`accepts code ${code} `), 'the card signed the code she was then shown');
    await offered.getByText(/まで有効（10分間）/).waitFor();
    await offered.locator('.until').filter({ hasText: w.until }).waitFor();
    await offered.getByText(`ご家族に確認コード ${code} をお伝えください。`).waitFor();
    await mother.screenshot({ path: screenshotPath(`family-offered-${w.language}.png`), fullPage: true });

    // The acceptance: a code that cannot be one is marked on the screen; a wrong one is refused before any PIN, in both languages.
    await menuTo(son, w, w.family, '/municipality/family');
    const accept = son.getByRole('region', { name: w.accept });
    const codeField = accept.getByLabel(w.code, { exact: true });
    await typeInto(son, codeField, 'O0I1L');
    await typeInto(son, accept.getByLabel(w.label), '太郎');
    await son.keyboard.press('Enter');
    await accept.getByText(w.codeInvalid).waitFor();
    t.is(await codeField.getAttribute('aria-invalid'), 'true');
    const wrong = code === 'ABCDEFGH' ? 'HGFEDCBA' : 'ABCDEFGH';
    await codeField.fill('');
    await typeInto(son, codeField, wrong);
    await son.keyboard.press('Enter');
    await accept.getByText(problemKinds.family_code_unknown.messages.ja).waitFor();
    await accept.getByText(problemKinds.family_code_unknown.messages.en).waitFor();
    t.is(await son.getByRole('region', { name: /ご家族の申し出の承諾/ }).count(), 0, 'no PIN asked for an unknown code');

    // Her code as read out: lower case with a space.
    await codeField.fill('');
    await typeInto(son, codeField, `${code.slice(0, 4).toLowerCase()} ${code.slice(4).toLowerCase()}`);
    await tabTo(son, accept.getByRole('button', { name: w.review }));
    await son.keyboard.press('Enter');
    const accepting = son.getByRole('region', { name: /ご家族の申し出の承諾/ });
    t.true(await focused(accepting.getByLabel(w.pin)));
    await accepting.getByRole('definition').filter({ hasText: '母・花子' }).waitFor();
    t.regex(await accepting.locator('pre').innerText(),
      new RegExp(`^family-request: fr_[A-Za-z0-9_-]{22}\nfamily-accept: 母・花子 \\(code ${code}\\) may learn which shelter I check into, and I theirs\nfamily-my-label: 太郎$`));
    await son.keyboard.type(SON_PIN);
    await son.keyboard.press('Enter');
    const accepted = son.getByRole('region', { name: /お互いの同意が成立しました/ });
    await accepted.getByText('母・花子さんとの同意が成立しました。', { exact: false }).waitFor();
    await accepted.getByText('同意したご家族（1 人）のうち、いま避難所にいる方はいません。').waitFor();

    // He checks in at his shelter: she is in none.
    await menuTo(son, w, w.desk, '/municipality/shelters/desk');
    const readCard = son.getByRole('button', { name: w.readCard });
    await tabTo(son, readCard);
    await son.keyboard.press('Enter');
    const deskResult = son.locator('.result');
    await deskResult.getByText('入所しました').waitFor();
    await deskResult.getByRole('region', { name: /ご家族の避難先/ }).getByText('同意したご家族（1 人）のうち、いま避難所にいる方はいません。').waitFor();

    // Her whereabouts tap at her own desk: her son, at his shelter.
    const seen = await whereabouts(t, w, mother);
    const row = seen.getByRole('row', { name: /太郎/ });
    await row.getByText('みらい小学校体育館').waitFor();
    await row.getByText('Mirai Elementary School Gym').waitFor();
    await row.getByText('みらい市中央1-2-3').waitFor();
    t.is(await seen.getByRole('row').count(), 2, 'the header and her son, nobody else');
    await mother.screenshot({ path: screenshotPath(`family-whereabouts-${w.language}.png`), fullPage: true });

    // She withdraws, warned that it ends every pairing for both.
    await menuTo(mother, w, w.family, '/municipality/family');
    const withdraw = mother.getByRole('region', { name: w.withdraw });
    const withdrawButton = withdraw.getByRole('button', { name: w.withdrawAll });
    t.regex(await withdrawButton.getAttribute('aria-describedby') ?? '', /family-withdraw-warning/);
    await withdraw.getByText(w.withdrawWarning).waitFor();
    await typeInto(mother, withdraw.getByLabel(w.pin), MOTHER_PIN);
    await mother.keyboard.press('Enter');
    await mother.getByRole('region', { name: /同意を取り消しました/ }).waitFor();

    // Neither sees the other now.
    await (await whereabouts(t, w, mother)).getByText(NONE_LINKED).waitFor();
    await (await whereabouts(t, w, son)).getByText(NONE_LINKED).waitFor();

    // And he has nothing left to withdraw.
    await menuTo(son, w, w.family, '/municipality/family');
    const sonWithdraw = son.getByRole('region', { name: w.withdraw });
    await typeInto(son, sonWithdraw.getByLabel(w.pin), SON_PIN);
    await son.keyboard.press('Enter');
    await sonWithdraw.getByText(problemKinds.family_nothing_to_withdraw.messages.ja).waitFor();
    await sonWithdraw.getByText(problemKinds.family_nothing_to_withdraw.messages.en).waitFor();

    // A new offer of hers, never accepted: her son is inside a shelter, and she still sees nothing.
    await menuTo(mother, w, w.family, '/municipality/family');
    await typeInto(mother, mother.getByRole('region', { name: w.offer }).getByLabel(w.label), '母・花子');
    await mother.keyboard.press('Enter');
    t.true(await focused(mother.getByRole('region', { name: /ご家族への申し出/ }).getByLabel(w.pin)));
    await mother.keyboard.type(MOTHER_PIN);
    await mother.keyboard.press('Enter');
    await mother.getByRole('region', { name: /この確認コードをご家族にお伝えください/ }).waitFor();
    await (await whereabouts(t, w, mother)).getByText(NONE_LINKED).waitFor();
    await (await whereabouts(t, w, son)).getByText(NONE_LINKED).waitFor();

    // The PINs went to the agents only.
    for (const page of [mother, son]) {
      t.deepEqual(pinLeaks(await page.evaluate(() => JSON.stringify({ ...localStorage, ...sessionStorage })), MOTHER_PIN, SON_PIN), [], "a PIN in the browser's storage");
    }

    // He leaves his shelter, so the walk can be taken again (in the other language) from where it began.
    t.like(await sonPc.agent.call('POST', '/v1/card-taps', { purpose: 'shelter_check_out' }), { status: 200, body: { result: 'checked_out' } });
  });
}

test.serial("the agent's family request: the device's, under the console's key, reading no card; its shape checked, and refused when not enrolled", async (t) => {
  const { stack, motherPc } = await fixture();
  const open = (body: unknown) => motherPc.agent.call('POST', '/v1/family-requests', body);
  const apdus = stack.apduLog().length;
  const first = await open({ attempt: 'attempt-0001', request: { action: 'offer', label: '母・花子' } });
  t.is(first.status, 200);
  t.like(first.body, { action: 'offer', label: '母・花子', offererLabel: null });
  t.regex(first.body.requestId, /^fr_[A-Za-z0-9_-]{22}$/);
  t.deepEqual((await open({ attempt: 'attempt-0001', request: { action: 'offer', label: '母・花子' } })).body, first.body, 'the same attempt, the same request');
  t.not((await open({ attempt: 'attempt-0002', request: { action: 'offer', label: '母・花子' } })).body.requestId, first.body.requestId, 'another attempt, another request');
  t.is(stack.apduLog().length, apdus, 'no card was read');

  // The agent checks the shape; the backend the rest, its refusal passed on with its words.
  for (const body of [
    { request: { action: 'offer', label: '母' } },
    { attempt: 'attempt-0003', request: { action: 'offer', label: '母', pin: '1234' } },
    { attempt: 'attempt-0003', request: { action: 'withdraw' } },
    { attempt: 'x', request: { action: 'offer', label: '母' } },
  ]) t.like(await open(body), { status: 400, body: { code: 'request_invalid' } }, JSON.stringify(body));
  const unknown = await open({ attempt: 'attempt-0004', request: { action: 'accept', code: 'ABCDEFGH', label: '太郎' } });
  t.like(unknown, { status: 502, body: { code: 'family_code_unknown', messages: problemKinds.family_code_unknown.messages } });

  const stranger = await agentEnrolledAs((fn) => t.teardown(fn), stack, null);
  t.like(await stranger.call('POST', '/v1/family-requests', { attempt: 'attempt-0005', request: { action: 'offer', label: '母' } }),
    { status: 409, body: { code: 'not_enrolled', messages: new AgentError('not_enrolled').messages } });
});
