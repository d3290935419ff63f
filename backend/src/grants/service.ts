// Administrative points: municipal staff grant points from a campaign's budget to a resident's
// MyKey ID, one at a time or from a CSV file (docs/ledger.md, "Grants"). Each grant is the
// ledger's grantPoints under a reference derived from what asked for it — the staff member's
// Idempotency-Key, or the file's hash and line — so no retry or re-upload grants twice. Beside
// each grant, a record of what it was for (its category; an event's grant: events/).
import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import type { Knex } from 'knex';
import { appendAudit, towns } from '../audit/chain.ts';
import { csvFile, CsvFileError, csvRecords, csvRow, utf8Check, type CsvRecord } from '../csv.ts';
import type { Db } from '../db.ts';
import { Problem, problemKinds, type ProblemCode } from '../http/problems.ts';
import { spoolUpload, type SpooledFile } from '../http/spool.ts';
import { LIMITS } from '../ledger/entries.ts';
import { grantPoints, inLedgerTransaction, residentPoints } from '../ledger/ledger.ts';
import { parseMykeyId } from '../mykey/id.ts';
import { mykeyRepository } from '../mykey/repository.ts';
import type { SignedInStaff } from '../staff/repository.ts';
import { staffReason } from '../staff/reason.ts';
import type { CampaignRef, GrantCampaign, GrantedPoints, GrantFileSummary } from '@mykey/contracts/grants.ts';
import { eventsRepository, type Category } from '../events/repository.ts';
import { categoryRef, recordGrant } from '../events/records.ts';
import { grantsRepository as repo, type GrantUpload, type UploadLine } from './repository.ts';

export const GRANT_FILE_HEADER = 'mykey_id,points,reason,category';
/** The header before categories: such a file still works, its grants uncategorised. */
const OLD_GRANT_FILE_HEADER = 'mykey_id,points,reason';

export const GRANT_FILE_LIMITS = {
  /** Lines after the header. */
  maxRecords: 100_000,
  /** A record: an ID, a number and a 200-character reason, quoted, in UTF-8, fit well within it. */
  maxRecordBytes: 1024,
  maxBytes: 64 * 1024 * 1024,
} as const;

// Lines granted in one transaction: one commit per batch instead of per line, and a crash loses
// at most a batch, which the same file uploaded again grants then.
const BATCH = 200;

const hex = (bytes: Buffer) => bytes.toString('hex');

/** The ledger reference of a single grant: the staff member and (a hash of) their Idempotency-Key. */
export function singleGrantReference(staffId: number, idempotencyKey: string): string {
  return `grant:staff:${staffId}:${hex(createHash('sha256').update(idempotencyKey).digest()).slice(0, 40)}`;
}

/** The ledger reference of a file's line: the same file under the same campaign always gives the same references. */
function fileGrantReference(campaignId: number, fileSha256: string, line: number): string {
  return `grant:file:${campaignId}:${fileSha256}:${line}`;
}

const campaignRef = (c: GrantCampaign): CampaignRef => ({ id: c.id, slug: c.slug, name: c.name });

/** A MyKey ID as the granting town sees it: blocked means blocked from that town's services. */
type Standing = 'active' | 'suspended' | 'blocked' | undefined;

/** Refuses a MyKey ID that does not exist, is suspended or is blocked here; eligibility is the caller's to check, not the ledger's. */
function eligibility(status: Standing): ProblemCode | undefined {
  if (status === undefined) return 'mykey_not_found';
  if (status === 'suspended') return 'mykey_suspended';
  if (status === 'blocked') return 'mykey_blocked_here';
  return undefined;
}

/** A MyKey ID found: its key and its standing in the granting town. */
interface Found { pk: number; standing: Standing }

/** Each ID's standing in the staff member's town: its status, unless that town blocked it. */
async function standings(trx: Knex.Transaction, staff: SignedInStaff, mykeyIds: string[]): Promise<Map<string, Found>> {
  // Share-locked, so a suspension cannot commit between this check and the grant.
  const found = await mykeyRepository.statuses(trx, mykeyIds, { lock: true });
  const statuses = new Map<string, Found>([...found].map(([id, mykey]) => [id, { pk: mykey.pk, standing: mykey.status }]));
  for (const blocked of await mykeyRepository.blockedIn(trx, staff.municipalityCode, mykeyIds)) {
    const mykey = statuses.get(blocked);
    if (mykey?.standing === 'active') mykey.standing = 'blocked';
  }
  return statuses;
}

