// The one plain-JavaScript file: it runs before any dependency exists, so it cannot be
// TypeScript. It installs npm dependencies when they are missing or older than the
// lockfile, rebuilds the native addons when this is another Node than the one they were
// built for, then runs the TypeScript entry point named on the command line in this same
// process through tsx (one process, so signals reach the entry point directly).
import { existsSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { spawnSync } from 'node:child_process';
import { fileURLToPath, pathToFileURL } from 'node:url';
import path from 'node:path';
import { BUILD_PACKAGES, ensureDebianPackages } from '../packages/dev-tools/src/debian.mjs';

const root = path.dirname(path.dirname(fileURLToPath(import.meta.url)));

function dependenciesStale() {
  const installed = path.join(root, 'node_modules', '.package-lock.json');
  if (!existsSync(installed)) return true;
  return statSync(path.join(root, 'package-lock.json')).mtimeMs > statSync(installed).mtimeMs;
}

// The Node a native addon (pcsclite) was compiled for: its ABI and its exact version, since
// an addon built against one Node's headers may fail to load, or crash, under another.
const builtForFile = path.join(root, 'node_modules', '.mykey-built-for');
const runningNode = `${process.version} abi ${process.versions.modules} ${process.platform}-${process.arch}`;
const builtFor = () => (existsSync(builtForFile) ? readFileSync(builtForFile, 'utf8').trim() : undefined);

/** The packages with a native addon of their own to compile: those allowed to run install scripts that have a binding.gyp. */
function nativeAddons() {
  const { allowScripts = {} } = JSON.parse(readFileSync(path.join(root, 'package.json'), 'utf8'));
  return Object.entries(allowScripts)
    .filter(([name, allowed]) => allowed && existsSync(path.join(root, 'node_modules', name, 'binding.gyp')))
    .map(([name]) => name);
}

/** Runs npm with `args` in the repository, or exits saying what failed. */
function npm(args, what) {
  const result = spawnSync(process.platform === 'win32' ? 'npm.cmd' : 'npm', args, { cwd: root, stdio: 'inherit' });
  if (result.status !== 0) {
    console.error(`[setup] ${what} failed; see the messages above.`);
    process.exit(result.status ?? 1);
  }
}

function ensureBuildPackages() {
  try {
    ensureDebianPackages(BUILD_PACKAGES);
  } catch (error) {
    console.error(`[setup] ${error.message}`);
    process.exit(1);
  }
}

if (dependenciesStale()) {
  const fresh = !existsSync(path.join(root, 'node_modules'));
  ensureBuildPackages();
  console.log('[setup] installing npm dependencies (npm install)…');
  npm(['install', '--no-audit', '--no-fund'], 'npm install');
  // A first install compiled every addon for this Node; a later one kept those already there.
  if (fresh) writeFileSync(builtForFile, `${runningNode}\n`);
}

if (builtFor() !== runningNode) {
  const addons = nativeAddons();
  ensureBuildPackages();
  console.log(`[setup] native addons built for ${builtFor() ?? 'an unknown Node'}, running ${runningNode}: npm rebuild ${addons.join(' ')}…`);
  npm(['rebuild', ...addons], 'npm rebuild');
  writeFileSync(builtForFile, `${runningNode}\n`);
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
