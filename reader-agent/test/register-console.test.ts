// The merchant console's register (レジ) in Chromium, through the real reader agent, pcscd and the
// simulated card, against the real backend: pairing the console with this PC's agent (and what
// the clerk is told when it cannot be), then payments, refunds and voids from the register, and a
// clerk the owner invited (docs/security/staff.md#the-life-of-an-account) taking a payment.
import test from 'ava';
import type { ExecutionContext } from 'ava';
import type { Page } from 'playwright-core';
import { randomBytes } from 'node:crypto';
import { DEMO_GRANT_CAMPAIGN, DEMO_MUNICIPALITY, DEMO_PASSWORD } from '@mykey/dev-tools/demo-towns.ts';
import type { Db } from '@mykey/backend/db.ts';
import { grantPoints, inLedgerTransaction, residentPoints } from '@mykey/backend/ledger/ledger.ts';
import { pseudonymOf } from '@mykey/backend/mykey/pseudonym.ts';
import { tokyoDate } from '@mykey/backend/ledger/rules.ts';
import { mykeySecret } from '@mykey/backend/config.ts';
import { launchBrowser, screenshotPath, signedInPage } from '@mykey/backend/test/helpers/browser.ts';
import { fileFixture } from '@mykey/backend/test/helpers/env.ts';
import { signInStaff } from '@mykey/backend/test/helpers/identity.ts';
import { post } from '@mykey/backend/test/helpers/staff.ts';
import { oneTokyoDay } from '@mykey/backend/test/helpers/tokyo-day.ts';
import { freePort } from '@mykey/dev-tools/ports.ts';
import { presentCardAgain, runAgentCli, startAgent, type RunningAgent } from './helpers/agent.ts';
import { backendWithCard, enrolledAgent } from './helpers/counter.ts';
import { light, pair } from './helpers/console.ts';
import { pinLeaks } from './helpers/pin-leaks.ts';

// Digits unlikely to turn up in a log by chance, so finding them there means a leak.
const PIN = '6183';
const WRONG_PIN = '9027';

const fixture = fileFixture(test, async (cleanup) => {
  const { db, base, stack } = await backendWithCard(cleanup, PIN);
  const shop = await signInStaff(base, 'demo-shop');
  // The shop's counter PC: its agent allows this console's origin.
  const { agent } = await enrolledAgent(cleanup, stack, base, shop, 'レジ1', { allowOrigins: [base] });
  return { db, base, stack, agent, browser: await launchBrowser(cleanup) };
});

async function shopPage(t: ExecutionContext): Promise<Page> {
  const { base, browser } = await fixture();
  return signedInPage(t, browser, base, 'demo-shop', '加盟店コンソール');
}

/** What `npm run reader-agent -- pairing` prints for `agent`: the two things the clerk types. */
async function printedPairing(agent: RunningAgent): Promise<{ address: string; token: string; text: string }> {
  const run = await runAgentCli(['pairing', '--port', new URL(agent.base).port], agent.token);
  if (run.code !== 0) throw new Error(`pairing exited ${run.code}:\n${run.stderr}`);
  const address = /アドレス \/ address:\s+(\S+)/.exec(run.stdout)?.[1];
  const token = /トークン \/ token:\s+(\S+)/.exec(run.stdout)?.[1];
  if (!address || !token) throw new Error(`pairing printed:\n${run.stdout}`);
  return { address, token, text: run.stdout };
}