/** One grant by a staff member, audited, in the caller's transaction. */
export async function grantOne(trx: Knex.Transaction, r: {
  staff: SignedInStaff; campaign: GrantCampaign; category: Category | undefined; mykeyId: string; points: number; reason: string; reference: string; now: Date;
}): Promise<GrantedPoints> {
  const found = (await standings(trx, r.staff, [r.mykeyId])).get(r.mykeyId);
  const refused = eligibility(found?.standing);
  if (refused) throw new Problem(refused);
  const posted = await grantPoints(trx, { reference: r.reference, campaignId: r.campaign.id, kind: 'administrative', mykeyId: r.mykeyId, points: r.points, now: r.now });
  const municipalityCode = r.staff.organization.id;
  if (!posted.replayed) {
    await recordGrant(trx, [{ entryId: posted.entryId, municipalityCode, mykeyPk: found!.pk, points: r.points, postedAt: r.now, for: { category: r.category } }]);
    await appendAudit(trx, {
      action: 'points.granted', actor: { kind: 'staff', id: String(r.staff.id) }, subject: r.mykeyId,
      details: { campaignId: r.campaign.id, entryId: posted.entryId, points: r.points, categoryId: r.category?.id ?? null, ...towns(r.staff.municipalityCode) }, texts: { reason: r.reason },
    });
  }
  const { balance } = await residentPoints(trx, municipalityCode, r.mykeyId, r.now);
  return { entryId: posted.entryId, mykeyId: r.mykeyId, points: r.points, campaign: campaignRef(r.campaign), category: r.category ? categoryRef(r.category) : null, balanceAfter: balance, reference: r.reference };
}

// --- grant files ---------------------------------------------------------------------------

/**
 * Writes the upload to a temporary file while hashing it, so it is never held in memory and
 * its hash (the grants' references) is known before the first grant. A file that is not
 * UTF-8 or too long is refused here, before anything is granted.
 */
export function spoolGrantFile(input: AsyncIterable<Buffer>): Promise<SpooledFile> {
  const utf8 = utf8Check();
  return spoolUpload(input, 'grants.csv', {
    maxBytes: GRANT_FILE_LIMITS.maxBytes,
    tooLarge: () => new Problem('body_too_large', `A grant file may be at most ${GRANT_FILE_LIMITS.maxBytes} bytes.`),
    // The header plus the records, and a line end after the last.
    maxLineEnds: GRANT_FILE_LIMITS.maxRecords + 1,
    tooManyLines: () => new Problem('grant_file_too_many_lines'),
    inspect: (chunk) => {
      const found = utf8(chunk);
      if (found !== 'ok') throw new Problem('grant_file_not_utf8', found === 'cut' ? 'The file ends in the middle of a UTF-8 character.' : undefined);
    },
  });
}

interface Wanted { line: number; mykeyId: string; points: number; reason: string; category: Category | undefined }
interface Refused { line: number; mykeyId: string | null; points: number | null; code: ProblemCode; detail: string | null }
type GrantRecord = Wanted | Refused;

/** Points as Excel may write them: full-width digits, thousands separators. */
function parsePoints(text: string): number | undefined {
  const digits = text.normalize('NFKC').trim();
  if (!/^(?:[0-9]+|[0-9]{1,3}(?:,[0-9]{3})+)$/.test(digits)) return undefined;
  const points = Number(digits.replaceAll(',', ''));
  return points >= 1 && points <= LIMITS.maxResidentPoints ? points : undefined;
}

/** The header a file starts with: which one says whether its lines name a category. */
type Header = typeof GRANT_FILE_HEADER | typeof OLD_GRANT_FILE_HEADER;

/** The town's categories by Japanese name, and by id as text: a line names one either way. */
type Categories = Map<string, Category>;

