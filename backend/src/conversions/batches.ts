// Batch files of conversions (docs/partner-api.md#batches): NDJSON, one conversion per line,
// up to a million lines. The signature covers the declared length and hash and is checked
// before the body is read; the upload is then streamed to a file in the spool folder while it
// is hashed and counted, kept only if it is what was signed, and read back a line at a time; each line goes through the
// same checks as a single request (intake.ts), a chunk of lines per transaction, together with
// the line's result. Memory holds four chunks at most (processLines), never the file.
import { createReadStream } from 'node:fs';
import type { Context } from 'koa';
import type { Knex } from 'knex';
import { recordAudit } from '../audit/chain.ts';
import { fileLines, type FileLine } from '../file-lines.ts';
import type { Db } from '../db.ts';
import { Problem, problemKinds, type ProblemCode } from '../http/problems.ts';
import { spoolUpload, type SpooledFile } from '../http/spool.ts';
import type { Logger } from '../log.ts';
import type { DeclaredBody } from '../partners/middleware.ts';
import type { PartnerCredentials } from '../partners/repository.ts';
import type { Queue } from '../queue.ts';
import { acceptConversions, checkConversion, enqueueAccepted, type Checked, type Outcome } from './intake.ts';
import { BATCH_CHUNK_LINES, type ConversionJob } from './queue.ts';
import { conversionRepository as repo, type BatchLineResult, type BatchRow } from './repository.ts';

const BATCH_LIMITS = {
  lines: 1_000_000,
  /** The whole file: room for a million lines of about 250 bytes (a typical line has about 110). */
  bytes: 256 * 1024 * 1024,
  /** One line, as one single request's body. */
  lineBytes: 16 * 1024,
  /** Lines checked and stored per transaction; the conversions they store share a job. */
  chunk: BATCH_CHUNK_LINES,
};

export const BATCH_ID = /^[A-Za-z0-9_.:-]{1,64}$/;

/** When to try again after the spool folder was full: about the time a batch takes to go through. */
const SPOOL_FULL_RETRY_S = 60;

/** Chunks of lines in their store transactions at once: one more keeps MariaDB's second core busy (docs/benchmarks.md#conversion-batch). */
const STORING_AT_ONCE = 2;

// The partner waits for the whole batch anyway: a busy Redis gets longer than for one request.
const BATCH_ENQUEUE_WAIT_MS = 10_000;

/**
 * Streams a signed upload's body into the spool folder, hashing and counting its lines on the
 * way; refused when the folder has no room for its declared length (batch_upload_unavailable,
 * before a byte is written) and, with nothing kept, when it is not the body that was signed
 * (batch_body_mismatch) or has too many lines.
 */
export async function spoolBatch(ctx: Context, declared: DeclaredBody, spool: { dir: string; maxBytes: number }): Promise<SpooledFile> {
  const tooLarge = () => new Problem('body_too_large', `A batch file may be at most ${BATCH_LIMITS.bytes} bytes.`);
  if (declared.length > BATCH_LIMITS.bytes) throw tooLarge();
  const tooManyLines = () => new Problem('batch_too_many_lines');
  const full = () => {
    ctx.set('Retry-After', String(SPOOL_FULL_RETRY_S));
    return new Problem('batch_upload_unavailable', 'The upload space has no room for this file now.');
  };
  const body = await spoolUpload(ctx.req, 'body.ndjson', {
    maxBytes: BATCH_LIMITS.bytes, tooLarge, maxLineEnds: BATCH_LIMITS.lines, tooManyLines,
    expect: { bytes: declared.length, sha256: declared.sha256, mismatch: () => new Problem('batch_body_mismatch') },
    space: { dir: spool.dir, maxBytes: spool.maxBytes, full },
  });
  if (body.lines > BATCH_LIMITS.lines) {
    await body.dispose();
    throw tooManyLines();
  }
  return body;
}

export interface BatchDeps { db: Db; conversions: Queue<ConversionJob>; log: Logger; clock: () => Date }

export function findBatch(db: Db, partnerId: number, batchId: string): Promise<BatchRow | undefined> {
  if (!BATCH_ID.test(batchId)) return Promise.resolve(undefined);
  return repo.batch(db, partnerId, batchId);
}

/**
 * Takes in an uploaded batch and answers its summary once every line has a result. The same
 * batch id with the same content is the same batch: when done, it is answered as it is; when
 * its processing stopped (a crash, a lost connection), it resumes after the lines stored from its start.
 * Concurrent uploads of one batch both work through it and store nothing twice: every line and
 * every conversion has a unique key.
 */
export async function takeBatch(deps: BatchDeps, partner: PartnerCredentials, batchId: string, body: SpooledFile) {
  const now = deps.clock();
  const batch = await claimBatch(deps.db, partner.id, batchId, body, now);
  if (batch.state === 'processing') await processLines(deps, partner, batch, body.path, now);
  return batchSummary(await answeredUpload(deps.db, batch));
}

/**
 * The batch as an upload is answered, the upload counted in the same transaction: a batch
 * another upload finished may not be on disk yet, and this write makes the answer wait until it
 * is (docs/architecture.md#a-replay-is-answered-only-once-durable).
 */
function answeredUpload(db: Db, batch: BatchRow): Promise<BatchRow> {
  return db.transaction(async (trx) => {
    await repo.countUpload(trx, batch.id);
    return (await repo.batchById(trx, batch.id))!;
  });
}

async function claimBatch(db: Db, partnerId: number, batchId: string, body: SpooledFile, now: Date): Promise<BatchRow> {
  const contentSha256 = Buffer.from(body.sha256, 'hex');
  await repo.insertBatch(db, { partnerId, partnerBatchId: batchId, contentSha256, lineCount: body.lines, receivedAt: now });
  const batch = (await findBatch(db, partnerId, batchId))!;
  if (!Buffer.from(batch.content_sha256).equals(contentSha256)) throw new Problem('batch_conflict');
  return batch;
}