test.serial('pairing: the clerk types what the agent prints; the light tells not paired, not running, a wrong token, a console not allowed, and the card', async (t) => {
  const { base, stack, agent } = await fixture();
  const page = await shopPage(t);

  await page.getByRole('link', { name: 'レジ' }).click();
  await page.waitForURL(`${base}/merchant/register`);
  await light(page, '未ペアリング');
  await page.getByText('npm run reader-agent -- pairing を実行し').waitFor();
  await page.getByRole('link', { name: 'カードリーダー接続の設定' }).click();
  await page.waitForURL(`${base}/merchant/devices`);
  const section = page.getByRole('region', { name: 'カードリーダー接続' });

  await section.getByLabel('エージェントのアドレス').fill('http://example.com:47110');
  await section.getByLabel('ペアリングトークン').fill('x');
  await section.getByRole('button', { name: '保存して接続' }).click();
  await section.getByText('アドレスは http://127.0.0.1:ポート番号 の形で入力してください').waitFor();

  await pair(page, `http://127.0.0.1:${await freePort()}`, agent.token);
  await light(page, 'エージェントが起動していません');
  await section.getByText('このパソコンで npm run reader-agent を起動してください。').waitFor();

  await pair(page, agent.base, 'not-the-token');
  await light(page, '未ペアリング（トークンが違います）');

  // An agent started with its default allowlist (http://127.0.0.1:3000), not this console's origin.
  const elsewhere = await startAgent(stack, { seeReader: false });
  t.teardown(() => elsewhere.stop());
  await pair(page, elsewhere.base, elsewhere.token);
  await light(page, 'このコンソールは許可されていません');
  await section.getByText(`エージェントを次のオプションを付けて起動し直してください: npm run reader-agent -- --allow-origin ${base}`).waitFor();

  const printed = await printedPairing(agent);
  t.is(printed.address, agent.base);
  t.true(printed.text.includes('カードリーダー接続'));
  t.false(agent.output().includes(agent.token), 'the agent logs the pairing command, never the token');
  await pair(page, printed.address, printed.token);
  await light(page, '接続済み・カードあり');
  t.is(await section.getByLabel('ペアリングトークン').inputValue(), '', 'the token field is emptied once saved');

  await stack.removeCard();
  await light(page, '接続済み・カードなし');
  await stack.insertCard();
  await light(page, '接続済み・カードあり');

  // Kept in this browser: a reload (a new day at the counter) is still paired.
  await page.reload();
  await light(page, '接続済み・カードあり');
  await page.screenshot({ path: screenshotPath('reader-connection.png'), fullPage: true });
  await page.getByRole('button', { name: 'English' }).click();
  await page.getByRole('status').filter({ hasText: 'Card reader: Connected – card present' }).waitFor();
  t.pass();
});

/**
 * The card's MyKey ID (its first login, at this register), with `points` granted to it under the
 * demo grant campaign. The register is told only the shop's pseudonym: the file's one ID is read from the database.
 */
async function residentWithPoints(db: Db, agent: RunningAgent, points: number): Promise<string> {
  const login = await agent.call('POST', '/v1/card-sessions', { pin: PIN, purpose: 'login' });
  if (login.status !== 200) throw new Error(`login: ${JSON.stringify(login.body)}`);
  const mykeyId: string = (await db('mykeys').first('mykey_id')).mykey_id;
  const campaign = await db('campaigns').where({ slug: DEMO_GRANT_CAMPAIGN.slug }).first('id');
  await inLedgerTransaction(db, (trx) => grantPoints(trx, { reference: `test:grant:${mykeyId}`, campaignId: Number(campaign.id), kind: 'administrative', mykeyId, points }));
  return mykeyId;
}

async function spendable(db: Db, mykeyId: string): Promise<number> {
  return (await residentPoints(db, DEMO_MUNICIPALITY.code, mykeyId)).spendable;
}

/** Types the amount and presses カードで支払う: the intent opens and the PIN field is focused. */
async function openSale(page: Page, amount: string): Promise<void> {
  await page.getByLabel('金額（円・ポイント）').fill(amount);
  await page.getByRole('button', { name: 'カードで支払う' }).click();
  await page.getByLabel('暗証番号（利用者証明用・数字4桁）').waitFor();
}

async function enterPin(page: Page, pin: string): Promise<void> {
  const field = page.getByLabel('暗証番号（利用者証明用・数字4桁）');
  await field.fill(pin);
  await page.getByRole('button', { name: '支払う', exact: true }).click();
}