/** One record after the header, as asked for or refused with why; numbered by the line it starts on. */
function parseRecord(record: CsvRecord, header: Header, categories: Categories): GrantRecord {
  const { line } = record;
  if (!('fields' in record)) return { line, mykeyId: null, points: null, code: 'grant_line_malformed', detail: `longer than ${GRANT_FILE_LIMITS.maxRecordBytes} bytes` };
  const width = header.split(',').length;
  const fields = [...record.fields];
  // Excel writes empty cells to the right of a table as empty fields (and an empty category is none).
  while (fields.length > width && fields.at(-1) === '') fields.pop();
  if (width === 4 && fields.length === 3) fields.push('');
  if (fields.length !== width) return { line, mykeyId: null, points: null, code: 'grant_line_malformed', detail: `${fields.length} fields; a line has ${width}: ${header}` };
  const [idText, pointsText, reasonText, categoryText = ''] = fields as [string, string, string, string?];
  const id = parseMykeyId(idText);
  const points = parsePoints(pointsText) ?? null;
  const mykeyId = id.ok ? id.id : null;
  if (!id.ok) return { line, mykeyId, points, code: id.code, detail: id.detail };
  if (points === null) return { line, mykeyId, points, code: 'points_out_of_range', detail: `points must be a whole number from 1 to ${LIMITS.maxResidentPoints}` };
  const reason = staffReason.safeParse(reasonText);
  if (!reason.success) return { line, mykeyId, points, code: 'grant_reason_invalid', detail: null };
  const categoryKey = categoryText.normalize('NFKC').trim();
  const category = categoryKey === '' ? undefined : categories.get(categoryKey);
  if (categoryKey !== '' && !category) return { line, mykeyId, points, code: 'event_category_not_found', detail: `no category named ${categoryKey.slice(0, 100)}` };
  return { line, mykeyId: id.id, points, reason: reason.data, category };
}

/** A blank line, or one of empty cells only (",,", as Excel leaves below a table), asks for nothing. */
const isBlank = (record: CsvRecord) => 'fields' in record && record.fields.every((field) => field === '');

/** The header of the record, if it is one of the two a grant file may start with. */
function headerOf(record: CsvRecord): Header | undefined {
  const text = 'fields' in record ? record.fields.map((f) => f.toLowerCase()).join(',') : undefined;
  return text === GRANT_FILE_HEADER || text === OLD_GRANT_FILE_HEADER ? text : undefined;
}

/** The town's categories as a file's lines name them: by Japanese name, or by id. */
async function categoriesOf(db: Db, municipalityCode: string): Promise<Categories> {
  const categories = await eventsRepository.categories(db, municipalityCode);
  return new Map(categories.flatMap((c) => [[c.nameJa.normalize('NFKC'), c], [String(c.id), c]]));
}

/** The file's records; a file that is not CSV is refused as a problem naming the line. */
async function* grantFileRecords(file: SpooledFile): AsyncGenerator<CsvRecord> {
  try {
    yield* csvRecords(createReadStream(file.path), GRANT_FILE_LIMITS.maxRecordBytes);
  } catch (error) {
    if (error instanceof CsvFileError) throw new Problem('grant_file_not_csv', error.message, { line: error.line });
    throw error;
  }
}

export const resultPath = (uploadId: number) => `/api/v1/staff/grant-uploads/${uploadId}/result.csv`;

export function uploadSummary(upload: GrantUpload, campaign: GrantCampaign): GrantFileSummary {
  const { id, fileSha256, records, granted, alreadyGranted, refused, pointsGranted } = upload;
  return { uploadId: id, fileSha256, campaign: campaignRef(campaign), records, granted, alreadyGranted, refused, pointsGranted, resultPath: resultPath(id) };
}

/**
 * Grants every line of a spooled file under the campaign, a batch per transaction. Each line
 * is its own grant under fileGrantReference, so lines granted by an earlier upload of the same
 * file are answered as already granted, and a refused line stops nothing else.
 */
export async function importGrantFile(db: Db, r: { staff: SignedInStaff; campaign: GrantCampaign; file: SpooledFile; now: Date }): Promise<GrantFileSummary> {
  // The whole file is read as CSV once before the first grant: a quote left open on line 90,000
  // refuses the file with nothing granted, rather than after 89,999 lines of grants.
  let header: Header | undefined;
  for await (const record of grantFileRecords(r.file)) {
    if (record.line === 1 && !(header = headerOf(record))) throw new Problem('grant_file_header_invalid');
  }
  const categories = await categoriesOf(db, r.staff.municipalityCode);
  let uploadId: number | undefined;
  let batch: GrantRecord[] = [];
  for await (const record of grantFileRecords(r.file)) {
    if (record.line === 1) {
      uploadId = await repo.insertUpload(db, { municipalityCode: r.staff.organization.id, campaignId: r.campaign.id, staffId: r.staff.id, fileSha256: Buffer.from(r.file.sha256, 'hex'), at: r.now });
      continue;
    }
    if (isBlank(record)) continue;
    batch.push(parseRecord(record, header!, categories));
    if (batch.length >= BATCH) {
      await grantBatch(db, uploadId!, r, batch);
      batch = [];
    }
  }
  if (uploadId === undefined) throw new Problem('grant_file_header_invalid', 'The file is empty.');
  await grantBatch(db, uploadId, r, batch);
  await repo.finishUpload(db, uploadId, new Date());
  return uploadSummary((await repo.upload(db, uploadId))!, r.campaign);
}

