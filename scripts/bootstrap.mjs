// The one plain-JavaScript file: it runs before any dependency exists, so it cannot be
// TypeScript. It installs npm dependencies when they are missing or older than the
// lockfile, then runs the TypeScript entry point named on the command line in this same
// process through tsx (one process, so signals reach the entry point directly).
import { existsSync, statSync } from 'node:fs';
import { spawnSync } from 'node:child_process';
import { fileURLToPath, pathToFileURL } from 'node:url';
import path from 'node:path';
import { BUILD_PACKAGES, ensureDebianPackages } from './lib/debian.mjs';

const root = path.dirname(path.dirname(fileURLToPath(import.meta.url)));

function dependenciesStale() {
  const installed = path.join(root, 'node_modules', '.package-lock.json');
  if (!existsSync(installed)) return true;
  return statSync(path.join(root, 'package-lock.json')).mtimeMs > statSync(installed).mtimeMs;
}

if (dependenciesStale()) {
  try {
    ensureDebianPackages(BUILD_PACKAGES);
  } catch (error) {
    console.error(`[setup] ${error.message}`);
    process.exit(1);
  }
  console.log('[setup] installing npm dependencies (npm install)…');
  const npm = process.platform === 'win32' ? 'npm.cmd' : 'npm';
  const result = spawnSync(npm, ['install', '--no-audit', '--no-fund'], { cwd: root, stdio: 'inherit' });
  if (result.status !== 0) {
    console.error('[setup] npm install failed; see the messages above.');
    process.exit(result.status ?? 1);
  }
}

const entry = process.argv[2];
if (!entry) {
  console.error('usage: node scripts/bootstrap.mjs <entry.ts> [args…]');
  process.exit(2);
}
// The entry point sees the usual argv: [node, entry, ...args].
process.argv.splice(1, 1);
const { register } = await import('tsx/esm/api');
register();
await import(pathToFileURL(path.resolve(root, entry)).href);
