// The municipality console's 施設・サービス and 利用者カード screens in Chromium, through the real
// reader agent, pcscd and the simulated card, against the real backend: a clerk registers a
// library and its counter with the keyboard alone; the resident links library card L0012345 with
// the card and PIN; a second tap shows the number large and copies it; under the tap policy a
// PIN-less tap at the gate logs a use; another service's gate, and another town's clerk, see
// nothing of it; each counter knows from its agent which service it serves, and a gate serving
// none is told so; the resident unlinks with the card, the clerk with a reason. On 施設・サービス,
// the service's webhook URL and its API key, the secret shown once.
import test from 'ava';
import type { ExecutionContext } from 'ava';
import type { Locator, Page } from 'playwright-core';
import { problemKinds } from '@mykey/contracts/problem-kinds.ts';
import { launchBrowser, screenshotPath, signedInPage } from '@mykey/backend/test/helpers/browser.ts';
import { fileFixture } from '@mykey/backend/test/helpers/env.ts';
import { signInStaff } from '@mykey/backend/test/helpers/identity.ts';
import { backendWithCard, enrolledAgent } from './helpers/counter.ts';
import { light, pair } from './helpers/console.ts';
import { pinLeaks } from './helpers/pin-leaks.ts';

// Digits unlikely to turn up in a log by chance, so finding them there means a leak.
const PIN = '5274';
const PIN_LABEL = '暗証番号（利用者証明用・数字4桁）';
const NUMBER = 'L0012345';

const fixture = fileFixture(test, async (cleanup) => {
  const { db, base, stack } = await backendWithCard(cleanup, PIN);
  const city = await signInStaff(base, 'demo-city');
  // Two PCs of the library on one reader: the lending counter and the entrance gate.
  const counter = await enrolledAgent(cleanup, stack, base, city, '図書館カウンター', { allowOrigins: [base] });
  const gate = await enrolledAgent(cleanup, stack, base, city, '入館ゲート', { allowOrigins: [base] });
  // The card's first login gives it its MyKey ID.
  const login = await counter.agent.call('POST', '/v1/card-sessions', { pin: PIN, purpose: 'login' });
  if (login.status !== 200) throw new Error(`login: ${JSON.stringify(login.body)}`);
  return { db, base, city, counter, gate, mykeyId: login.body.mykeyId as string, browser: await launchBrowser(cleanup) };
});

async function cityPage(t: ExecutionContext): Promise<Page> {
  const { base, browser } = await fixture();
  return signedInPage(t, browser, base, 'demo-city', '自治体コンソール');
}

/** Presses Tab (or Shift+Tab) until `target` has the focus, as a keyboard user would. */
async function tabTo(page: Page, target: Locator, key: 'Tab' | 'Shift+Tab' = 'Tab', most = 40): Promise<void> {
  for (let i = 0; i < most; i++) {
    if (await target.evaluate((element) => element === document.activeElement)) return;
    await page.keyboard.press(key);
  }
  throw new Error('Tab never reached the element');
}

/** Whether `target` gets the focus (the screen moves it once the page has caught up with a step). */
async function focused(target: Locator): Promise<boolean> {
  const element = await target.elementHandle();
  return target.page().waitForFunction((e) => e === document.activeElement, element, { timeout: 30_000 }).then(() => true, () => false);
}

/** The counter PC's console, paired with `agent`, on 利用者カード: it knows by itself that the device serves `service`. */
async function atCounter(page: Page, base: string, agent: { base: string; token: string }, service: string): Promise<void> {
  await page.goto(`${base}/municipality/devices`);
  await pair(page, agent.base, agent.token);
  await page.getByRole('link', { name: '利用者カード' }).click();
  await page.waitForURL(`${base}/municipality/member-cards`);
  await light(page, '接続済み・カードあり');
  await ownCounter(page, service);
}

/** The screen says which service this device serves, and leaves the clerk nothing to choose. */
async function ownCounter(page: Page, service: string): Promise<void> {
  await page.getByRole('status').filter({ hasText: `この端末は『${service}』の窓口です。` }).waitFor();
  if (await page.getByLabel('この窓口の施設').count() !== 0) throw new Error('the clerk is asked to choose a service the device already serves');
}

