// The console's side of a counter PC in a browser test: pairing it with this PC's agent, and its
// status light.
import type { Page } from 'playwright-core';

/** Types the agent's address and token in カードリーダー接続 (on the devices screen) and saves them. */
export async function pair(page: Page, address: string, token: string): Promise<void> {
  const section = page.getByRole('region', { name: 'カードリーダー接続' });
  await section.getByLabel('エージェントのアドレス').fill(address);
  await section.getByLabel('ペアリングトークン').fill(token);
  await section.getByRole('button', { name: '保存して接続' }).click();
  await section.getByText('ペアリングを保存しました。').waitFor();
}

/** Waits for the status light to say `label` (after the light's own name, `reader`, in the page's language). */
export async function light(page: Page, label: string, reader = 'カードリーダー'): Promise<void> {
  await page.getByRole('status').filter({ hasText: `${reader}: ${label}` }).waitFor();
}
