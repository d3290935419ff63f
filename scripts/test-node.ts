// `npm run test-node -- 22 [ava args…]`: the whole suite (`npm test`) on another major version
// of Node than the machine's, to prove the Node versions the README promises. That Node comes
// from the npm registry's `node` package (which installs the platform's `node-<os>-<arch>`
// package: the official binary with its headers), into .data/tools/node-<major>; nothing is
// downloaded from anywhere else. Native addons are compiled against those bundled headers:
// bootstrap.mjs rebuilds them when it finds them built for another Node, and again when the
// machine's Node runs next.
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { dataDir, rootDir } from '@mykey/dev-tools/paths.ts';

const [major, ...avaArgs] = process.argv.slice(2);
if (!major || !/^\d+$/.test(major)) {
  console.error('usage: npm run test-node -- <major version, e.g. 22> [test files or ava options…]');
  process.exit(2);
}

const toolDir = path.join(dataDir, 'tools', `node-${major}`);
/** Where the `node` package puts the official distribution: bin/node and include/node. */
const nodeHome = path.join(toolDir, 'node_modules', 'node', 'node_modules', `node-${process.platform}-${process.arch}`);
const nodeBinary = path.join(nodeHome, 'bin', 'node');

function versionOf(binary: string): string | undefined {
  if (!existsSync(binary)) return undefined;
  return spawnSync(binary, ['--version'], { encoding: 'utf8' }).stdout.trim();
}

if (!versionOf(nodeBinary)?.startsWith(`v${major}.`)) {
  mkdirSync(toolDir, { recursive: true });
  // The `node` package fetches its binary in a preinstall script, which npm runs only when allowed.
  writeFileSync(path.join(toolDir, 'package.json'), `${JSON.stringify({ private: true, dependencies: { node: `^${major}` }, allowScripts: { node: true } }, null, 2)}\n`);
  console.log(`[test-node] installing Node ${major} from the npm registry into ${toolDir}…`);
  const install = spawnSync('npm', ['install', '--no-audit', '--no-fund'], { cwd: toolDir, stdio: 'inherit' });
  const version = versionOf(nodeBinary);
  if (install.status !== 0 || !version?.startsWith(`v${major}.`)) {
    console.error(`[test-node] could not install Node ${major} (npm exit ${install.status}, found ${version ?? 'no binary'} at ${nodeBinary})`);
    process.exit(1);
  }
}
if (!existsSync(path.join(nodeHome, 'include', 'node', 'node_api.h'))) {
  console.error(`[test-node] ${nodeHome} has no include/node headers to build native addons with`);
  process.exit(1);
}

console.log(`[test-node] npm test on Node ${versionOf(nodeBinary)} (${nodeBinary})`);
// First on PATH, so `npm` and every `node` the suite starts are this one; node-gyp builds
// against its headers instead of the machine Node's (npm's nodedir setting).
const child = spawn(nodeBinary, ['scripts/bootstrap.mjs', 'scripts/test.ts', ...avaArgs], {
  cwd: rootDir,
  stdio: 'inherit',
  env: { ...process.env, PATH: `${path.dirname(nodeBinary)}${path.delimiter}${process.env.PATH}`, npm_config_nodedir: nodeHome },
});
for (const signal of ['SIGINT', 'SIGTERM'] as const) process.on(signal, () => child.kill(signal));
child.on('exit', (code, signal) => process.exit(code ?? (signal ? 1 : 0)));