test.serial('paying at the register: not enough points shows what is available, a wrong PIN the tries left, the right PIN (the card placed again) the receipt; refund and void from today\'s payments', async (t) => {
  // Today's payments and a same-day void: the whole test on one Japanese day.
  await oneTokyoDay();
  const { db, base, stack, agent } = await fixture();
  const mykeyId = await residentWithPoints(db, agent, 1_000);
  const page = await shopPage(t);
  await page.goto(`${base}/merchant/devices`);
  const printed = await printedPairing(agent);
  await pair(page, printed.address, printed.token);
  await page.getByRole('link', { name: 'レジ' }).click();
  await light(page, '接続済み・カードあり');
  const sale = page.getByRole('region', { name: 'レジ' });

  await page.getByRole('button', { name: 'カードで支払う' }).click();
  await sale.getByText('金額は1円以上の整数で入力してください。').waitFor();

  // More than the resident has: the card signs, the backend refuses, nothing moves; the sale stays open.
  await openSale(page, '１，５００');
  await sale.getByText('お支払い金額 1,500 円').waitFor();
  await sale.getByText('暗証番号を入力してください').waitFor();
  await enterPin(page, PIN);
  await sale.getByText('使えるポイント: 1,000 ポイント').waitFor();
  await sale.getByText('Not enough points', { exact: false }).first().waitFor();
  t.is(await page.getByLabel('暗証番号（利用者証明用・数字4桁）').inputValue(), '', 'the PIN is cleared once sent');
  t.is(await spendable(db, mykeyId), 1_000);
  await page.getByRole('button', { name: '取引を中止' }).click();
  await sale.getByText('取引を中止しました。').waitFor();

  await openSale(page, '300');
  await enterPin(page, WRONG_PIN);
  await sale.getByText('暗証番号の残り回数: 2 回').waitFor();
  await sale.getByText('暗証番号が違います（残り2回）。もう一度入力するには、カードをいったんリーダーから外して、置き直してください。').waitFor();
  await sale.getByText('Wrong PIN (2 tries left). To try again, take the card off the reader and place it again.').waitFor();
  t.is(await spendable(db, mykeyId), 1_000);

  // The next PIN waits for the card to be placed again, which a script in the page cannot do.
  await enterPin(page, PIN);
  await sale.getByText('カードをいったんリーダーから外して、置き直してから入力してください', { exact: false }).waitFor();
  t.is(await spendable(db, mykeyId), 1_000);
  await presentCardAgain(stack, agent);
  await light(page, '接続済み・カードあり');
  await enterPin(page, PIN);
  const receipt = sale.getByRole('status').filter({ hasText: 'お支払いが完了しました' });
  await receipt.waitFor();
  t.true(await receipt.getByText('300 円').isVisible());
  t.true(await receipt.getByText('700 ポイント').isVisible());
  t.is(await spendable(db, mykeyId), 700);
  const { receiptNo, merchantId } = (await db('payment_intents').where({ status: 'paid' }).first('ledger_entry_id as receiptNo', 'merchant_id as merchantId'))!;
  t.true(await receipt.getByText(String(receiptNo), { exact: true }).isVisible());
  // The shop knows the resident by its own pseudonym of them, never by the MyKey ID.
  const customer = pseudonymOf(mykeySecret({ NODE_ENV: 'test' }), mykeyId, { kind: 'merchant', id: Number(merchantId) });
  t.true(await receipt.getByText(customer, { exact: true }).isVisible());
  await page.screenshot({ path: screenshotPath('register-receipt.png'), fullPage: true });
  await page.getByRole('button', { name: '次のお客様' }).click();

  // Today's payments: a partial refund, confirmed in a dialog.
  const today = page.getByRole('region', { name: '本日の取引' });
  const row = today.getByRole('row').filter({ has: page.getByRole('rowheader', { name: String(receiptNo), exact: true }) });
  await row.getByRole('button', { name: '返金' }).click();
  const dialog = page.getByRole('dialog');
  await dialog.getByLabel('返金するポイント').fill('301');
  await dialog.getByRole('button', { name: '返金する' }).click();
  await dialog.getByText('1 から 300 までの整数で入力してください。').waitFor();
  await dialog.getByLabel('返金するポイント').fill('100');
  await dialog.getByRole('button', { name: '返金する' }).click();
  await today.getByText(`受付番号 ${receiptNo} に 100 ポイントを返金しました。`).waitFor();
  await row.getByText('一部返金').waitFor();
  t.true(await row.getByRole('cell', { name: '100 ポイント', exact: true }).isVisible());
  t.true(await row.getByRole('cell', { name: customer, exact: true }).isVisible());
  t.is(await row.getByRole('button', { name: '取消' }).count(), 0, 'a refunded payment is not voided');
  t.is(await spendable(db, mykeyId), 800);

  // A second payment, voided the same day.
  await openSale(page, '200');
  await enterPin(page, PIN);
  await sale.getByText('600 ポイント').waitFor();
  await page.getByRole('button', { name: '次のお客様' }).click();
  const second = (await db('payment_intents').where({ status: 'paid', amount_points: 200 }).first('ledger_entry_id as receiptNo'))!.receiptNo;
  const secondRow = today.getByRole('row').filter({ has: page.getByRole('rowheader', { name: String(second), exact: true }) });
  await secondRow.getByRole('button', { name: '取消' }).click();
  await page.getByRole('dialog').getByRole('button', { name: '取り消す' }).click();
  await today.getByText(`受付番号 ${second} の支払いを取り消しました。`).waitFor();
  await secondRow.getByText('取消済み').waitFor();
  t.is(await spendable(db, mykeyId), 800);
  await page.screenshot({ path: screenshotPath('register-today.png'), fullPage: true });

  // Another day, by its date: that day's payments (none); back to today, today's again.
  const todayDate = tokyoDate(new Date());
  const yesterday = tokyoDate(new Date(Date.now() - 86_400_000));
  await today.getByLabel('表示する日').fill(yesterday);
  const otherDay = page.getByRole('region', { name: `${yesterday} の取引` });
  await otherDay.getByText('この日の取引はありません。').waitFor();
  await otherDay.getByLabel('表示する日').fill(todayDate);
  await secondRow.getByText('取消済み').waitFor();
  const seen = await page.content();
  for (const spelling of [mykeyId, `${mykeyId.slice(0, 4)}-${mykeyId.slice(4)}`]) t.false(seen.includes(spelling), `the register shows the MyKey ID ${spelling}`);

  // The PIN went from the field to the agent and the card only.
  const stored = await page.evaluate(() => JSON.stringify({ ...localStorage }));
  t.deepEqual(pinLeaks(stored, PIN, WRONG_PIN), [], "a PIN in the browser's storage");
  t.deepEqual(pinLeaks(agent.output(), PIN, WRONG_PIN), [], "a PIN in the agent's log");
});

