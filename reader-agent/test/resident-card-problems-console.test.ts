// わたしのページ in bad situations, in Chromium, through the real reader agent, pcscd and simulated
// cards, against the real backend, in Japanese and in English. Five kiosks of the town, each with
// a card that cannot open the page: one PIN try left, or its PIN locked (wrong PINs through OpenSC, elsewhere),
// its certificate expired, its certificate revoked (a CRL naming its serial), and one never
// registered (no MyKey ID). The resident types the right PIN with the keyboard alone and reads
// what to do, in the card's words in both languages, each marked with its language; nothing
// opens, no PIN is left in the page, its storage or the agent's output, and axe-core finds no
// violation. Then the kiosk's own faults — a device the town withdrew, an agent that stopped —
// tell the resident to ask staff nearby, with none of the advice meant for staff.
//
// The pages are paired through their storage (pairedKioskPage), not the devices screen:
// resident-console.test.ts walks that screen, and each staff sign-in here would wait for the
// authenticator's next code.
import test from 'ava';
import type { ExecutionContext } from 'ava';
import { writeFileSync } from 'node:fs';
import { X509Certificate } from 'node:crypto';
import path from 'node:path';
import type { Page } from 'playwright-core';
import { inLanguage, launchBrowser, screenshotPath } from '@mykey/backend/test/helpers/browser.ts';
import { fileFixture, type Cleanup } from '@mykey/backend/test/helpers/env.ts';
import { signInStaff, type Staff } from '@mykey/backend/test/helpers/identity.ts';
import { issueCertificate, issueCrl, type CertificateAuthority } from '@mykey/dev-tools/dev-ca/index.ts';
import { enrolledAgent, stackWithCardFrom, tempDir, trustingBackend } from './helpers/counter.ts';
import { freePort } from '@mykey/dev-tools/ports.ts';
import { OPENSC_PKCS11, type PcscStack } from './helpers/pcsc-stack.ts';
import { pinLeaks } from './helpers/pin-leaks.ts';
import { accessible, pairedKioskPage, pairedPage, typePin, type PageWords } from './helpers/resident.ts';

const PIN = '6083';
const WRONG_PIN = '1942';
const DAY = 86_400_000;

interface Words extends PageWords { town: string; balances: string; kioskFault: string; notReady: string }

const JA: Words = {
  language: 'ja', mine: 'わたしのページ', reader: 'カードリーダー', cardPresent: '接続済み・カードあり', pin: '暗証番号（利用者証明用・数字4桁）',
  town: 'みらい市（デモ）', balances: 'ポイントの残高',
  kioskFault: 'この端末は、いまは使えません。お近くの職員にお声がけください。', notReady: 'カードリーダーの準備ができていません。お近くの職員にお声がけください。',
};

const EN: Words = {
  language: 'en', mine: 'My page', reader: 'Card reader', cardPresent: 'Connected – card present', pin: 'PIN (user authentication, 4 digits)',
  town: 'Mirai City (demo)', balances: 'Your points',
  kioskFault: 'This terminal cannot be used just now. Please ask a member of staff nearby.', notReady: 'The card reader is not ready. Please ask a member of staff nearby.',
};

/** What only staff could follow: a command, a console's menu, an address to check. */
const STAFF_ADVICE = /npm run|コンソール|console|アドレス|address|登録コード|enrollment code/i;

type Situation = 'lastTry' | 'locked' | 'expired' | 'revoked' | 'unregistered';

/** Each situation in a test's title. */
const CARD: Record<Situation, string> = {
  lastTry: 'with one PIN try left', locked: 'whose PIN is locked', expired: 'whose certificate expired', revoked: 'whose certificate was revoked', unregistered: 'never registered',
};

/** What the resident must read in each situation, in each language: what happened, and where to go. */
const SAYS: Record<Situation, Record<'ja' | 'en', RegExp[]>> = {
  lastTry: {
    ja: [/暗証番号の残り回数が1回のため、カードがロックされないよう/, /市区町村の窓口で暗証番号の確認・再設定/],
    en: [/The PIN has one try left/, /checked or reset at your municipal office counter/],
  },
  locked: {
    ja: [/暗証番号がロックされています。/, /市区町村の窓口で暗証番号の再設定/],
    en: [/The PIN is locked\./, /reset at your municipal office counter/],
  },
  expired: {
    ja: [/電子証明書の有効期限が切れています。/, /市区町村の窓口で電子証明書を更新/],
    en: [/certificate has expired\./, /renew it at your municipal office/],
  },
  revoked: {
    ja: [/電子証明書は失効していて、使えません。/, /市区町村の窓口で電子証明書を発行し直すか、カードを新しく/],
    en: [/certificate has been revoked/, /reissued, or get a new card, at your municipal office/],
  },
  unregistered: {
    ja: [/このカードはまだマイキーIDに登録されていません。/, /市区町村の窓口で登録/],
    en: [/This card has no MyKey ID yet\./, /register it at your municipal office counter/],
  },
};

