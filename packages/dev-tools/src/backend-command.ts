// How the API server and the worker are started: exactly as backend/package.json's scripts start
// them in production (`npm run server -w backend`, docs/operations.md), so that npm start, the
// cluster, the tests and the benchmarks run them with the same Node options as a deployment.
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { rootDir } from './paths.ts';

/** Node's arguments for backend/src/<script>.ts, from the root of the checkout: the script's options, then the file. */
export function backendNodeArgs(script: 'server' | 'worker'): string[] {
  const scripts = JSON.parse(readFileSync(path.join(rootDir, 'backend', 'package.json'), 'utf8')).scripts as Record<string, string>;
  const [node, ...args] = scripts[script]!.split(/\s+/);
  const file = `src/${script}.ts`;
  if (node !== 'node' || args.at(-1) !== file) throw new Error(`backend/package.json's ${script} script must be "node <options> ${file}", not "${scripts[script]}"`);
  return [...args.slice(0, -1), `backend/${file}`];
}