async function processLines({ db, conversions, log, clock }: BatchDeps, partner: PartnerCredentials, batch: BatchRow, file: string, now: Date): Promise<void> {
  const resumeAfter = await repo.storedLinesFromStart(db, batch.id);
  // The stages work side by side: the next chunk is read and checked while two are stored (in
  // transactions of their own: MariaDB works on both at once), and a stored chunk's job is
  // added to Redis meanwhile, in the order they were stored. At most one chunk is read, two
  // stored and one queued at a time, so memory holds four chunks however long the file. A
  // chunk may commit before the one read before it: a resumed upload starts after the lines
  // stored from the file's start, and what it finds stored after them is a replay. Once Redis
  // fails to take jobs, the rest of the batch is left to the sweeper instead of waiting on
  // Redis for every chunk.
  let enqueueing: Promise<boolean> = Promise.resolve(true);
  const storing: Array<Promise<void>> = [];
  const store = async (lines: FileLine[], checked: Checked[]) => {
    const numbered = { id: batch.id, lines: lines.map((line) => line.number) };
    const outcomes = await acceptConversions(db, partner, checked, {
      now, batch: numbered, record: (trx, results) => recordLines(trx, batch.id, lines, results),
    });
    enqueueing = enqueueing.then((inTime) => inTime && enqueueAccepted(conversions, outcomes, log, BATCH_ENQUEUE_WAIT_MS, numbered));
    // Its place is free once its job is added: a slow Redis holds up reading, not memory.
    await enqueueing;
  };
  const flush = async (lines: FileLine[], checked: Checked[]) => {
    if (storing.length === STORING_AT_ONCE) await storing.shift();
    const stored = store(lines, checked);
    // Awaited before a later chunk or at the end; until then a failure must not go unhandled.
    stored.catch(() => {});
    storing.push(stored);
  };
  let lines: FileLine[] = [];
  let checked: Checked[] = [];
  for await (const line of fileLines(createReadStream(file), BATCH_LIMITS.lineBytes)) {
    if (line.number <= resumeAfter) continue;
    lines.push(line);
    checked.push(checkLine(line));
    if (lines.length === BATCH_LIMITS.chunk) {
      await flush(lines, checked);
      lines = [];
      checked = [];
    }
  }
  if (lines.length > 0) await flush(lines, checked);
  for (const stored of storing) await stored;
  await enqueueing;
  await repo.finishBatch(db, batch.id, clock());
}

function checkLine(line: FileLine): Checked {
  if (line.text !== undefined) return checkConversion(line.text);
  const problem = line.problem === 'too_long'
    ? new Problem('body_too_large', `A line may be at most ${BATCH_LIMITS.lineBytes} bytes.`)
    : new Problem('request_invalid', 'The line is not UTF-8.');
  return { ok: false, problem, partnerTxId: null };
}

async function recordLines(trx: Knex.Transaction, batchId: number, lines: FileLine[], outcomes: Outcome[]): Promise<void> {
  await repo.insertBatchLines(trx, batchId, outcomes.map((outcome, index) => ({
    line: lines[index]!.number,
    partnerTxId: outcome.ok ? outcome.conversion.partnerTxId : outcome.partnerTxId,
    conversionId: outcome.ok ? outcome.conversion.id : null,
    errorCode: outcome.ok ? null : outcome.problem.code,
    errorDetail: outcome.ok ? null : problemDetail(outcome.problem),
  })));
}

/** The detail with the fields at fault (request_invalid) or the limits (amounts), in 500 characters. */
function problemDetail(problem: Problem): string {
  const extra = Object.keys(problem.extra).length > 0 ? ` ${JSON.stringify(problem.extra)}` : '';
  return `${problem.detail ?? problemKinds[problem.code].title}${extra}`.slice(0, 500);
}

export function batchSummary(batch: BatchRow) {
  return {
    batchId: batch.partner_batch_id,
    state: batch.state,
    lines: batch.line_count,
    acceptedLines: batch.accepted_lines,
    rejectedLines: batch.rejected_lines,
    receivedAt: batch.received_at.toISOString(),
    finishedAt: batch.finished_at?.toISOString() ?? null,
  };
}

/** A partner's download of a batch's result file is audited (ids only), before a line of it is sent. */
export function auditResultsDownload(db: Db, partnerId: number, batch: BatchRow): Promise<unknown> {
  return recordAudit(db, {
    action: 'partner.batch_results_downloaded', actor: { kind: 'partner', id: String(partnerId) },
    subject: `conversion-batch:${batch.id}`, details: { lines: batch.line_count },
  });
}

const RESULT_PAGE = 5_000;

/** The result file: one NDJSON line per input line, in order, read from the database a page at a time. */
export async function* batchResults(db: Db, batch: BatchRow): AsyncGenerator<string> {
  for (let after = 0; ;) {
    const rows = await repo.batchLineResults(db, batch.id, after, RESULT_PAGE);
    if (rows.length === 0) return;
    yield rows.map((row) => `${JSON.stringify(resultLine(row))}\n`).join('');
    after = rows.at(-1)!.line;
  }
}

function resultLine(row: BatchLineResult) {
  const common = { line: row.line, partnerTxId: row.partnerTxId };
  if (row.conversionId !== null) return { ...common, conversionId: String(row.conversionId), state: row.state, points: row.points };
  const code = row.errorCode as ProblemCode;
  const kind = Object.hasOwn(problemKinds, code) ? problemKinds[code] : problemKinds.internal_error;
  return { ...common, error: { code, status: kind.status, detail: row.errorDetail, messages: kind.messages } };
}