test.serial('an answer lost on its way back: pressing カードで支払う again sends the same Idempotency-Key and opens one intent; a new amount is a new attempt', async (t) => {
  const { db, base } = await fixture();
  const page = await shopPage(t);
  await page.goto(`${base}/merchant/register`);
  // Between browser and backend: the first intent request reaches the backend, its answer is cut.
  const keys: string[] = [];
  await page.route('**/api/v1/merchant/payment-intents', async (route) => {
    keys.push(route.request().headers()['idempotency-key']!);
    const response = await route.fetch();
    if (keys.length === 1) await route.abort('connectionreset');
    else await route.fulfill({ response });
  });
  const intents = async () => Number((await db('payment_intents').count({ n: '*' }).first())!.n);
  const before = await intents();

  await page.getByLabel('金額（円・ポイント）').fill('450');
  await page.getByRole('button', { name: 'カードで支払う' }).click();
  await page.getByText('サーバーに接続できませんでした。').waitFor();
  t.is(await intents(), before + 1, 'the backend opened the intent whose answer was lost');
  await page.getByRole('button', { name: 'カードで支払う' }).click();
  await page.getByText('お支払い金額 450 円').waitFor();
  t.is(keys.length, 2);
  t.is(keys[0], keys[1]);
  t.is(await intents(), before + 1, 'the retry got the same intent');

  await page.getByRole('button', { name: '取引を中止' }).click();
  await page.getByText('取引を中止しました。').waitFor();
  await openSale(page, '451');
  t.is(keys.length, 3);
  t.not(keys[2], keys[0]);
  t.is(await intents(), before + 2);
  t.is((await db('payment_intents').where({ amount_points: 450 }).first('status'))!.status, 'cancelled');
});

test.serial('a clerk the owner invited takes a payment at the register, and sees neither the settlement nor the staff', async (t) => {
  const { db, base, agent, browser } = await fixture();
  const owner = await signInStaff(base, 'demo-shop');
  const invited = await owner.post('/api/v1/staff/invitations', { displayName: '店員 次郎', roles: ['clerk'] });
  t.is(invited.status, 201);
  const loginId = `clerk-${randomBytes(3).toString('hex')}`;
  t.is((await post(base, '/api/v1/staff/invitations/redemptions', { code: invited.body.code, loginId, password: DEMO_PASSWORD })).status, 201);
  const login = await agent.call('POST', '/v1/card-sessions', { pin: PIN, purpose: 'login' });
  if (login.status !== 200) throw new Error(`login: ${JSON.stringify(login.body)}`);
  const mykeyId: string = (await db('mykeys').first('mykey_id')).mykey_id;
  const campaign = await db('campaigns').where({ slug: DEMO_GRANT_CAMPAIGN.slug }).first('id');
  await inLedgerTransaction(db, (trx) => grantPoints(trx, { reference: `test:grant:${loginId}`, campaignId: Number(campaign.id), kind: 'administrative', mykeyId, points: 100 }));
  const before = await spendable(db, mykeyId);

  const page = await signedInPage(t, browser, base, loginId, '加盟店コンソール');
  const menu = await page.getByRole('navigation').getByRole('link').allTextContents();
  t.false(menu.includes('店員'), `a clerk manages no staff: ${menu.join(' / ')}`);
  t.is(await page.evaluate(() => fetch('/api/v1/merchant/settlement?from=2026-12-01&to=2026-12-01').then((r) => r.status)), 403, 'nor sees the settlement');
  await page.goto(`${base}/merchant/devices`);
  await pair(page, agent.base, agent.token);
  await page.getByRole('link', { name: 'レジ' }).click();
  await light(page, '接続済み・カードあり');
  await openSale(page, '100');
  await enterPin(page, PIN);
  await page.getByRole('region', { name: 'レジ' }).getByRole('status').filter({ hasText: 'お支払いが完了しました' }).waitFor();
  t.is(await spendable(db, mykeyId), before - 100);
});
