// scripts/bootstrap.mjs in a project of its own (a copy in a temporary folder): a native addon
// built for another Node is rebuilt before the entry point runs, once; one built for this Node
// is left alone. The addon is a real one, compiled by node-gyp against this Node's headers.
import test from 'ava';
import { execFile } from 'node:child_process';
import { copyFileSync, mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, symlinkSync, utimesSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { rootDir } from '@mykey/dev-tools/paths.ts';

const runningNode = `${process.version} abi ${process.versions.modules} ${process.platform}-${process.arch}`;

/** A project with bootstrap.mjs, an allowed addon `tiny` (one C file) and an entry that says it ran. */
function project(t: { teardown(fn: () => void): void }): string {
  const dir = mkdtempSync(path.join(tmpdir(), 'bootstrap-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const file = (name: string, text: string) => {
    mkdirSync(path.dirname(path.join(dir, name)), { recursive: true });
    writeFileSync(path.join(dir, name), text);
  };
  for (const name of ['scripts/bootstrap.mjs', 'packages/dev-tools/src/debian.mjs']) {
    mkdirSync(path.dirname(path.join(dir, name)), { recursive: true });
    copyFileSync(path.join(rootDir, name), path.join(dir, name));
  }
  file('package.json', JSON.stringify({ name: 'bootstrap-check', private: true, dependencies: { tiny: 'file:./tiny' }, allowScripts: { tiny: true } }));
  const lock = JSON.stringify({ name: 'bootstrap-check', lockfileVersion: 3, requires: true, packages: { 'node_modules/tiny': { version: '1.0.0', hasInstallScript: true } } });
  file('package-lock.json', lock);
  file('node_modules/.package-lock.json', lock);
  // Installed after the lock file changed last: bootstrap must not run npm install.
  utimesSync(path.join(dir, 'package-lock.json'), new Date(0), new Date(0));
  file('node_modules/tiny/package.json', JSON.stringify({ name: 'tiny', version: '1.0.0', gypfile: true }));
  file('node_modules/tiny/binding.gyp', JSON.stringify({ targets: [{ target_name: 'tiny', sources: ['tiny.c'] }] }));
  file('node_modules/tiny/tiny.c', '#include <node_api.h>\nstatic napi_value init(napi_env env, napi_value exports) { return exports; }\nNAPI_MODULE(NODE_GYP_MODULE_NAME, init)\n');
  symlinkSync(path.join(rootDir, 'node_modules', 'tsx'), path.join(dir, 'node_modules', 'tsx'));
  file('entry.ts', "console.log('entry ran');\n");
  return dir;
}

function bootstrap(dir: string): Promise<{ code: number; output: string }> {
  return new Promise((resolve) => {
    execFile(process.execPath, ['scripts/bootstrap.mjs', 'entry.ts'], { cwd: dir, encoding: 'utf8', timeout: 300_000 }, (error, stdout, stderr) => {
      resolve({ code: error ? Number(error.code ?? 1) : 0, output: `${stdout}${stderr}` });
    });
  });
}

const addon = (dir: string) => path.join(dir, 'node_modules', 'tiny', 'build', 'Release', 'tiny.node');
const builtFor = (dir: string) => readFileSync(path.join(dir, 'node_modules', '.mykey-built-for'), 'utf8').trim();

test('an addon built for another Node is rebuilt for this one before the entry runs, and only once', async (t) => {
  const dir = project(t);
  writeFileSync(path.join(dir, 'node_modules', '.mykey-built-for'), 'v18.20.0 abi 108 linux-x64\n');
  const first = await bootstrap(dir);
  t.is(first.code, 0, first.output);
  t.regex(first.output, /native addons built for v18\.20\.0 abi 108 linux-x64, running .*: npm rebuild tiny/);
  t.true(first.output.indexOf('npm rebuild tiny') < first.output.indexOf('entry ran'));
  t.is(builtFor(dir), runningNode);
  const built = statSync(addon(dir)).mtimeMs;

  const second = await bootstrap(dir);
  t.is(second.code, 0, second.output);
  t.false(second.output.includes('npm rebuild'), second.output);
  t.true(second.output.includes('entry ran'));
  t.is(statSync(addon(dir)).mtimeMs, built, 'built for this Node: left alone');
});

test('a checkout that never recorded its Node (installed before this check existed) is rebuilt once', async (t) => {
  const dir = project(t);
  const run = await bootstrap(dir);
  t.is(run.code, 0, run.output);
  t.regex(run.output, /native addons built for an unknown Node, running .*: npm rebuild tiny/);
  t.is(builtFor(dir), runningNode);
  statSync(addon(dir));
});
