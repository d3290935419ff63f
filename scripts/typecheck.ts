// `npm run typecheck`: strict TypeScript over the Node workspaces, svelte-check over the console,
// and the walls between the workspaces (dependency-cruiser, .dependency-cruiser.cjs).
import { spawnSync } from 'node:child_process';
import path from 'node:path';
import { rootDir } from '@mykey/dev-tools/paths.ts';
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
process.exit(failed ? 1 : 0);
