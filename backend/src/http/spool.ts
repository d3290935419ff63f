// Uploads too large to hold in memory (partner batch files, grant CSV files) are streamed to a
// private temporary file, hashed and their lines counted on the way: the hash (what a signature
// covers, or what references are derived from) is known before the file is read back a line at
// a time, and an upload over its limits is refused while it arrives. An upload that declared
// its length and hash beforehand (a signed batch) is kept only if it is exactly what it
// declared. An upload into a shared spool folder first reserves its room there, so that the
// folder never holds more than its configured bytes, whatever number of processes write to it.
import { createHash } from 'node:crypto';
import { createWriteStream } from 'node:fs';
import { mkdir, mkdtemp, readdir, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { pipeline } from 'node:stream/promises';
import type { Problem } from './problems.ts';

export interface SpooledFile {
  path: string;
  /** Hex SHA-256 of the whole upload. */
  sha256: string;
  /** Lines, a last one without a line end included. */
  lines: number;
  /** Removes the file; the caller's to call once done with it. */
  dispose(): Promise<void>;
}

export interface SpoolLimits {
  maxBytes: number;
  tooLarge: () => Problem;
  /** Line ends (\n) allowed while the upload arrives. */
  maxLineEnds: number;
  tooManyLines: () => Problem;
  /** Sees each chunk before it is stored, then once more with none at the end; throws to refuse the upload. */
  inspect?: (chunk?: Buffer) => void;
  /** The body the sender declared (and signed): any other is refused with `mismatch`, and nothing kept. */
  expect?: { bytes: number; sha256: string; mismatch: () => Problem };
  /** A shared spool folder with a cap: the upload reserves its room there (`expect.bytes`, else `maxBytes`) before a byte is written. */
  space?: SpoolSpace;
}

export interface SpoolSpace {
  dir: string;
  /** The most bytes the uploads in `dir` may hold together. */
  maxBytes: number;
  full: () => Problem;
}

/** An upload's folder in a spool folder is named with the bytes it reserved: upload-<bytes>-<random>. */
const RESERVATION = /^upload-([0-9]{1,15})-/;
/** A folder this old was left by a process that died (no upload takes a day): it is removed, not counted. */
const STALE_MS = 24 * 3_600_000;

/** The bytes reserved in the spool folder, after removing what dead processes left. */
async function reservedBytes(dir: string): Promise<number> {
  let total = 0;
  for (const name of await readdir(dir)) {
    const reserved = RESERVATION.exec(name);
    if (!reserved) continue;
    try {
      if (Date.now() - (await stat(path.join(dir, name))).mtimeMs > STALE_MS) await rm(path.join(dir, name), { recursive: true, force: true });
      else total += Number(reserved[1]);
    } catch (error) {
      // Removed by its owner meanwhile: it reserves nothing any more.
      if ((error as NodeJS.ErrnoException).code !== 'ENOENT') throw error;
    }
  }
  return total;
}

/**
 * A new private folder for one upload. In a spool folder, the reservation is made first and
 * counted after, so two processes reserving at once can both be refused but never both pass
 * the cap.
 */
async function uploadDir(limits: SpoolLimits): Promise<string> {
  if (!limits.space) return mkdtemp(path.join(tmpdir(), 'mykey-upload-'));
  const { dir, maxBytes, full } = limits.space;
  await mkdir(dir, { recursive: true, mode: 0o700 });
  const own = await mkdtemp(path.join(dir, `upload-${limits.expect?.bytes ?? limits.maxBytes}-`));
  try {
    if ((await reservedBytes(dir)) > maxBytes) throw full();
  } catch (error) {
    await rm(own, { recursive: true, force: true });
    throw error;
  }
  return own;
}

/** Streams `input` to `fileName` in a new private temporary folder; on a refusal or a failure nothing is left behind. */
export async function spoolUpload(input: AsyncIterable<Buffer>, fileName: string, limits: SpoolLimits): Promise<SpooledFile> {
  const dir = await uploadDir(limits);
  const dispose = () => rm(dir, { recursive: true, force: true });
  const file = path.join(dir, fileName);
  const hash = createHash('sha256');
  let size = 0;
  let lineEnds = 0;
  let endsWithLineEnd = true;
  try {
    await pipeline(input, async function* count(source: AsyncIterable<Buffer>) {
      for await (const chunk of source) {
        size += chunk.length;
        if (size > limits.maxBytes) throw limits.tooLarge();
        if (limits.expect && size > limits.expect.bytes) throw limits.expect.mismatch();
        for (let at = chunk.indexOf(0x0a); at >= 0; at = chunk.indexOf(0x0a, at + 1)) lineEnds++;
        if (lineEnds > limits.maxLineEnds) throw limits.tooManyLines();
        if (chunk.length > 0) endsWithLineEnd = chunk[chunk.length - 1] === 0x0a;
        limits.inspect?.(chunk);
        hash.update(chunk);
        yield chunk;
      }
      limits.inspect?.();
    }, createWriteStream(file, { flags: 'wx', mode: 0o600 }));
  } catch (error) {
    await dispose();
    throw error;
  }
  const sha256 = hash.digest('hex');
  if (limits.expect && (size !== limits.expect.bytes || sha256 !== limits.expect.sha256)) {
    await dispose();
    throw limits.expect.mismatch();
  }
  return { path: file, sha256, lines: lineEnds + (endsWithLineEnd ? 0 : 1), dispose };
}
