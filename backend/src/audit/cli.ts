// The audit log on the operators' command line (scripts/mykey.ts): verify it against the
// exported heads, export its head now, erase a free text on a lawful request.
import { existsSync } from 'node:fs';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { auditExportDir, ConfigError, loadAuditConfig, mykeySecret } from '../config.ts';
import type { Db } from '../db.ts';
import { commandDb } from '../command-line.ts';
import { eraseAuditTexts, TextNotErasable, verifyAuditChain, type ChainVerdict, type TextsToErase } from './chain.ts';
import { exportAuditHead, HEADS_FILE, readExportedHeads } from './heads.ts';
import { useAuditSecret } from './keys.ts';

export const VERIFY_USAGE = '[--heads FILE]';
const EXPORT_USAGE = 'npm run mykey -- audit-export';
const ERASE_USAGE = 'npm run mykey -- audit-erase-text (--seq N [--name NAME] | --ref HEX) --by WHO --why WHY';

/** Sets this process's audit keys from `env`; answers the export folder (undefined: none configured). */
function auditSetup(env: NodeJS.ProcessEnv): string | undefined {
  const config = loadAuditConfig(env);
  useAuditSecret(mykeySecret(config));
  return auditExportDir(config);
}

/** `[--heads FILE]`: the heads to check against; undefined when called wrongly. */
export function verifyArgs(args: string[]): { heads?: string } | undefined {
  try {
    return parseArgs({ args, options: { heads: { type: 'string' } }, strict: true }).values;
  } catch {
    return undefined;
  }
}

/**
 * The verdict on the log with the keys of `env`, against the heads in `--heads FILE`, or else in
 * the export folder's file when there is one ({ heads: 0 } in the verdict says none were).
 */
export async function verifyCommandReport(db: Db, options: { heads?: string }, env: NodeJS.ProcessEnv): Promise<ChainVerdict> {
  const exportDir = auditSetup(env);
  const exported = exportDir && path.join(exportDir, HEADS_FILE);
  const file = options.heads ?? (exported && existsSync(exported) ? exported : undefined);
  return verifyAuditChain(db, { heads: file ? await readExportedHeads(file) : [] });
}

const answer = (exit: number, body: unknown) => {
  process.stdout.write(`${JSON.stringify(body)}\n`);
  return exit;
};

/** Prints the head it appended to the export file; exit 2 for bad usage or configuration. */
export async function auditExportCommand(args: string[], databaseUrl: string, env: NodeJS.ProcessEnv = process.env): Promise<number> {
  if (args.length > 0) return answer(2, { error: 'usage', detail: `usage: ${EXPORT_USAGE} (no arguments; the folder is AUDIT_EXPORT_DIR)` });
  let dir: string | undefined;
  try {
    dir = auditSetup(env);
  } catch (error) {
    if (!(error instanceof ConfigError)) throw error;
    return answer(2, { error: 'config_invalid', detail: error.problems.join('; ') });
  }
  if (!dir) return answer(2, { error: 'config_invalid', detail: 'AUDIT_EXPORT_DIR: set it to the folder to export to' });
  const db = commandDb(databaseUrl, 'audit-export');
  try {
    return answer(0, { file: path.join(dir, HEADS_FILE), ...await exportAuditHead(db, dir) });
  } finally {
    await db.destroy();
  }
}

/** What to erase and the request's who and why, from the arguments; a string says what is wrong. */
function eraseRequest(args: string[]): { target: TextsToErase; by: string; why: string } | string {
  let values;
  try {
    ({ values } = parseArgs({ args, strict: true, options: { seq: { type: 'string' }, name: { type: 'string' }, ref: { type: 'string' }, by: { type: 'string' }, why: { type: 'string' } } }));
  } catch (error) {
    return (error as Error).message;
  }
  const { seq, name, ref, by, why } = values;
  if (!by?.trim() || !why?.trim()) return '--by and --why are required: who erases, and on what request or ground';
  if ([...by].length > 200 || [...why].length > 2000) return '--by is at most 200 characters, --why at most 2000';
  if ((seq === undefined) === (ref === undefined)) return 'give either --seq or --ref';
  if (ref !== undefined) {
    if (name !== undefined) return '--name goes with --seq';
    if (!/^[0-9a-f]{64}$/i.test(ref)) return '--ref is the text\'s reference: 64 hex digits';
    return { target: { ref: ref.toLowerCase() }, by: by.trim(), why: why.trim() };
  }
  if (!/^[1-9][0-9]{0,18}$/.test(seq!)) return '--seq is an event\'s seq: a whole number from 1';
  return { target: { seq: Number(seq), ...(name === undefined ? {} : { name }) }, by: by.trim(), why: why.trim() };
}

/** Exit 0: erased (the erasure event's seq and what it erased); 1: nothing to erase; 2: bad usage or configuration. */
export async function auditEraseTextCommand(args: string[], databaseUrl: string, env: NodeJS.ProcessEnv = process.env): Promise<number> {
  const request = eraseRequest(args);
  if (typeof request === 'string') return answer(2, { error: 'usage', detail: `${request}; usage: ${ERASE_USAGE}` });
  try {
    auditSetup(env);
  } catch (error) {
    if (!(error instanceof ConfigError)) throw error;
    return answer(2, { error: 'config_invalid', detail: error.problems.join('; ') });
  }
  const db = commandDb(databaseUrl, 'audit-erase-text');
  try {
    return answer(0, await eraseAuditTexts(db, request.target, request));
  } catch (error) {
    if (!(error instanceof TextNotErasable)) throw error;
    return answer(1, { error: error.code, detail: error.message });
  } finally {
    await db.destroy();
  }
}
