// The walls between the workspaces fail when broken: each rule of .dependency-cruiser.cjs, run
// as `npm run typecheck` runs it, over a file that breaks it, and a file that keeps to the walls
// passes. The files go into a scratch tree laid out like the repository (its rules, settings,
// package.json files and node_modules), never into the repository itself, where the other tests
// run beside this one (a file appearing in packages/contracts/src would make npm start rebuild
// the console under them).
import test from 'ava';
import { copyFileSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { rootDir } from '@mykey/dev-tools/paths.ts';
import { cruise, WALL_FILES, type Violation } from '../lib/walls.ts';

const tag = 'walls-check';
const featureA = `backend/src/${tag}-a`;
const featureB = `backend/src/${tag}-b`;

/** Each file, what it imports, and the rule it breaks (none: it keeps to the walls). */
const files: Array<{ file: string; imports: string; breaks?: string; from?: string }> = [
  { file: `reader-agent/src/${tag}.ts`, imports: '../../backend/src/db.ts', breaks: 'no-relative-import-across-workspaces' },
  { file: `backend/test/${tag}.ts`, imports: '../../scripts/lib/walls.ts', breaks: 'no-relative-import-across-workspaces' },
  { file: `scripts/${tag}.ts`, imports: '../backend/src/db.ts', breaks: 'no-relative-import-from-root-into-workspaces' },
  { file: `packages/contracts/src/${tag}.ts`, imports: '@mykey/backend/db.ts', breaks: 'contracts-import-nothing-of-ours' },
  { file: `backend/src/${tag}-dev-tools.ts`, imports: '@mykey/dev-tools/ports.ts', breaks: 'production-not-to-dev-tools' },
  { file: `reader-agent/src/agent/${tag}.ts`, imports: '../simulator/card.ts', breaks: 'production-not-to-dev-tools' },
  { file: `backend/src/${tag}-agent.ts`, imports: '@mykey/reader-agent/agent/local-api.ts', breaks: 'production-imports-only-contracts' },
  { file: `backend/src/${tag}-tests.ts`, imports: '../test/helpers/names.ts', breaks: 'production-not-to-tests' },
  { file: `backend/src/${tag}-ava.ts`, imports: 'ava', breaks: 'production-not-to-dev-dependencies' },
  { file: `packages/dev-tools/src/${tag}.ts`, imports: 'koa', breaks: 'no-undeclared-package' },
  { file: `reader-agent/test/${tag}.ts`, imports: 'knex', breaks: 'no-undeclared-package' },
  { file: `reader-agent/src/${tag}-missing.ts`, imports: `./${tag}-nowhere.ts`, breaks: 'not-to-unresolvable' },
  { file: `${featureA}/a.ts`, imports: `../${tag}-b/b.ts`, breaks: 'no-cycle-between-backend-features', from: featureA },
  { file: `${featureB}/b.ts`, imports: `../${tag}-a/a.ts` },
  { file: `scripts/${tag}-one.ts`, imports: `./${tag}-two.ts`, breaks: 'no-circular' },
  { file: `scripts/${tag}-two.ts`, imports: `./${tag}-one.ts` },
  { file: `reader-agent/src/${tag}-kept.ts`, imports: '@mykey/contracts/mykey-id.ts' },
];

const tree = mkdtempSync(path.join(os.tmpdir(), 'mykey-walls-'));

function write(file: string, text: string): void {
  mkdirSync(path.dirname(path.join(tree, file)), { recursive: true });
  writeFileSync(path.join(tree, file), text);
}

/** The scratch tree: the walls' own files, every workspace's package.json, node_modules (linked), and the files above. */
function layTree(): void {
  const workspaces: string[] = JSON.parse(readFileSync(path.join(rootDir, 'package.json'), 'utf8')).workspaces;
  for (const file of [...WALL_FILES, ...workspaces.map((folder) => `${folder}/package.json`)]) {
    mkdirSync(path.dirname(path.join(tree, file)), { recursive: true });
    copyFileSync(path.join(rootDir, file), path.join(tree, file));
  }
  symlinkSync(path.join(rootDir, 'node_modules'), path.join(tree, 'node_modules'));
  for (const { file, imports, breaks } of files) {
    write(file, `import '${imports}';\n`);
    // A relative import's target exists, as in the repository, except where its absence is the fault.
    const target = path.join(path.dirname(file), imports);
    if (imports.startsWith('.') && breaks !== 'not-to-unresolvable' && !existsSync(path.join(tree, target))) write(target, 'export {};\n');
  }
}

let cruised: Promise<Violation[]> | undefined;

/** One cruise over every file above, laid out on first use. */
function violations(): Promise<Violation[]> {
  cruised ??= Promise.resolve().then(() => {
    layTree();
    return cruise(files.map(({ file }) => file), tree);
  });
  return cruised;
}

test.after.always(() => rmSync(tree, { recursive: true, force: true }));

for (const { file, imports, breaks, from = file } of files.filter((f) => f.breaks)) {
  test(`${breaks}: ${file.replace(tag, '…')} importing ${imports.replace(tag, '…')}`, async (t) => {
    const found = (await violations()).filter((v) => v.from === from).map((v) => v.rule.name);
    t.true(found.includes(breaks!), `${from} broke ${found.join(', ') || 'nothing'}`);
  });
}

test('a file importing another workspace by its package name, as declared, breaks nothing', async (t) => {
  const kept = `reader-agent/src/${tag}-kept.ts`;
  t.deepEqual((await violations()).filter((v) => v.from === kept), []);
});
