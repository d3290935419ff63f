// Every SQL statement of grant_uploads and grant_upload_lines. Campaigns and the grants posted
// are the ledger's (ledger/repository.ts), what each grant was for is events/'s (grant_records);
// MyKey IDs are mykey/'s.
import type { Knex } from 'knex';
import type { UploadCounts } from '@mykey/contracts/grants.ts';
import type { Db } from '../db.ts';

type Conn = Db | Knex.Transaction;

export type LineOutcome = 'granted' | 'already_granted' | 'refused';

export interface UploadLine { line: number; mykeyId: string | null; points: number | null; outcome: LineOutcome; entryId: number | null; code: string | null; detail: string | null }

export interface GrantUpload extends UploadCounts {
  id: number; municipalityCode: string; campaignId: number; staffId: number; fileSha256: string;
  state: 'processing' | 'done'; records: number; createdAt: Date; finishedAt: Date | null;
}

const toUpload = (row: Record<string, any>): GrantUpload => ({
  id: Number(row.id), municipalityCode: row.municipality_code, campaignId: Number(row.campaign_id), staffId: Number(row.staff_id),
  fileSha256: Buffer.from(row.file_sha256).toString('hex'), state: row.state, records: Number(row.records), granted: Number(row.granted),
  alreadyGranted: Number(row.already_granted), refused: Number(row.refused), pointsGranted: Number(row.points_granted),
  createdAt: row.created_at, finishedAt: row.finished_at,
});

const PAGE = 1000;

export const grantsRepository = {
  async insertUpload(conn: Conn, upload: { municipalityCode: string; campaignId: number; staffId: number; fileSha256: Buffer; at: Date }): Promise<number> {
    const [id] = await conn('grant_uploads').insert({
      municipality_code: upload.municipalityCode, campaign_id: upload.campaignId, staff_id: upload.staffId, file_sha256: upload.fileSha256, created_at: upload.at,
    });
    return Number(id);
  },

  /** A batch of line outcomes, and the upload's running counts moved by them (in the batch's transaction). */
  async recordLines(trx: Knex.Transaction, uploadId: number, lines: UploadLine[], counts: UploadCounts & { records: number }): Promise<void> {
    if (lines.length > 0) {
      await trx('grant_upload_lines').insert(lines.map((l) => ({
        upload_id: uploadId, line: l.line, mykey_id: l.mykeyId, points: l.points, outcome: l.outcome, entry_id: l.entryId, code: l.code, detail: l.detail,
      })));
    }
    await trx('grant_uploads').where({ id: uploadId }).update({
      records: trx.raw('records + ?', [counts.records]), granted: trx.raw('granted + ?', [counts.granted]),
      already_granted: trx.raw('already_granted + ?', [counts.alreadyGranted]), refused: trx.raw('refused + ?', [counts.refused]),
      points_granted: trx.raw('points_granted + ?', [counts.pointsGranted]),
    });
  },

  async finishUpload(conn: Conn, uploadId: number, at: Date): Promise<void> {
    await conn('grant_uploads').where({ id: uploadId }).update({ state: 'done', finished_at: at });
  },

  async upload(conn: Conn, uploadId: number): Promise<GrantUpload | undefined> {
    const row = await conn('grant_uploads').where({ id: uploadId }).first();
    return row && toUpload(row);
  },

  /** The upload's line outcomes in line order, a page at a time. */
  async *linesOf(conn: Conn, uploadId: number): AsyncGenerator<UploadLine> {
    for (let after = 0; ;) {
      const rows = await conn('grant_upload_lines').where('upload_id', uploadId).where('line', '>', after).orderBy('line').limit(PAGE);
      for (const row of rows) {
        yield {
          line: Number(row.line), mykeyId: row.mykey_id, points: row.points === null ? null : Number(row.points),
          outcome: row.outcome, entryId: row.entry_id === null ? null : Number(row.entry_id), code: row.code, detail: row.detail,
        };
      }
      if (rows.length < PAGE) return;
      after = Number(rows.at(-1).line);
    }
  },
};
