// The merchant console's register (レジ) in Chromium, through the real reader agent, pcscd and the
// simulated card, against the real backend: pairing the console with this PC's agent (and what
// the clerk is told when it cannot be), then payments, refunds and voids from the register.
import test from 'ava';
import { execFile } from 'node:child_process';
import type { ExecutionContext } from 'ava';
import type { Page } from 'playwright-core';
import { DEMO_PASSWORD } from '../../seeds/01_demo_town.ts';
import { launchBrowser, screenshotPath } from '../../backend/test/helpers/browser.ts';
import { fileFixture, testDatabase } from '../../backend/test/helpers/env.ts';
import { signInStaff, testPki } from '../../backend/test/helpers/identity.ts';
import { startApp, testIdentity } from '../../backend/test/helpers/server.ts';
import { freePort } from '../../scripts/lib/ports.ts';
import { issueCrl } from '../src/dev-ca/index.ts';
import { startAgent, type RunningAgent } from './helpers/agent.ts';
import { enrolledAgent, stackWithCardFrom } from './helpers/counter.ts';

// Digits unlikely to turn up in a log by chance, so finding them there means a leak.
const PIN = '6183';

const fixture = fileFixture(test, async (cleanup) => {
  const { db } = await testDatabase(cleanup);
  await db.seed.run();
  const pki = await testPki();
  const stack = await stackWithCardFrom(cleanup, pki.ca, PIN);
  const identity = testIdentity(db, [pki.ca.certificate]);
  // A current CRL, so a value-moving card session is not refused for want of one.
  await identity.addCrl((await issueCrl(pki.ca, { revoked: [], nextUpdate: new Date(Date.now() + 86_400_000) })).der);
  const base = await startApp(cleanup, db, { identity });
  const shop = await signInStaff(base, 'demo-shop');
  // The shop's counter PC: its agent allows this console's origin.
  const { agent } = await enrolledAgent(cleanup, stack, base, shop, 'レジ1', { allowOrigins: [base] });
  return { db, base, stack, agent, browser: await launchBrowser(cleanup) };
});

async function signedInPage(t: ExecutionContext): Promise<Page> {
  const { base, browser } = await fixture();
  const context = await browser.newContext({ viewport: { width: 1200, height: 1400 } });
  t.teardown(() => context.close());
  const page = await context.newPage();
  await page.goto(`${base}/sign-in`);
  await page.getByLabel('ログインID').fill('demo-shop');
  await page.getByLabel('パスワード').fill(DEMO_PASSWORD);
  await page.getByRole('button', { name: 'サインイン' }).click();
  await page.getByRole('heading', { level: 1, name: '加盟店コンソール' }).waitFor();
  return page;
}

/** What `npm run reader-agent -- pairing` prints for `agent`: the two things the clerk types. */
function printedPairing(agent: RunningAgent): Promise<{ address: string; token: string; text: string }> {
  return new Promise((resolve, reject) => {
    execFile(process.execPath, ['--import', 'tsx', 'reader-agent/src/agent/main.ts', 'pairing', '--port', new URL(agent.base).port],
      { env: { ...process.env, READER_AGENT_TOKEN: agent.token }, timeout: 60_000 }, (error, stdout) => {
        if (error) return reject(error);
        const address = /アドレス \/ address:\s+(\S+)/.exec(stdout)?.[1];
        const token = /トークン \/ token:\s+(\S+)/.exec(stdout)?.[1];
        if (!address || !token) return reject(new Error(`pairing printed:\n${stdout}`));
        resolve({ address, token, text: stdout });
      });
  });
}

async function pair(page: Page, address: string, token: string): Promise<void> {
  const section = page.getByRole('region', { name: 'カードリーダー接続' });
  await section.getByLabel('エージェントのアドレス').fill(address);
  await section.getByLabel('ペアリングトークン').fill(token);
  await section.getByRole('button', { name: '保存して接続' }).click();
  await section.getByText('ペアリングを保存しました。').waitFor();
}

/** Waits for the status light to say `label`. */
async function light(page: Page, label: string): Promise<void> {
  await page.getByRole('status').filter({ hasText: `カードリーダー: ${label}` }).waitFor();
}

test('pairing: the clerk types what the agent prints; the light tells not paired, not running, a wrong token, a console not allowed, and the card', async (t) => {
  const { base, stack, agent } = await fixture();
  const page = await signedInPage(t);

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
