// Uploads too large to hold in memory (partner batch files, grant CSV files) are streamed to a
// private temporary file, hashed and their lines counted on the way: the hash (what a signature
// covers, or what references are derived from) is known before the file is read back a line at
// a time, and an upload over its limits is refused while it arrives.
import { createHash } from 'node:crypto';
import { createWriteStream } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
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
}

/** Streams `input` to `fileName` in a new private temporary folder; on a refusal or a failure nothing is left behind. */
export async function spoolUpload(input: AsyncIterable<Buffer>, fileName: string, limits: SpoolLimits): Promise<SpooledFile> {
  const dir = await mkdtemp(path.join(tmpdir(), 'mykey-upload-'));
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
  return { path: file, sha256: hash.digest('hex'), lines: lineEnds + (endsWithLineEnd ? 0 : 1), dispose };
}
