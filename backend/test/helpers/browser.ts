import type { ExecutionContext } from 'ava';
import { chromium, type Browser, type BrowserContext, type BrowserContextOptions, type Locator, type Page } from 'playwright-core';
import { mkdirSync } from 'node:fs';
import path from 'node:path';
import { dataDir } from '@mykey/dev-tools/paths.ts';
import { DEMO_PASSWORD } from '@mykey/dev-tools/demo-towns.ts';
import type { Cleanup } from './env.ts';
import { inTurn, knownAccount, nextCode } from './staff.ts';

// Debian's Chromium, headless. The network flags stop it calling home: this machine has no
// network beyond loopback, and the refused connections would only slow it down.
const FLAGS = ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking',
  '--disable-component-update', '--disable-sync'];

// Every page reports the Content-Security-Policy violations it sees (the event, and Chromium's own
// console line for those blocked before any page script runs).
const REPORT_VIOLATIONS = `document.addEventListener('securitypolicyviolation', (event) =>
  console.error('CSP violation: ' + event.violatedDirective + ' blocked ' + (event.blockedURI || 'inline') + ' at ' + event.sourceFile + ':' + event.lineNumber));`;
const VIOLATION = /CSP violation: |Content Security Policy/;

/** How long a page's actions and waits may take before they fail. */
const BROWSER_WAIT_MS = 60_000;

/**
 * Watches every page of `context` for Content-Security-Policy violations; closing the context
 * (as each test does at its end) then fails with them, so every browser test checks that the
 * console works under its policy.
 */
async function failOnCspViolations(context: BrowserContext): Promise<void> {
  const violations: string[] = [];
  await context.addInitScript(REPORT_VIOLATIONS);
  context.on('console', (message) => {
    if (VIOLATION.test(message.text())) violations.push(`${message.page()?.url()}: ${message.text()}`);
  });
  const close = context.close.bind(context);
  context.close = async (options) => {
    await close(options);
    if (violations.length > 0) throw new Error(`The page broke its Content-Security-Policy:\n${[...new Set(violations)].join('\n')}`);
  };
}

/** Chromium, whose every context (browser.newContext, browser.newPage) fails on a CSP violation when closed. */
export async function launchBrowser(cleanup: Cleanup): Promise<Browser> {
  const browser = await chromium.launch({ executablePath: '/usr/bin/chromium', headless: true, args: FLAGS });
  const newContext = browser.newContext.bind(browser);
  browser.newContext = async (options) => {
    const context = await newContext(options);
    // Playwright's own 30 s is too short a ceiling on a loaded 2-core machine, where the console's
    // first load and a page's requests queue behind other suites (docs/testing.md: limits a test
    // is not about are generous).
    context.setDefaultTimeout(BROWSER_WAIT_MS);
    await failOnCspViolations(context);
    return context;
  };
  cleanup(async () => {
    // Contexts a test left open are checked here.
    await Promise.all(browser.contexts().map((context) => context.close()));
    await browser.close();
  });
  return browser;
}

/** Screenshots land in .data/screenshots, for a person to look at what the tests saw. */
export function screenshotPath(name: string): string {
  const dir = path.join(dataDir, 'screenshots');
  mkdirSync(dir, { recursive: true });
  return path.join(dir, name);
}

/** The sign-in form's labels in one language. */
export interface SignInWords { loginId: string; password: string; signIn: string }

export const SIGN_IN_JA: SignInWords = { loginId: 'ログインID', password: 'パスワード', signIn: 'サインイン' };
export const SIGN_IN_EN: SignInWords = { loginId: 'Login ID', password: 'Password', signIn: 'Sign in' };

/** Fills in the console's sign-in form (the page shows it, in the language of `words`) and sends it. */
export async function signIn(page: Page, loginId: string, password: string, words: SignInWords = SIGN_IN_JA): Promise<void> {
  await page.getByLabel(words.loginId).fill(loginId);
  await page.getByLabel(words.password).fill(password);
  await page.getByRole('button', { name: words.signIn }).click();
}

/**
 * Switches a console page (in Japanese, as every page starts) to `language` with the language
 * switch, and waits for its `heading` (its h1) in that language; Japanese is left as it is.
 */
export async function inLanguage(page: Page, language: 'ja' | 'en', heading: string): Promise<void> {
  if (language === 'ja') return;
  await page.getByRole('button', { name: 'English' }).click();
  await page.getByRole('heading', { level: 1, name: heading }).waitFor();
}

/**
 * Signs in through the console's form as the demo account `loginId`, and through the second
 * step with the next code of the account's authenticator (the API helper enrols municipal
 * staff the first time), until the console's `heading` (its h1) shows.
 */
export async function signInThroughForm(page: Page, base: string, loginId: string, heading: string): Promise<void> {
  await knownAccount(base, loginId);
  await inTurn(base, loginId, async (state) => {
    await signIn(page, loginId, DEMO_PASSWORD);
    if (state.secret) {
      await page.getByLabel('確認コード').fill(await nextCode(state));
      await page.getByRole('button', { name: '確認', exact: true }).click();
    }
    await page.getByRole('heading', { level: 1, name: heading }).waitFor();
  });
}

/**
 * A page in a browser context of its own (closed when the test ends), signed in to the console at
 * `base` as the demo account `loginId`, once the console's `heading` (its h1) shows.
 */
export async function signedInPage(t: ExecutionContext, browser: Browser, base: string, loginId: string, heading: string, options: BrowserContextOptions = {}): Promise<Page> {
  const context = await browser.newContext({ viewport: { width: 1200, height: 1400 }, ...options });
  t.teardown(() => context.close());
  const page = await context.newPage();
  await page.goto(`${base}/sign-in`);
  await signInThroughForm(page, base, loginId, heading);
  return page;
}

/** How many pixels of a chart's canvas are painted: a chart drawn with data paints hundreds. */
export function paintedPixels(canvas: Locator): Promise<number> {
  return canvas.evaluate((element: HTMLCanvasElement) => {
    const pixels = element.getContext('2d')!.getImageData(0, 0, element.width, element.height).data;
    let count = 0;
    for (let i = 3; i < pixels.length; i += 4) if (pixels[i]! > 0) count++;
    return count;
  });
}
