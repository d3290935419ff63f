// The walls between the workspaces fail when broken: each rule of .dependency-cruiser.cjs, run
// as `npm run typecheck` runs it, over a file written into the tree to break it (removed after),
// and a file that keeps to the walls passes.
import test from 'ava';
import { randomBytes } from 'node:crypto';
import { mkdirSync, rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { rootDir } from '@mykey/dev-tools/paths.ts';
import { cruise, type Violation } from '../lib/walls.ts';

const tag = `walls-check-${randomBytes(4).toString('hex')}`;
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

let cruised: Promise<Violation[]> | undefined;

/** One cruise over every file above, written on first use. */
function violations(): Promise<Violation[]> {
  cruised ??= Promise.resolve().then(() => {
    for (const { file, imports } of files) {
      mkdirSync(path.dirname(path.join(rootDir, file)), { recursive: true });
      writeFileSync(path.join(rootDir, file), `import '${imports}';\n`);
    }
    return cruise(files.map(({ file }) => file));
  });
  return cruised;
}

test.after.always(() => {
  for (const { file } of files) rmSync(path.join(rootDir, file), { force: true });
  for (const folder of [featureA, featureB]) rmSync(path.join(rootDir, folder), { recursive: true, force: true });
});

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