async function grantBatch(db: Db, uploadId: number, r: { staff: SignedInStaff; campaign: GrantCampaign; file: SpooledFile; now: Date }, batch: GrantRecord[]): Promise<void> {
  await inLedgerTransaction(db, async (trx) => {
    const statuses = await standings(trx, r.staff, batch.flatMap((record) => ('reason' in record ? [record.mykeyId] : [])));
    const lines: UploadLine[] = [];
    const granted: Parameters<typeof recordGrant>[1] = [];
    const counts = { records: batch.length, granted: 0, alreadyGranted: 0, refused: 0, pointsGranted: 0 };
    for (const record of batch) {
      const outcome = 'reason' in record ? await grantLine(trx, r, record, statuses.get(record.mykeyId)) : record;
      if ('code' in outcome) {
        counts.refused++;
        lines.push({ line: record.line, mykeyId: outcome.mykeyId, points: outcome.points, outcome: 'refused', entryId: null, code: outcome.code, detail: outcome.detail?.slice(0, 255) ?? null });
      } else {
        if (outcome.replayed) counts.alreadyGranted++;
        else {
          counts.granted++;
          counts.pointsGranted += outcome.points;
          granted.push({ entryId: outcome.entryId, municipalityCode: r.staff.municipalityCode, mykeyPk: statuses.get(outcome.mykeyId)!.pk, points: outcome.points, postedAt: r.now, for: { category: (record as Wanted).category } });
        }
        lines.push({ line: record.line, mykeyId: outcome.mykeyId, points: outcome.points, outcome: outcome.replayed ? 'already_granted' : 'granted', entryId: outcome.entryId, code: null, detail: null });
      }
    }
    await repo.recordLines(trx, uploadId, lines, counts);
    await recordGrant(trx, granted);
    if (counts.granted > 0) {
      await appendAudit(trx, {
        action: 'points.granted_from_file', actor: { kind: 'staff', id: String(r.staff.id) }, subject: `grant-upload:${uploadId}`,
        details: { uploadId, campaignId: r.campaign.id, fromLine: batch[0]!.line, toLine: batch.at(-1)!.line, granted: counts.granted, points: counts.pointsGranted },
      });
    }
  });
}

/** One line's grant, in a savepoint so a refusal leaves nothing of it behind. */
async function grantLine(trx: Knex.Transaction, r: { campaign: GrantCampaign; file: SpooledFile; now: Date }, record: Wanted, found: Found | undefined): Promise<Refused | { mykeyId: string; points: number; entryId: number; replayed: boolean }> {
  const refused = eligibility(found?.standing);
  if (refused) return { line: record.line, mykeyId: record.mykeyId, points: record.points, code: refused, detail: null };
  try {
    const posted = await trx.transaction((savepoint) => grantPoints(savepoint, {
      reference: fileGrantReference(r.campaign.id, r.file.sha256, record.line), campaignId: r.campaign.id, kind: 'administrative', mykeyId: record.mykeyId, points: record.points, now: r.now,
    }));
    return { mykeyId: record.mykeyId, points: record.points, entryId: posted.entryId, replayed: posted.replayed };
  } catch (error) {
    if (!(error instanceof Problem)) throw error;
    return { line: record.line, mykeyId: record.mykeyId, points: record.points, code: error.code, detail: error.detail ?? null };
  }
}

const RESULT_HEADER = ['line', 'mykey_id', 'points', 'result', 'entry_id', 'error_code', 'message_ja', 'message_en', 'detail'];

/** The result file: the BOM (so Excel reads UTF-8), the header, and one row per line of the upload. */
export async function* resultFile(conn: Db, uploadId: number): AsyncGenerator<string> {
  yield csvFile([RESULT_HEADER]);
  for await (const l of repo.linesOf(conn, uploadId)) {
    const messages = l.code && l.code in problemKinds ? problemKinds[l.code as ProblemCode].messages : null;
    yield csvRow([l.line, l.mykeyId, l.points, l.outcome, l.entryId, l.code, messages?.ja ?? null, messages?.en ?? null, l.detail]);
  }
}