/** The clerk types the member number, the resident sees what the card will sign, then enters the PIN. */
async function linkByCard(page: Page, typed: string): Promise<Locator> {
  const link = page.getByRole('region', { name: '利用者カードをつなぐ' });
  await link.getByLabel('利用者番号').fill(typed);
  await link.getByRole('button', { name: '内容を確認' }).click();
  const consent = page.getByRole('region', { name: /この内容でつなぎます/ });
  await consent.waitFor();
  return consent;
}

async function usesAt(db: import('@mykey/backend/db.ts').Db, deviceId: number): Promise<number> {
  return Number((await db('service_uses').where({ device_id: deviceId }).count({ n: '*' }).first())!.n);
}

test.serial('a clerk registers a library and its counter (keyboard alone); the card links L0012345, a second tap shows it large and copies it, a PIN-less tap at the gate logs a use, another service\'s gate sees nothing, and the resident and the clerk unlink', async (t) => {
  const { db, base, counter, gate, mykeyId } = await fixture();
  const page = await cityPage(t);
  await page.context().grantPermissions(['clipboard-read', 'clipboard-write'], { origin: base });

  // 施設・サービス with the keyboard alone: the menu, the form's fields, its choices and its button.
  await page.getByRole('link', { name: '施設・サービス' }).focus();
  await page.keyboard.press('Enter');
  await page.waitForURL(`${base}/municipality/services`);
  await page.getByText('登録済みの施設はありません。').waitFor();
  const form = page.getByRole('region', { name: '新しい施設を登録する' });
  const submit = form.getByRole('button', { name: '登録する' });
  await tabTo(page, submit);
  await page.keyboard.press('Enter');
  await form.getByText('名前を日本語と英語の両方で入力してください。').waitFor();
  t.is(await form.getByLabel('名前（日本語）').getAttribute('aria-invalid'), 'true');
  const kind = form.getByLabel('種類');
  await tabTo(page, kind, 'Shift+Tab');
  t.is(await kind.evaluate((select: HTMLSelectElement) => select.selectedOptions[0]!.text), '図書館');
  await page.keyboard.press('Tab');
  await page.keyboard.type('みらい市立図書館');
  await page.keyboard.press('Tab');
  await page.keyboard.type('Mirai City Library');
  await page.keyboard.press('Tab');
  const pinPolicy = form.getByRole('radio', { name: '毎回、暗証番号を入力する（標準）' });
  t.true(await focused(pinPolicy), 'the tap policy is the next stop, PIN chosen');
  t.true(await pinPolicy.isChecked());
  t.true(await form.getByRole('group', { name: 'カードの使い方' }).getByText('利用者カードをつなぐ・外すときは、いつも本人がカードと暗証番号で確認します', { exact: false }).isVisible());
  await tabTo(page, form.getByRole('checkbox', { name: '図書館カウンター' }));
  await page.keyboard.press('Space');
  await tabTo(page, submit);
  await page.keyboard.press('Enter');
  const saved = page.getByText('「みらい市立図書館」を登録しました。');
  await saved.waitFor();
  t.true(await focused(saved), 'focus goes to what was done');
  const library = page.getByRole('row').filter({ has: page.getByRole('rowheader', { name: 'みらい市立図書館' }) });
  await library.getByRole('cell', { name: '図書館カウンター' }).waitFor();
  t.true(await library.getByRole('cell', { name: '毎回暗証番号' }).isVisible());

  // The counter: before the link the card has no membership here, and the way to link is said.
  await atCounter(page, base, counter.agent, 'みらい市立図書館');
  const lookup = page.getByRole('region', { name: '利用者番号の照会' });
  await lookup.getByLabel(PIN_LABEL).fill(PIN);
  await lookup.getByRole('button', { name: '照会', exact: true }).click();
  await lookup.getByText('このカードは、この施設の利用者カードとまだつながっていません。', { exact: false }).waitFor();
  await lookup.getByText('下の「利用者カードをつなぐ」', { exact: false }).waitFor();

  // Link: typed in lower case; the resident is shown the service and the number the card signs.
  const consent = await linkByCard(page, 'l0012345');
  await consent.getByText(NUMBER, { exact: true }).waitFor();
  t.true(await consent.getByText('みらい市立図書館').isVisible());
  t.true(await consent.getByText('Mirai City Library').isVisible());
  const consentPin = consent.getByLabel(PIN_LABEL);
  t.true(await focused(consentPin), 'the PIN field waits for the resident');
  await page.keyboard.type(PIN);
  await page.keyboard.press('Enter');
  const linked = page.getByText(`みらい市立図書館 の利用者番号 ${NUMBER} をつなぎました。`);
  await linked.waitFor();
  t.true(await focused(linked));
  t.is(await consentPin.count(), 0);

  // The same number again: taken, said before the card is asked.
  const link = page.getByRole('region', { name: '利用者カードをつなぐ' });
  await link.getByLabel('利用者番号').fill(NUMBER);
  await link.getByRole('button', { name: '内容を確認' }).click();
  await link.getByText(problemKinds.membership_number_taken.messages.ja).waitFor();
  // Another number for this card: the card signs, the backend refuses, in both languages.
  const other = await linkByCard(page, 'L0099999');
  await other.getByLabel(PIN_LABEL).fill(PIN);
  await other.getByRole('button', { name: 'つなぐ', exact: true }).click();
  await page.getByText(problemKinds.membership_exists.messages.ja).waitFor();
  t.is(Number((await db('memberships').count({ n: '*' }).first())!.n), 1, 'nothing stored');

  // A second tap: the number large, with a copy button the keyboard reaches.
  await lookup.getByLabel(PIN_LABEL).fill(PIN);
  await lookup.getByRole('button', { name: '照会', exact: true }).click();
  const shown = lookup.getByText(NUMBER, { exact: true });
  await shown.waitFor();
  t.true(await lookup.getByRole('heading', { name: 'みらい市立図書館' }).isVisible());
  t.true(await shown.evaluate((element) => parseFloat(getComputedStyle(element).fontSize)) >= 40, 'read across the counter');
  await page.keyboard.press('Tab');
  const copy = lookup.getByRole('button', { name: new RegExp(`^コピー\\s*: ${NUMBER}$`) });
  t.true(await focused(copy), 'after the answer, Tab reaches the copy button');
  await page.keyboard.press('Enter');
  await lookup.getByRole('status').filter({ hasText: 'コピーしました。' }).waitFor();
  t.is(await page.evaluate(() => navigator.clipboard.readText()), NUMBER);
  t.false((await page.content()).includes(mykeyId), 'the counter never sees the MyKey ID');
  t.is(await usesAt(db, counter.deviceId), 1, 'the tap that found the member logged a use');
  await page.screenshot({ path: screenshotPath('member-card-number.png'), fullPage: true });

  // Look-ups by tap, and the gate serving the library too.
  await page.getByRole('link', { name: '施設・サービス' }).click();
  await library.getByRole('button', { name: /^編集\s*: みらい市立図書館$/ }).click();
  const edit = page.getByRole('region', { name: '「みらい市立図書館」を編集' });
  t.true(await focused(edit.getByLabel('種類')));
  await edit.getByRole('radio', { name: /暗証番号なしのタッチでよい/ }).check();
  await edit.getByRole('checkbox', { name: '入館ゲート' }).check();
  await edit.getByRole('button', { name: '保存する' }).click();
  await page.getByText('「みらい市立図書館」を保存しました。').waitFor();
  await library.getByRole('cell', { name: '照会はタッチだけ' }).waitFor();
  await library.getByRole('cell', { name: '図書館カウンター、入館ゲート' }).waitFor();

  await atCounter(page, base, gate.agent, 'みらい市立図書館');
  t.is(await lookup.getByLabel(PIN_LABEL).count(), 0, 'no PIN where a tap is enough');
  await lookup.getByRole('button', { name: 'カードで照会' }).click();
  await lookup.getByText(NUMBER, { exact: true }).waitFor();
  t.is(await usesAt(db, gate.deviceId), 1, 'the PIN-less tap at the gate logged a use');

  // The gate moves to the sports centre: there the card is a member of nothing.
  await page.getByRole('link', { name: '施設・サービス' }).click();
  await page.getByLabel('名前（日本語）').fill('みらい市総合体育館');
  await page.getByLabel('名前（英語）').fill('Mirai City Gymnasium');
  await page.getByLabel('種類').selectOption({ label: '体育館・スポーツ施設' });
  await page.getByRole('radio', { name: /暗証番号なしのタッチでよい/ }).check();
  // The gate's box says where it serves now, read out with its name.
  await page.getByRole('checkbox', { name: '入館ゲート （現在は「みらい市立図書館」の端末です。選ぶとこの施設に移ります）' }).check();
  await page.getByRole('button', { name: '登録する' }).click();
  await page.getByText('「みらい市総合体育館」を登録しました。').waitFor();
  await page.screenshot({ path: screenshotPath('services.png'), fullPage: true });
  await page.getByRole('link', { name: '利用者カード' }).click();
  await ownCounter(page, 'みらい市総合体育館');
  await lookup.getByRole('button', { name: 'カードで照会' }).click();
  await lookup.getByRole('heading', { name: 'みらい市総合体育館' }).waitFor();
  await lookup.getByText('このカードは、この施設の利用者カードとまだつながっていません。', { exact: false }).waitFor();
  t.is(await page.getByText(NUMBER, { exact: true }).count(), 0, "the gym's gate sees nothing of the library");
  t.is(await usesAt(db, gate.deviceId), 1);

  // Taken off every service, the gate is told so, in both languages.
  await page.getByRole('link', { name: '施設・サービス' }).click();
  const gym = page.getByRole('row').filter({ has: page.getByRole('rowheader', { name: 'みらい市総合体育館' }) });
  await gym.getByRole('button', { name: /^編集\s*: みらい市総合体育館$/ }).click();
  await page.getByRole('checkbox', { name: '入館ゲート' }).uncheck();
  await page.getByRole('button', { name: '保存する' }).click();
  await page.getByText('「みらい市総合体育館」を保存しました。').waitFor();
  await gym.getByRole('cell', { name: 'なし', exact: true }).waitFor();
  // Now the clerk chooses, told how to assign the device instead.
  await page.getByRole('link', { name: '利用者カード' }).click();
  await page.getByText('この端末（カードリーダー）はどの施設の端末にもなっていません。', { exact: false }).waitFor();
  await page.getByLabel('この窓口の施設').selectOption({ label: 'みらい市総合体育館' });
  await lookup.getByRole('button', { name: 'カードで照会' }).click();
  await lookup.getByText(problemKinds.device_not_for_service.messages.ja).waitFor();
  t.true(await lookup.getByText(problemKinds.device_not_for_service.messages.en).isVisible());
  t.is(await usesAt(db, gate.deviceId), 1);

  // The resident unlinks at the counter with the card and PIN, after seeing what is unlinked.
  await atCounter(page, base, counter.agent, 'みらい市立図書館');
  const unlink = page.getByRole('region', { name: '利用者カードを外す' });
  await unlink.getByLabel('利用者番号').fill(NUMBER);
  await unlink.getByRole('button', { name: '照会', exact: true }).click();
  await unlink.getByText(/^[2-9A-Z]{4}-[2-9A-Z]{4}-[2-9A-Z]{4}$/).waitFor();
  await unlink.getByRole('button', { name: 'ご本人のカードで外す' }).click();
  const leaving = page.getByRole('region', { name: /この内容で外します/ });
  await leaving.getByText(NUMBER, { exact: true }).waitFor();
  await leaving.getByLabel(PIN_LABEL).fill(PIN);
  await leaving.getByRole('button', { name: '外す', exact: true }).click();
  await page.getByText(`みらい市立図書館 の利用者番号 ${NUMBER} を外しました。`).waitFor();
  await lookup.getByRole('button', { name: 'カードで照会' }).click();
  await lookup.getByText('このカードは、この施設の利用者カードとまだつながっていません。', { exact: false }).waitFor();

  // Linked again, then unlinked by the clerk, who must give a reason.
  const again = await linkByCard(page, NUMBER);
  await again.getByLabel(PIN_LABEL).fill(PIN);
  await again.getByRole('button', { name: 'つなぐ', exact: true }).click();
  await page.getByText(`みらい市立図書館 の利用者番号 ${NUMBER} をつなぎました。`).waitFor();
  await unlink.getByLabel('利用者番号').fill(NUMBER);
  await unlink.getByRole('button', { name: '照会', exact: true }).click();
  await unlink.getByRole('button', { name: '職員が外す（理由を記録）' }).click();
  const dialog = page.getByRole('dialog', { name: `利用者番号 ${NUMBER} を外しますか？` });
  await dialog.getByRole('button', { name: '外す', exact: true }).click();
  await dialog.getByText('理由を入力してください', { exact: false }).waitFor();
  await dialog.getByLabel('理由').fill('利用者カードの紛失届（窓口で本人確認）');
  await dialog.getByRole('button', { name: '外す', exact: true }).click();
  await page.getByText(`みらい市立図書館 の利用者番号 ${NUMBER} を職員が外しました。`).waitFor();
  t.is(Number((await db('memberships').count({ n: '*' }).first())!.n), 0);
  await page.screenshot({ path: screenshotPath('member-cards.png'), fullPage: true });
  await page.getByRole('button', { name: 'English' }).click();
  await page.getByRole('heading', { level: 2, name: 'Member cards' }).waitFor();
  t.true(await page.getByRole('region', { name: 'Link a member card', exact: true }).getByLabel('Member number').isVisible());
  t.true(await page.getByText(`Member number ${NUMBER} of Mirai City Library was unlinked by staff.`).isVisible());

  // The PIN went from the fields to the agents and the card only.
  t.deepEqual(pinLeaks(await page.evaluate(() => JSON.stringify({ ...localStorage })), PIN), [], "a PIN in the browser's storage");
  t.deepEqual(pinLeaks(counter.agent.output() + gate.agent.output(), PIN), [], "a PIN in an agent's log");
});

