import { spawnSync } from 'node:child_process';
import { existsSync, readdirSync, statSync } from 'node:fs';
import path from 'node:path';
import { rootDir } from '@mykey/dev-tools/paths.ts';

const frontendDir = path.join(rootDir, 'frontend');
export const consoleDir = path.join(frontendDir, 'dist');

function newestMtime(target: string): number {
  if (!existsSync(target)) return 0;
  const stat = statSync(target);
  if (!stat.isDirectory()) return stat.mtimeMs;
  return Math.max(stat.mtimeMs, ...readdirSync(target).map((name) => newestMtime(path.join(target, name))));
}

/** Builds the console with Vite unless the last build is newer than every source file. */
export function buildConsoleIfStale(): void {
  const sources = ['src', 'index.html', 'vite.config.ts', 'svelte.config.js', 'package.json'].map((name) => path.join(frontendDir, name))
    // The contracts the console imports: the problem messages, the shapes the API answers with.
    .concat(path.join(rootDir, 'packages', 'contracts', 'src'));
  const built = newestMtime(path.join(consoleDir, 'index.html'));
  if (built > 0 && built >= Math.max(...sources.map(newestMtime))) return;
  console.log('[console] building the console (vite build)…');
  const result = spawnSync('npm', ['run', 'build', '-w', 'frontend'], { cwd: rootDir, stdio: 'inherit' });
  if (result.status !== 0) throw new Error('The console build failed; see the messages above.');
}
