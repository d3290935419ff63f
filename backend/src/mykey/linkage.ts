// Renewal from the national PKI: J-LIS tells which new card succeeds which old one, and each
// old card we know passes its MyKey ID to the new card. The file is the whole nation's, so it
// is streamed, and most records (cards that are not our residents') cost a share of one
// batched look-up, not a transaction. Format and outcomes: docs/identity.md.
import { open } from 'node:fs/promises';
import path from 'node:path';
import type * as pkijs from 'pkijs';
import { useAuditSecret } from '../audit/keys.ts';
import { ConfigError, loadIdentityConfig, mykeySecret } from '../config.ts';
import { fieldLines } from '../csv.ts';
import { retryTransient, type Db } from '../db.ts';
import { commandDb } from '../command-line.ts';
import { loadTrustAnchors } from '../jpki/anchors.ts';
import { formatRfc4514, nameAttributes, nameKey, parseRfc4514 } from '../jpki/names.ts';
import { mykeyRepository as repo } from './repository.ts';
import { certificateKey } from './id.ts';
import { linkageDecision, linkFromFile, type LinkageOutcome } from './service.ts';

export const LINKAGE_HEADER = 'old_issuer,old_serial,new_issuer,new_serial';
const MAX_LINE_BYTES = 4096;
const LINE_PROBLEMS = { too_long: `longer than ${MAX_LINE_BYTES} bytes`, not_utf8: 'not UTF-8' } as const;
// Records looked up together: one query for the cards of a thousand lines.
const BATCH = 1000;
const MAX_LISTED = 100;
// RFC 5280 §4.1.2.2: a serial number is at most 20 octets.
const MAX_SERIAL_BYTES = 20;
const MAX_CACHED_ISSUERS = 64;

export type RecordOutcome = LinkageOutcome | 'issuer_unknown' | 'malformed';

export interface LinkageSummary {
  file: string;
  /** Lines read, the header included. */
  lines: number;
  /** Lines after the header that are not blank: each has exactly one outcome. */
  records: number;
  outcomes: Record<RecordOutcome, number>;
  /** The first malformed lines (up to 100), with why. */
  malformedLines: Array<{ line: number; reason: string }>;
  /** Issuers named in the file that are no trust anchor (up to 100), and the names the anchors go by. */
  unknownIssuers: string[];
  anchors: string[];
}

/** A file this import refuses as a whole. */
export class LinkageFileError extends Error {
  constructor(readonly code: 'header_invalid' | 'anchors_ambiguous', message: string) {
    super(message);
  }
}

/** `secret`: the MyKey secret, which gives the cards' keyed hashes. */
export interface LinkageDeps { db: Db; secret: Buffer; anchors: pkijs.Certificate[]; clock?: () => Date }

interface LinkageRecord { line: number; oldKey: Buffer; newKey: Buffer }