test.serial("another town's clerk sees none of this town's services, nor their members", async (t) => {
  const { base, browser, city } = await fixture();
  // A service of its own, so this test stands without the one before.
  const museum = await city.post('/api/v1/services', { kind: 'museum', nameJa: 'みらい市郷土資料館', nameEn: 'Mirai City Local Museum' });
  t.is(museum.status, 201, JSON.stringify(museum.body));
  const page = await signedInPage(t, browser, base, 'demo-aoba-city', '自治体コンソール');
  await page.getByRole('link', { name: '施設・サービス' }).click();
  await page.getByText('登録済みの施設はありません。').waitFor();
  await page.getByRole('link', { name: '利用者カード' }).click();
  await page.getByText('施設がまだ登録されていません。', { exact: false }).waitFor();
  t.is(await page.getByText('みらい市').count(), 0);
  // Asked by hand: this town's museum answers as one that never was.
  const asked = await page.evaluate(async (id) => (await fetch(`/api/v1/services/${id}/memberships?memberNumber=${'L0012345'}`)).json(), museum.body.id as number);
  t.is(asked.code, 'service_not_found');
});

test.serial("the service's own system: a webhook URL refused, set and removed; an API key shown once, re-issued only after asking", async (t) => {
  const { base, city } = await fixture();
  const made = await city.post('/api/v1/services', { kind: 'lecture_course', nameJa: 'みらい市民講座', nameEn: 'Mirai Citizen Courses' });
  t.is(made.status, 201, JSON.stringify(made.body));
  const stored = async () => ((await city.get('/api/v1/services')).body.services as { id: number; webhookUrl: string | null }[]).find((s) => s.id === made.body.id)!;
  const page = await cityPage(t);
  await page.context().grantPermissions(['clipboard-read', 'clipboard-write'], { origin: base });
  const edit = async () => {
    await page.getByRole('link', { name: '施設・サービス' }).click();
    const row = page.getByRole('row').filter({ has: page.getByRole('rowheader', { name: 'みらい市民講座' }) });
    await row.getByRole('button', { name: /^編集\s*: みらい市民講座$/ }).click();
    return page.getByRole('region', { name: '「みらい市民講座」のシステムとの連携' });
  };
  const panel = await edit();

  // The webhook: a URL the backend refuses is said so, and kept out; an https one is saved.
  const url = panel.getByLabel('Webhook の URL');
  await url.fill('ftp://courses.example/hook');
  await url.press('Enter');
  await panel.getByText(problemKinds.webhook_url_refused.messages.ja).waitFor();
  t.is(await url.getAttribute('aria-invalid'), 'true');
  t.is((await stored()).webhookUrl, null);
  await url.fill('https://courses.example/mykey/webhook');
  await url.press('Enter');
  const hooked = panel.getByText('Webhook の URL を設定しました。');
  await hooked.waitFor();
  t.true(await focused(hooked), 'focus goes to what was done');
  t.is((await stored()).webhookUrl, 'https://courses.example/mykey/webhook');

  // The API key: its secret shown once, with a copy button and the warning.
  await panel.getByText('API キーはまだ発行されていません。').waitFor();
  await panel.getByRole('button', { name: 'API キーを発行する' }).click();
  const issued = panel.getByRole('heading', { name: 'API キーを発行しました' });
  await issued.waitFor();
  t.true(await focused(issued));
  t.true(await panel.getByText('二度と表示されません', { exact: false }).isVisible());
  const secret = (await panel.getByRole('definition').nth(1).textContent())!.trim();
  t.true(secret.length >= 32, 'a secret is shown');
  await panel.getByRole('button', { name: /^コピー\s*: API シークレット$/ }).click();
  await panel.getByRole('status').filter({ hasText: 'コピーしました。' }).waitFor();
  t.is(await page.evaluate(() => navigator.clipboard.readText()), secret);
  await panel.getByText(/^発行日時: /).waitFor();

  // Reloaded: only when it was issued; the secret is gone for good; the webhook URL stays.
  await page.reload();
  const again = await edit();
  await again.getByText(/^発行日時: /).waitFor();
  t.false((await page.content()).includes(secret), 'the secret is shown once only');
  t.is(await again.getByRole('heading', { name: 'API キーを発行しました' }).count(), 0);
  t.is(await again.getByLabel('Webhook の URL').inputValue(), 'https://courses.example/mykey/webhook');

  // Re-issuing replaces the key: asked first, and Cancel keeps it.
  const reissue = again.getByRole('button', { name: 'API キーを再発行する' });
  await reissue.click();
  const dialog = page.getByRole('dialog', { name: '「みらい市民講座」の API キーを再発行しますか？' });
  await dialog.getByText('今のキーはすぐに使えなくなります', { exact: false }).waitFor();
  await dialog.getByRole('button', { name: 'やめる' }).click();
  await dialog.waitFor({ state: 'detached' });
  t.is(await again.getByRole('heading', { name: 'API キーを発行しました' }).count(), 0);
  await reissue.click();
  await dialog.getByRole('button', { name: '再発行する' }).click();
  await again.getByRole('heading', { name: 'API キーを発行しました' }).waitFor();
  const renewed = (await again.getByRole('definition').nth(1).textContent())!.trim();
  t.not(renewed, secret);
  await page.screenshot({ path: screenshotPath('service-api-key.png'), fullPage: true });

  // The webhook removed.
  await again.getByRole('button', { name: 'Webhook を解除する' }).click();
  await again.getByText('Webhook を解除しました。').waitFor();
  t.is((await stored()).webhookUrl, null);
  t.is(await again.getByLabel('Webhook の URL').inputValue(), '');
});
