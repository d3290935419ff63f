// `npm run typecheck`: strict TypeScript over the Node workspaces, svelte-check over the console,
// the walls between the workspaces (dependency-cruiser, .dependency-cruiser.cjs), and the calls
// the production code must not make (lib/code-rules.ts).
import { spawnSync } from 'node:child_process';
import path from 'node:path';
import { rootDir } from '@mykey/dev-tools/paths.ts';
import { codeBreaches } from './lib/code-rules.ts';
import { cruiserArgs, WALLED_PATHS } from './lib/walls.ts';

const checks: Array<[string, string[], string]> = [
  ['tsc', ['node_modules/typescript/bin/tsc', '-p', 'tsconfig.json'], rootDir],
  ['svelte-check', ['../node_modules/svelte-check/bin/svelte-check', '--tsconfig', './tsconfig.json', '--fail-on-warnings'], path.join(rootDir, 'frontend')],
  ['dependency-cruiser', cruiserArgs(WALLED_PATHS, 'err'), rootDir],
];
let failed = false;
for (const [name, args, cwd] of checks) {
  console.log(`[typecheck] ${name}`);
  failed = spawnSync(process.execPath, args, { cwd, stdio: 'inherit' }).status !== 0 || failed;
}
console.log('[typecheck] code rules');
const breaches = codeBreaches(rootDir);
for (const b of breaches) console.error(`${b.file}:${b.line}: ${b.rule}: ${b.why}`);
console.log(breaches.length === 0 ? '✔ no call the production code must not make' : `✘ ${breaches.length} call(s) the production code must not make`);
process.exit(failed || breaches.length > 0 ? 1 : 0);
