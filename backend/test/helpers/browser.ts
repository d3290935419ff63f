import { chromium, type Browser } from 'playwright-core';
import { mkdirSync } from 'node:fs';
import path from 'node:path';
import { dataDir } from '../../../scripts/lib/paths.ts';
import type { Cleanup } from './env.ts';

// Debian's Chromium, headless. The network flags stop it calling home: this machine has no
// network beyond loopback, and the refused connections would only slow it down.
const FLAGS = ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking',
  '--disable-component-update', '--disable-sync'];

export async function launchBrowser(cleanup: Cleanup): Promise<Browser> {
  const browser = await chromium.launch({ executablePath: '/usr/bin/chromium', headless: true, args: FLAGS });
  cleanup(() => browser.close());
  return browser;
}

/** Screenshots land in .data/screenshots, for a person to look at what the tests saw. */
export function screenshotPath(name: string): string {
  const dir = path.join(dataDir, 'screenshots');
  mkdirSync(dir, { recursive: true });
  return path.join(dir, name);
}
