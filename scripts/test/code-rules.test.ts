// The calls the production code must not make (scripts/lib/code-rules.ts) are found, with the
// file, the line and why, in a scratch tree laid out like the repository; a file that keeps to
// them passes, and so does the repository itself.
import test from 'ava';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { rootDir } from '@mykey/dev-tools/paths.ts';
import { codeBreaches, RULED_PATHS } from '../lib/code-rules.ts';

const tree = mkdtempSync(path.join(os.tmpdir(), 'mykey-code-rules-'));
test.after.always(() => rmSync(tree, { recursive: true, force: true }));

function write(file: string, text: string): void {
  mkdirSync(path.dirname(path.join(tree, file)), { recursive: true });
  writeFileSync(path.join(tree, file), text);
}

test('no-knex-stream: a knex stream() in the backend is found with its file, line and why', (t) => {
  for (const dir of RULED_PATHS) mkdirSync(path.join(tree, dir), { recursive: true });
  write('backend/src/ledger/expiring.ts', "const rows = [];\nfor await (const row of db('ledger_lots').select('id').stream()) rows.push(row);\n");
  write('backend/src/ledger/paged.ts', "const page = await db('ledger_lots').where('id', '>', after).orderBy('id').limit(1000);\n");
  write('backend/node_modules/knex/lib/runner.js', 'stream() { return this.client.stream(); }\n');
  const breaches = codeBreaches(tree);
  t.deepEqual(breaches.map(({ rule, file, line }) => ({ rule, file, line })), [{ rule: 'no-knex-stream', file: 'backend/src/ledger/expiring.ts', line: 2 }]);
  t.regex(breaches[0]!.why, /gives its connection back twice/);
});

test('the repository keeps to the rules', (t) => {
  t.deepEqual(codeBreaches(rootDir), []);
});