export async function importLinkage({ db, secret, anchors, clock = () => new Date() }: LinkageDeps, input: AsyncIterable<Buffer>, file: string): Promise<LinkageSummary> {
  const issuers = issuerResolver(anchors);
  const summary: LinkageSummary = {
    file, lines: 0, records: 0,
    outcomes: { linked: 0, already_linked: 0, old_unknown: 0, new_already_has_mykey: 0, issuer_unknown: 0, malformed: 0 },
    malformedLines: [], unknownIssuers: [], anchors: issuers.names,
  };
  const malformed = (line: number, reason: string) => {
    summary.outcomes.malformed++;
    if (summary.malformedLines.length < MAX_LISTED) summary.malformedLines.push({ line, reason });
  };

  async function apply(batch: LinkageRecord[]): Promise<void> {
    const known = await repo.bindingsOf(db, batch.flatMap((r) => [r.oldKey, r.newKey]));
    for (const { line, oldKey, newKey } of batch) {
      const old = known.get(oldKey.toString('hex'));
      const decided = linkageDecision(old, known.get(newKey.toString('hex')));
      const outcome = decided ?? await retryTransient(() => db.transaction((trx) => linkFromFile(trx, oldKey, newKey, { file: path.basename(file), line }, clock())));
      summary.outcomes[outcome]++;
      // A later line may continue from this new card (a resident who renewed twice).
      if (outcome === 'linked' && old) known.set(newKey.toString('hex'), { ...old, certificateStatus: 'active' });
    }
  }

  let batch: LinkageRecord[] = [];
  for await (const line of fieldLines(input, MAX_LINE_BYTES)) {
    summary.lines = line.number;
    if (line.number === 1) {
      if (line.text?.replace(/^\uFEFF/, '').trim().toLowerCase() !== LINKAGE_HEADER) {
        throw new LinkageFileError('header_invalid', `line 1 must be the header "${LINKAGE_HEADER}"`);
      }
      continue;
    }
    if (line.text?.trim() === '') continue;
    summary.records++;
    const record = line.problem ? LINE_PROBLEMS[line.problem] : parseRecord(line.fields!, line.number, issuers, secret);
    if (typeof record === 'string') {
      malformed(line.number, record);
    } else if ('unknownIssuer' in record) {
      summary.outcomes.issuer_unknown++;
      if (!summary.unknownIssuers.includes(record.unknownIssuer) && summary.unknownIssuers.length < MAX_LISTED) summary.unknownIssuers.push(record.unknownIssuer);
    } else {
      batch.push(record);
      if (batch.length >= BATCH) {
        await apply(batch);
        batch = [];
      }
    }
  }
  if (summary.lines === 0) throw new LinkageFileError('header_invalid', `the file is empty; line 1 must be the header "${LINKAGE_HEADER}"`);
  await apply(batch);
  return summary;
}

function parseRecord(fields: string[] | string, line: number, issuers: IssuerResolver, secret: Buffer): LinkageRecord | { unknownIssuer: string } | string {
  if (typeof fields === 'string') return fields;
  if (fields.length !== 4) return `${fields.length} fields; a record has 4: ${LINKAGE_HEADER}`;
  const [oldIssuerText, oldSerialText, newIssuerText, newSerialText] = fields as [string, string, string, string];
  const oldSerial = serialHex(oldSerialText);
  const newSerial = serialHex(newSerialText);
  if (!oldSerial) return 'old_serial is not a serial number in hex (at most 20 bytes)';
  if (!newSerial) return 'new_serial is not a serial number in hex (at most 20 bytes)';
  const oldIssuer = issuers.resolve(oldIssuerText);
  const newIssuer = issuers.resolve(newIssuerText);
  if (typeof oldIssuer === 'string') return `old_issuer: ${oldIssuer}`;
  if (typeof newIssuer === 'string') return `new_issuer: ${newIssuer}`;
  if (!oldIssuer) return { unknownIssuer: oldIssuerText.trim() };
  if (!newIssuer) return { unknownIssuer: newIssuerText.trim() };
  const oldKey = certificateKey(secret, oldIssuer, oldSerial);
  const newKey = certificateKey(secret, newIssuer, newSerial);
  if (oldKey.equals(newKey)) return 'the old and the new card are the same card';
  return { line, oldKey, newKey };
}

/** A serial number in the platform's spelling (upper-case hex bytes, no leading zero bytes), or undefined. */
function serialHex(text: string): string | undefined {
  const digits = text.trim().toUpperCase();
  if (!/^[0-9A-F]{1,64}$/.test(digits)) return undefined;
  const bytes = (digits.length % 2 ? `0${digits}` : digits).replace(/^(00)+(?=.)/, '');
  return bytes.length <= MAX_SERIAL_BYTES * 2 ? bytes : undefined;
}

interface IssuerResolver {
  /** The issuer's DER name; undefined if no anchor has that name; a string if it is not an RFC 4514 name. */
  resolve(text: string): Buffer | undefined | string;
  /** How the anchors are written in a file. */
  names: string[];
}

