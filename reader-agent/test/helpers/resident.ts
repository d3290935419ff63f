// The resident's own page (わたしのページ) in a browser test: the kiosk's browser paired with its
// agent, the public page in a language with the card on the reader, the PIN typed with the keyboard
// alone, and axe-core run in the page (docs/resident.md says why axe-core). The page's own words
// come from each test, in its language.
import type { ExecutionContext } from 'ava';
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import type { Browser, Page } from 'playwright-core';
import { inLanguage, signedInPage } from '@mykey/backend/test/helpers/browser.ts';
import { light, pair } from './console.ts';

const AXE = readFileSync(createRequire(import.meta.url).resolve('axe-core/axe.min.js'), 'utf8');

/** axe-core, run in the page as it is now: no violation of any rule. */
export async function accessible(t: ExecutionContext, page: Page, what: string): Promise<void> {
  // Evaluated, not added as a script tag: the console's CSP refuses inline scripts, rightly.
  await page.evaluate(AXE);
  const violations = await page.evaluate(async () => {
    const result = await (window as unknown as { axe: { run(): Promise<{ violations: Array<{ id: string; nodes: Array<{ target: unknown }> }> }> } }).axe.run();
    return result.violations.map((v) => `${v.id}: ${JSON.stringify(v.nodes.map((n) => n.target))}`);
  });
  t.deepEqual(violations, [], `axe-core on ${what}`);
}

/** Tabs to the PIN field (labelled `w.pin`), types `pin` and presses Enter, as a keyboard user would. */
export async function typePin(page: Page, w: { pin: string }, pin: string): Promise<void> {
  const field = page.getByLabel(w.pin);
  for (let i = 0; i < 40 && !(await field.evaluate((e) => e === document.activeElement)); i++) await page.keyboard.press('Tab');
  await page.keyboard.type(pin);
  await page.keyboard.press('Enter');
}

/** The page's title in Japanese, how the page is found before its language is chosen. */
const MINE_JA = 'わたしのページ';

/** What the page says, in one language, that these steps look for. */
export interface PageWords { language: 'ja' | 'en'; mine: string; reader: string; cardPresent: string; pin: string }

/** The public page of `origin` in `w`'s language, the card on the reader. */
export async function atMine(page: Page, w: PageWords, origin: string): Promise<Page> {
  await page.goto(`${origin}/mine`);
  await page.getByRole('heading', { level: 1, name: MINE_JA }).waitFor();
  await inLanguage(page, w.language, w.mine);
  await light(page, w.cardPresent, w.reader);
  return page;
}

/** The kiosk's browser: paired with its agent by the town's staff on the devices screen, then at the public わたしのページ. */
export async function kioskPage(t: ExecutionContext, browser: Browser, base: string, agent: { base: string; token: string }, w: PageWords): Promise<Page> {
  const page = await signedInPage(t, browser, base, 'demo-city', '自治体コンソール');
  await page.goto(`${base}/municipality/devices`);
  await pair(page, agent.base, agent.token);
  return atMine(page, w, base);
}

/**
 * The kiosk's browser at `origin`'s public わたしのページ, in a context of its own, without a staff
 * sign-in: the pairing is written to the page's storage as the devices screen saves it (that
 * screen is walked by `kioskPage`). For a test that opens many pages, and for another origin,
 * whose storage is its own.
 */
export async function pairedKioskPage(t: ExecutionContext, browser: Browser, origin: string, agent: { base: string; token: string }, w: PageWords): Promise<Page> {
  return atMine(await pairedPage(t, browser, origin, agent), w, origin);
}

/** A browser context of its own whose storage at `origin` holds the pairing with `agent`, as the devices screen saves it; the page loads it when it opens next. */
export async function pairedPage(t: ExecutionContext, browser: Browser, origin: string, agent: { base: string; token: string }): Promise<Page> {
  const context = await browser.newContext();
  t.teardown(() => context.close());
  const page = await context.newPage();
  await page.goto(`${origin}/mine`);
  await page.evaluate((pairing) => localStorage.setItem('mykey.readerAgent', JSON.stringify(pairing)), { address: agent.base, token: agent.token });
  return page;
}