/** A card from `ca` with PIN whose certificate ended yesterday, on a private stack. */
async function expiredCardStack(cleanup: Cleanup, ca: CertificateAuthority) {
  const dir = tempDir(cleanup);
  const expired = await issueCertificate(ca, { notBefore: new Date(Date.now() - 400 * DAY), notAfter: new Date(Date.now() - DAY) });
  writeFileSync(path.join(dir, 'cert.pem'), expired.certificatePem);
  writeFileSync(path.join(dir, 'key.pem'), expired.privateKeyPem, { mode: 0o600 });
  return stackWithCardFrom(cleanup, ca, PIN, ['--cert', path.join(dir, 'cert.pem'), '--key', path.join(dir, 'key.pem')]);
}

/** A card from `ca` with PIN to which OpenSC presented `wrong` wrong PINs, on a private stack. */
async function stackAfterWrongPins(cleanup: Cleanup, ca: CertificateAuthority, wrong: number) {
  const stack = await stackWithCardFrom(cleanup, ca, PIN);
  for (let i = 0; i < wrong; i++) await stack.run('pkcs11-tool', ['--module', OPENSC_PKCS11, '--login', '--pin', WRONG_PIN, '--list-objects']);
  if ((await stack.pinTriesLeft()) !== 3 - wrong) throw new Error(`the card has ${await stack.pinTriesLeft()} tries left`);
  return stack;
}

/** A kiosk of the town for one situation's card. */
async function kiosk(cleanup: Cleanup, stack: PcscStack, base: string, city: Staff, name: string) {
  return { stack, ...(await enrolledAgent(cleanup, stack, base, city, name, { allowOrigins: [base] })) };
}

const fixture = fileFixture(test, async (cleanup) => {
  const { db, base, ca, identity } = await trustingBackend(cleanup);
  const city = await signInStaff(base, 'demo-city');

  // Wrong PINs typed elsewhere (OpenSC), before any agent sees the card: two leave one try, three lock it.
  const lastTryStack = await stackAfterWrongPins(cleanup, ca, 2);
  const lockedStack = await stackAfterWrongPins(cleanup, ca, 3);

  // Revoked: the CA's next CRL (issued now, after the backend's first) names the card's serial.
  const revokedStack = await stackWithCardFrom(cleanup, ca, PIN);
  const revoked = [{ serialNumberHex: new X509Certificate(revokedStack.certificatePem).serialNumber, reason: 'keyCompromise' as const }];
  await identity.addCrl((await issueCrl(ca, { revoked, thisUpdate: new Date(), crlNumber: 2 })).der);

  const kiosks: Record<Situation, Awaited<ReturnType<typeof kiosk>>> = {
    lastTry: await kiosk(cleanup, lastTryStack, base, city, '残り1回のカードの端末'),
    locked: await kiosk(cleanup, lockedStack, base, city, 'ロックされたカードの端末'),
    expired: await kiosk(cleanup, await expiredCardStack(cleanup, ca), base, city, '期限切れのカードの端末'),
    revoked: await kiosk(cleanup, revokedStack, base, city, '失効したカードの端末'),
    // A fresh card that no counter has registered: it has no MyKey ID.
    unregistered: await kiosk(cleanup, await stackWithCardFrom(cleanup, ca, PIN), base, city, '未登録のカードの端末'),
  };
  // A kiosk the town withdrew (its device revoked) while its agent still runs and its browser is still paired.
  const withdrawn = await kiosk(cleanup, await stackWithCardFrom(cleanup, ca, PIN), base, city, '取り消された端末');
  const revocation = await city.post(`/api/v1/staff/devices/${withdrawn.deviceId}/revocation`, {});
  if (revocation.status !== 200) throw new Error(JSON.stringify(revocation.body));
  return { db, base, kiosks, withdrawn, browser: await launchBrowser(cleanup) };
});

/** The page's sessions opened since `since`. */
const sessionsSince = async (since: Date) => Number((await (await fixture()).db('resident_sessions').where('opened_at', '>=', since).count({ n: '*' }))[0]!.n);

