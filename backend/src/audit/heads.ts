// The chain's head (seq, hash, keyed boundary) written outside MySQL: daily by the worker and on
// demand (`npm run mykey -- audit-export`), one JSON line appended per export. What someone who
// controls only the database cannot reach: audit-verify checks the database against every line,
// so a log cut back below an exported head, or re-hashed up to one, shows.
import { mkdir, open, readFile } from 'node:fs/promises';
import path from 'node:path';
import { z } from 'zod';
import type { Db } from '../db.ts';
import { chainHead, type ExportedHead } from './chain.ts';

export const AUDIT_EXPORT_QUEUE = 'audit-export';

/** The file in AUDIT_EXPORT_DIR that heads are appended to. */
export const HEADS_FILE = 'audit-heads.jsonl';

const exportedHead = z.strictObject({
  at: z.iso.datetime(),
  seq: z.number().int().min(0),
  hash: z.string().regex(/^[0-9a-f]{64}$/),
  keyedFrom: z.number().int().min(1),
});

/** Appends the head as it is now to `dir`/audit-heads.jsonl, on disk before it answers. */
export async function exportAuditHead(db: Db, dir: string, now = new Date()): Promise<ExportedHead> {
  const head = await chainHead(db);
  const line: ExportedHead = { at: now.toISOString(), seq: head.seq, hash: head.hash.toString('hex'), keyedFrom: head.keyedFrom };
  await mkdir(dir, { recursive: true, mode: 0o700 });
  // One write of one line in append mode: lines from workers exporting at once do not mix.
  const file = await open(path.join(dir, HEADS_FILE), 'a', 0o600);
  try {
    await file.appendFile(`${JSON.stringify(line)}\n`);
    await file.sync();
  } finally {
    await file.close();
  }
  return line;
}

/** Every head in an export file; a line that is not one is an error (the file is not to be trusted then). */
export async function readExportedHeads(file: string): Promise<ExportedHead[]> {
  const text = await readFile(file, 'utf8');
  return text.split('\n').flatMap((line, index) => {
    if (line.trim() === '') return [];
    let parsed: unknown;
    try {
      parsed = JSON.parse(line);
    } catch {
      parsed = undefined;
    }
    const head = exportedHead.safeParse(parsed);
    if (!head.success) throw new Error(`${file} line ${index + 1} is not an exported audit head`);
    return [head.data];
  });
}