/**
 * Issuers are named as the subject of a configured trust anchor. A name, not a certificate
 * fingerprint: a CA renews its key under the same name, and cards issued under the old key
 * stay ours after that anchor is retired. The anchor's own DER bytes are used, which are
 * the issuer bytes of the cards it signed.
 */
function issuerResolver(anchors: pkijs.Certificate[]): IssuerResolver {
  const byKey = new Map<string, Buffer>();
  const names = new Set<string>();
  for (const anchor of anchors) {
    const attributes = nameAttributes(anchor.subject);
    if (!attributes) continue; // a name not made of strings cannot be written in the file
    const der = Buffer.from(anchor.subject.toSchema().toBER());
    const key = nameKey(attributes);
    if (byKey.has(key) && !byKey.get(key)!.equals(der)) {
      throw new LinkageFileError('anchors_ambiguous', `two trust anchors are named "${formatRfc4514(attributes)}" in different encodings; a file could not say which is meant`);
    }
    byKey.set(key, der);
    names.add(formatRfc4514(attributes));
  }
  // A national file names one or two issuers a million times: parse each spelling once.
  const cache = new Map<string, Buffer | undefined | string>();
  return {
    names: [...names],
    resolve(text) {
      if (cache.has(text)) return cache.get(text);
      const attributes = parseRfc4514(text.trim());
      const resolved = typeof attributes === 'string' ? attributes : byKey.get(nameKey(attributes));
      if (cache.size < MAX_CACHED_ISSUERS) cache.set(text, resolved);
      return resolved;
    },
  };
}

const USAGE = 'npm run mykey -- import-linkage FILE   (FILE: J-LIS linkage records as CSV, docs/identity.md)';

/**
 * `npm run mykey -- import-linkage FILE`: prints one JSON object, the summary. Exit 0: the file
 * was read to the end (malformed lines are counted, not fatal); 1: the file was refused as a
 * whole (no header); 2: usage, an unreadable file or a bad configuration.
 */
export async function importLinkageCommand(args: string[], databaseUrl: string, env: NodeJS.ProcessEnv = process.env): Promise<number> {
  const fail = (exit: number, error: string, detail: string) => {
    process.stdout.write(`${JSON.stringify({ error, detail })}\n`);
    return exit;
  };
  if (args.length !== 1 || args[0]!.startsWith('-')) return fail(2, 'usage', `one FILE expected; usage: ${USAGE}`);
  const file = args[0]!;
  let anchors: pkijs.Certificate[];
  let secret: Buffer;
  try {
    const config = loadIdentityConfig(env);
    anchors = (await loadTrustAnchors(config)).certificates;
    secret = mykeySecret(config);
    useAuditSecret(secret);
  } catch (error) {
    if (!(error instanceof ConfigError)) throw error;
    return fail(2, 'config_invalid', error.problems.join('; '));
  }
  let handle;
  try {
    handle = await open(file, 'r');
  } catch (error) {
    return fail(2, 'file_unreadable', `cannot open ${file} (${(error as NodeJS.ErrnoException).code ?? String(error)})`);
  }
  if (!(await handle.stat()).isFile()) {
    await handle.close();
    return fail(2, 'file_unreadable', `${file} is not a regular file`);
  }
  // knex's own warnings go to stderr, so stdout holds the summary alone.
  const db = commandDb(databaseUrl, 'import-linkage');
  try {
    const summary = await importLinkage({ db, secret, anchors }, handle.createReadStream({ autoClose: false }), file);
    process.stdout.write(`${JSON.stringify(summary)}\n`);
    return 0;
  } catch (error) {
    if (!(error instanceof LinkageFileError)) throw error;
    return fail(1, error.code, error.message);
  } finally {
    await handle.close();
    await db.destroy();
  }
}