/** Everything of the page where a PIN typed would linger: its text and fields, its storage, its cookies. */
const pageRemains = (page: Page) => page.evaluate(() => JSON.stringify({
  html: document.documentElement.outerHTML,
  fields: [...document.querySelectorAll('input')].map((input) => input.value),
  storage: { ...localStorage, ...sessionStorage },
  cookie: document.cookie,
}));

/** The card's words in the problem box, each line in its own language so a screen reader speaks it right. */
async function readsWhatToDo(t: ExecutionContext, page: Page, situation: Situation): Promise<void> {
  for (const language of ['ja', 'en'] as const) {
    const line = page.locator(`[aria-live="assertive"] [lang="${language}"]`);
    await line.first().waitFor();
    const text = await line.allInnerTexts();
    for (const says of SAYS[situation][language]) t.true(text.some((each) => says.test(each)), `${situation} (${language}): ${says} in ${JSON.stringify(text)}`);
  }
}

for (const w of [JA, EN]) {
  for (const situation of ['lastTry', 'locked', 'expired', 'revoked', 'unregistered'] as const) {
    test.serial(`(${w.language}) a card ${CARD[situation]}: the resident reads what to do and where, nothing opens, no PIN is left`, async (t) => {
      const { base, browser, kiosks } = await fixture();
      const { agent, stack } = kiosks[situation];
      const since = new Date();
      const triesLeft = await stack.pinTriesLeft();
      const page = await pairedKioskPage(t, browser, base, agent, w);
      await typePin(page, w, PIN);
      await readsWhatToDo(t, page, situation);
      await page.screenshot({ path: screenshotPath(`resident-card-${situation}-${w.language}.png`), fullPage: true });

      t.is(await page.getByRole('heading', { level: 2, name: w.town }).count(), 0, 'no page opens');
      t.is(await page.getByRole('region', { name: w.balances, exact: true }).count(), 0, 'no points show');
      t.is(await sessionsSince(since), 0, 'no session at the backend');
      t.is(await stack.pinTriesLeft(), triesLeft, 'no try spent: the right PIN, or none presented to a card with one try or none left');
      t.is((await page.request.get(`${base}/api/v1/resident/points`)).status(), 401, 'the browser reads nothing');
      t.deepEqual(pinLeaks(`${await pageRemains(page)}\n${agent.output()}\n${stack.sentToCard()}`, PIN), [], 'no PIN left in the page, its storage, the agent or the card log');
      await accessible(t, page, `the page with a card ${situation}`);
    });
  }
}

/** The kiosk's fault, told to the resident as one: ask staff nearby; no advice for staff on screen, nothing opens. */
async function toldToAskStaff(t: ExecutionContext, page: Page, w: Words, since: Date): Promise<void> {
  await page.locator('[aria-live="assertive"]').getByText(w.kioskFault).waitFor();
  t.notRegex(await page.innerText('main'), STAFF_ADVICE);
  t.is(await page.getByRole('heading', { level: 2, name: w.town }).count(), 0, 'no page opens');
  t.is(await sessionsSince(since), 0, 'no session at the backend');
  t.deepEqual(pinLeaks(await pageRemains(page), PIN), [], 'no PIN left in the page or its storage');
  await accessible(t, page, 'the page with the kiosk at fault');
}

for (const w of [JA, EN]) {
  test.serial(`(${w.language}) a kiosk the town withdrew: the resident is told to ask staff, not how to enroll it`, async (t) => {
    const { base, browser, withdrawn } = await fixture();
    const since = new Date();
    const page = await pairedKioskPage(t, browser, base, withdrawn.agent, w);
    await typePin(page, w, PIN);
    await toldToAskStaff(t, page, w, since);
  });

  test.serial(`(${w.language}) a kiosk whose reader agent stopped: the PIN typed all the same tells the resident to ask staff, not how to start it`, async (t) => {
    const { base, browser } = await fixture();
    const since = new Date();
    // Paired with an agent that no longer answers: nothing listens at its address.
    const page = await pairedPage(t, browser, base, { base: `http://127.0.0.1:${await freePort()}`, token: 'stopped-agent' });
    await page.goto(`${base}/mine`);
    await inLanguage(page, w.language, w.mine);
    await page.getByRole('status').filter({ hasText: w.notReady }).waitFor();
    await typePin(page, w, PIN);
    await toldToAskStaff(t, page, w, since);
  });
}
