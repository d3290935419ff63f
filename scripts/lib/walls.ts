// The walls between the workspaces, as dependency-cruiser checks them (.dependency-cruiser.cjs):
// run by `npm run typecheck`, and over files made to break them by scripts/test/walls.test.ts.
import { spawnSync } from 'node:child_process';
import path from 'node:path';
import { rootDir } from '@mykey/dev-tools/paths.ts';

/** Every folder of code, with its tests, benchmarks, scripts and seeds. */
export const WALLED_PATHS = ['backend', 'reader-agent', 'frontend/src', 'packages', 'scripts', 'seeds', 'knexfile.ts'];

const CRUISER = path.join(rootDir, 'node_modules/dependency-cruiser/bin/dependency-cruise.mjs');

/** What the rules read besides the code: themselves, the TypeScript settings and every package.json. */
export const WALL_FILES = ['.dependency-cruiser.cjs', 'tsconfig.json', 'package.json'];

/** The arguments of a cruise over `paths` (relative to the tree cruised) printing `outputType`. */
export function cruiserArgs(paths: string[], outputType: 'err' | 'json'): string[] {
  return [CRUISER, '--config', '.dependency-cruiser.cjs', '--output-type', outputType, ...paths];
}

export interface Violation { rule: { name: string }; from: string; to: string }

/** The rules `paths` break, in the tree at `tree` (the repository unless said otherwise). */
export function cruise(paths: string[], tree: string = rootDir): Violation[] {
  const run = spawnSync(process.execPath, cruiserArgs(paths, 'json'), { cwd: tree, encoding: 'utf8', maxBuffer: 256 * 1024 * 1024 });
  if (run.error || !run.stdout.startsWith('{')) throw new Error(`dependency-cruiser did not answer: ${run.error?.message ?? run.stderr}`);
  return (JSON.parse(run.stdout) as { summary: { violations: Violation[] } }).summary.violations;
}
