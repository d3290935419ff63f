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

test('no-server-locks: table locks, GET_LOCK and XA, which a Galera cluster does not share, are found', (t) => {
  for (const dir of RULED_PATHS) mkdirSync(path.join(tree, dir), { recursive: true });
  write('backend/migrations/20990101000000_locked.ts', "await knex.raw('LOCK TABLES ledger_accounts WRITE');\n");
  write('backend/src/jobs/singleton.ts', "const [[got]] = await db.raw(\"SELECT GET_LOCK('expiry', 0) AS got\");\nawait db.raw('xa start ?', [id]);\n");
  write('backend/src/ledger/rows.ts', "await trx('ledger_accounts').whereIn('id', ids).forUpdate(); // row locks are certified across nodes\n");
  const breaches = codeBreaches(tree).filter((breach) => breach.rule === 'no-server-locks');
  t.deepEqual(breaches.map(({ file, line }) => ({ file, line })).sort((a, b) => a.file.localeCompare(b.file) || a.line - b.line), [
    { file: 'backend/migrations/20990101000000_locked.ts', line: 1 },
    { file: 'backend/src/jobs/singleton.ts', line: 1 },
    { file: 'backend/src/jobs/singleton.ts', line: 2 },
  ]);
  t.regex(breaches[0]!.why, /Galera/);
});

test('the repository keeps to the rules', (t) => {
  t.deepEqual(codeBreaches(rootDir), []);
});
