// The walls between the workspaces, as dependency-cruiser checks them (.dependency-cruiser.cjs):
// run by `npm run typecheck`, and over files made to break them by scripts/test/walls.test.ts.
import { spawnSync } from 'node:child_process';
import { rootDir } from '@mykey/dev-tools/paths.ts';

/** Every folder of code, with its tests, benchmarks, scripts and seeds. */
export const WALLED_PATHS = ['backend', 'reader-agent', 'frontend/src', 'packages', 'scripts', 'seeds', 'knexfile.ts'];

const CRUISER = 'node_modules/dependency-cruiser/bin/dependency-cruise.mjs';

/** The arguments of a cruise over `paths` (relative to the repository) printing `outputType`. */
export function cruiserArgs(paths: string[], outputType: 'err' | 'json'): string[] {
  return [CRUISER, '--config', '.dependency-cruiser.cjs', '--output-type', outputType, ...paths];
}

export interface Violation { rule: { name: string }; from: string; to: string }

/** The rules `paths` break. */
export function cruise(paths: string[]): Violation[] {
  const run = spawnSync(process.execPath, cruiserArgs(paths, 'json'), { cwd: rootDir, encoding: 'utf8', maxBuffer: 256 * 1024 * 1024 });
  if (run.error || !run.stdout.startsWith('{')) throw new Error(`dependency-cruiser did not answer: ${run.error?.message ?? run.stderr}`);
  return (JSON.parse(run.stdout) as { summary: { violations: Violation[] } }).summary.violations;
}
