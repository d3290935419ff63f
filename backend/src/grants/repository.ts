// Every SQL statement of grant_uploads and grant_upload_lines, and the read-only look-ups grants
// make: campaigns, MyKey ID statuses, and recent grant entries (ledger tables are only read here;
// the ledger's operations write them).
import type { Knex } from 'knex';
import type { GrantCampaign, UploadCounts } from '@mykey/contracts/grants.ts';
import type { Db } from '../db.ts';
import { campaignRuns } from '../ledger/rules.ts';

type Conn = Db | Knex.Transaction;

export type LineOutcome = 'granted' | 'already_granted' | 'refused';

export interface UploadLine { line: number; mykeyId: string | null; points: number | null; outcome: LineOutcome; entryId: number | null; code: string | null; detail: string | null }

export interface GrantUpload extends UploadCounts {
  id: number; municipalityCode: string; campaignId: number; staffId: number; fileSha256: string;
  state: 'processing' | 'done'; records: number; createdAt: Date; finishedAt: Date | null;
}

export interface RecentGrant { entryId: number; postedAt: Date; mykeyId: string; points: number; source: 'single' | 'file' }

const CAMPAIGN_COLUMNS = (conn: Conn) => ['c.id', 'c.slug', 'c.name_ja', 'c.name_en', 'c.cap_per_resident_points',
  conn.raw("DATE_FORMAT(c.starts_on, '%Y-%m-%d') AS starts_on"), conn.raw("DATE_FORMAT(c.ends_on, '%Y-%m-%d') AS ends_on"), conn.raw('COALESCE(a.balance, 0) AS budget_left')];

function campaignsQuery(conn: Conn, municipalityCode: string) {
  return conn('campaigns as c')
    .leftJoin('ledger_accounts as a', function budget() {
      this.on('a.campaign_id', '=', 'c.id').andOn('a.municipality_code', '=', 'c.municipality_code').andOn('a.kind', '=', conn.raw('?', ['campaign_budget']));
    })
    .where('c.municipality_code', municipalityCode);
}

const toCampaign = (row: Record<string, any>, now: Date): GrantCampaign => ({
  id: Number(row.id), slug: row.slug, name: { ja: row.name_ja, en: row.name_en }, startsOn: row.starts_on, endsOn: row.ends_on,
  running: campaignRuns({ startsOn: row.starts_on, endsOn: row.ends_on }, now),
  capPerResidentPoints: Number(row.cap_per_resident_points), budgetLeftPoints: Number(row.budget_left),
});

const toUpload = (row: Record<string, any>): GrantUpload => ({
  id: Number(row.id), municipalityCode: row.municipality_code, campaignId: Number(row.campaign_id), staffId: Number(row.staff_id),
  fileSha256: Buffer.from(row.file_sha256).toString('hex'), state: row.state, records: Number(row.records), granted: Number(row.granted),
  alreadyGranted: Number(row.already_granted), refused: Number(row.refused), pointsGranted: Number(row.points_granted),
  createdAt: row.created_at, finishedAt: row.finished_at,
});

const PAGE = 1000;

export const grantsRepository = {
  /** The municipality's campaigns, newest first, with what is left of each budget. */
  async campaigns(conn: Conn, municipalityCode: string, now: Date): Promise<GrantCampaign[]> {
    const rows = await campaignsQuery(conn, municipalityCode).orderBy('c.starts_on', 'desc').orderBy('c.id', 'desc').select(CAMPAIGN_COLUMNS(conn));
    return rows.map((row) => toCampaign(row, now));
  },

  /** A campaign of this municipality by its id (digits) or its slug; undefined for another municipality's. */
  async campaign(conn: Conn, municipalityCode: string, idOrSlug: string, now: Date): Promise<GrantCampaign | undefined> {
    const query = campaignsQuery(conn, municipalityCode);
    if (/^[1-9][0-9]{0,18}$/.test(idOrSlug)) query.where('c.id', idOrSlug);
    else query.where('c.slug', idOrSlug);
    const row = await query.first(CAMPAIGN_COLUMNS(conn));
    return row && toCampaign(row, now);
  },

  /**
   * The status of each MyKey ID that exists, share-locked in a transaction so a suspension
   * cannot commit between this check and the grant.
   */
  async mykeyStatuses(trx: Knex.Transaction, mykeyIds: string[]): Promise<Map<string, 'active' | 'suspended'>> {
    if (mykeyIds.length === 0) return new Map();
    const rows = await trx('mykeys').whereIn('mykey_id', [...new Set(mykeyIds)]).forShare().select('mykey_id', 'status');
    return new Map(rows.map((row) => [row.mykey_id, row.status]));
  },

  /** The latest grant entries of a campaign, with the resident each went to. */
  async recentGrants(conn: Conn, campaignId: number, limit: number): Promise<RecentGrant[]> {
    const rows = await conn('ledger_entries as e')
      .join('ledger_postings as p', 'p.entry_id', 'e.id')
      .join('ledger_accounts as a', 'a.id', 'p.account_id')
      .join('mykeys as m', 'm.id', 'a.mykey_pk')
      .where({ 'e.campaign_id': campaignId, 'e.kind': 'grant', 'a.kind': 'resident' })
      .orderBy('e.id', 'desc').limit(limit)
      .select('e.id', 'e.posted_at', 'e.reference', 'p.amount', 'm.mykey_id');
    return rows.map((row) => ({
      entryId: Number(row.id), postedAt: row.posted_at, mykeyId: row.mykey_id, points: Number(row.amount),
      source: String(row.reference).startsWith('grant:file:') ? 'file' : 'single',
    }));
  },

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
