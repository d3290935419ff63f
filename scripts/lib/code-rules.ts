// Calls the production code must not make, each with why: checked by `npm run typecheck`, and
// over files made to break them by scripts/test/code-rules.test.ts. What an import rule cannot
// say (dependency-cruiser, walls.ts) goes here.
import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';

export interface CodeRule { name: string; pattern: RegExp; why: string }

export const CODE_RULES: CodeRule[] = [
  {
    name: 'no-knex-stream',
    pattern: /\.stream\(/,
    why: 'knex 3.3\'s stream() on the pool gives its connection back twice, so two transactions end up on one connection (docs/audit-log.md): read a page at a time instead',
  },
  {
    name: 'no-server-locks',
    pattern: /\bLOCK\s+TABLES?\b|\bGET_LOCK\s*\(|\bXA\s+(START|BEGIN)\b/i,
    why: 'a Galera cluster (docs/operations.md#cluster) holds table locks and GET_LOCK on one node only, and refuses XA: lock the rows you change (SELECT … FOR UPDATE) instead',
  },
];

/** The production code: what runs in the server, the worker, the agent and the console, and the schema's migrations. */
export const RULED_PATHS = ['backend/src', 'backend/migrations', 'reader-agent/src', 'packages/contracts/src', 'frontend/src'];

export interface Breach { rule: string; why: string; file: string; line: number }

function* sourceFiles(dir: string): Generator<string> {
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const full = path.join(dir, entry.name);
    if (entry.isDirectory() && entry.name !== 'node_modules') yield* sourceFiles(full);
    else if (entry.isFile() && /\.(ts|svelte)$/.test(entry.name)) yield full;
  }
}

/** Every line under `paths` (relative to `tree`) that breaks a rule. */
export function codeBreaches(tree: string, paths: string[] = RULED_PATHS): Breach[] {
  const breaches: Breach[] = [];
  for (const dir of paths) {
    for (const file of sourceFiles(path.join(tree, dir))) {
      readFileSync(file, 'utf8').split('\n').forEach((text, index) => {
        for (const rule of CODE_RULES) {
          if (rule.pattern.test(text)) breaches.push({ rule: rule.name, why: rule.why, file: path.relative(tree, file), line: index + 1 });
        }
      });
    }
  }
  return breaches;
}
