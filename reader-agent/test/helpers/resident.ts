// The resident's own page (わたしのページ) in a browser test: the PIN typed with the keyboard alone,
// and axe-core run in the page (docs/resident.md says why axe-core).
import type { ExecutionContext } from 'ava';
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import type { Page } from 'playwright-core';

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
