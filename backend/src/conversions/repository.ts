// Every SQL statement of conversion_requests, conversion_batches and conversion_batch_lines:
// taking requests in, queueing, processing and sweeping them, delivering their webhooks, and
// the batches of the partner API. Every locking read names its index, as the ledger's do: a
// locking scan would wait for rows it has nothing to do with.
import type { Knex } from 'knex';
import type { Db } from '../db.ts';

type Conn = Db | Knex.Transaction;

const through = (conn: Conn, index: string) => conn.raw('conversion_requests FORCE INDEX (??)', [index]);
const WEBHOOK_INDEX = 'conversion_requests_webhook_state_webhook_next_at_index';
const QUEUE_INDEX = 'conversion_requests_state_queued_at_index';

export type ConversionState = 'accepted' | 'credited' | 'rejected';

export interface Conversion {
  id: number;
  partnerTxId: string;
  state: ConversionState;
  partnerPoints: number;
  points: number;
  basePoints: number | null;
  premiumPoints: number | null;
  rejectCode: string | null;
  rejectDetail: string | null;
  acceptedAt: Date;
  queuedAt: Date | null;
  finishedAt: Date | null;
}

/** A stored request with the hash of the body it was taken in with. */
export interface StoredConversion { conversion: Conversion; requestHash: Buffer }

/** A request to store: checked, converted at the partner's rate, and (from a batch file) its line. */
export interface NewConversion {
  partnerId: number; partnerTxId: string; requestHash: Buffer; municipalityCode: string; mykeyPk: number;
  partnerPoints: number; points: number; batchId: number | null; batchLine: number | null; acceptedAt: Date;
}

/** The columns toConversion reads. */
const COLUMNS = ['id', 'partner_tx_id', 'request_hash', 'state', 'partner_points', 'points', 'base_points', 'premium_points',
  'reject_code', 'reject_detail', 'accepted_at', 'queued_at', 'finished_at'];

function toConversion(row: Record<string, any>): Conversion {
  const count = (value: unknown) => (value === null ? null : Number(value));
  return {
    id: Number(row.id), partnerTxId: row.partner_tx_id, state: row.state,
    partnerPoints: Number(row.partner_points), points: Number(row.points),
    basePoints: count(row.base_points), premiumPoints: count(row.premium_points),
    rejectCode: row.reject_code, rejectDetail: row.reject_detail,
    acceptedAt: row.accepted_at, queuedAt: row.queued_at, finishedAt: row.finished_at,
  };
}

/** A batch file as stored: the partner's id for it, its content's hash and its progress. */
export interface BatchRow { id: number; partner_batch_id: string; content_sha256: Buffer; line_count: number; state: 'processing' | 'done';
  accepted_lines: number | null; rejected_lines: number | null; received_at: Date; finished_at: Date | null }

/** A batch line's result: the conversion it became (with its state and points now), or why it was refused. */
export interface BatchLineResult {
  line: number; partnerTxId: string | null; conversionId: number | null; errorCode: string | null; errorDetail: string | null;
  state: ConversionState | null; points: number | null;
}

/** A request as the queue sees it: its id and the batch line it came from (queue.ts jobIdOf). */
export interface QueuedConversion { id: number; batch?: { id: number; line: number } | null }

/** A request as processing sees it: who, where, how much, and whether it is still to be done. */
export interface LockedRequest { id: number; state: ConversionState; partnerId: number; municipalityCode: string; mykeyPk: number; points: number }


export interface CreditedOutcome { id: number; entryId: number; campaignId: number | null; basePoints: number; premiumPoints: number; webhook: boolean }
export interface RejectedOutcome { code: string; detail: string }

/** A finished request whose webhook is due, with what signing and sending it needs. */
export interface DueWebhook {
  conversion: Conversion; partnerId: number; partnerSlug: string; webhookUrl: string | null; secretSealed: Buffer | null; attempts: number;
}

const DETAIL_MAX = 500;
const ERROR_MAX = 500;

export const conversionRepository = {
  // --- intake -----------------------------------------------------------------------------

  /** One partner's stored requests under these partnerTxIds (another partner's are never found). */
  async byTxIds(conn: Conn, partnerId: number, txIds: string[]): Promise<Map<string, StoredConversion>> {
    if (txIds.length === 0) return new Map();
    const rows = await conn('conversion_requests').where({ partner_id: partnerId }).whereIn('partner_tx_id', txIds).select(COLUMNS);
    return new Map(rows.map((row) => [row.partner_tx_id as string, { conversion: toConversion(row), requestHash: Buffer.from(row.request_hash) }]));
  },

  /**
   * Inserts the requests, in partnerTxId order: one order for every inserter, so two overlapping
   * batches do not deadlock on each other's keys. A twin already there (committed meanwhile, or
   * earlier in this same list) is left as it is, its replay counted (see countReplays). Each row
   * is stamped as queued as it is accepted: its job is added right after the commit, and should
   * that fail, the sweeper finds the row by that stamp (queue.ts).
   */
  async insertRequests(trx: Knex.Transaction, requests: NewConversion[]): Promise<void> {
    if (requests.length === 0) return;
    const rows = [...requests].sort((a, b) => (a.partnerTxId < b.partnerTxId ? -1 : a.partnerTxId > b.partnerTxId ? 1 : 0)).map((r) => ({
      partner_id: r.partnerId, partner_tx_id: r.partnerTxId, request_hash: r.requestHash, municipality_code: r.municipalityCode, mykey_pk: r.mykeyPk,
      partner_points: r.partnerPoints, points: r.points, batch_id: r.batchId, batch_line: r.batchLine, accepted_at: r.acceptedAt, queued_at: r.acceptedAt,
    }));
    await trx('conversion_requests').insert(rows).onConflict().merge({ replays: trx.raw('?? + 1', ['replays']) });
  },

  /**
   * Counts the requests answered from their stored rows: the write that makes such an answer
   * wait until the row is durable (intake.ts).
   */
  async countReplays(trx: Knex.Transaction, ids: number[]): Promise<void> {
    if (ids.length === 0) return;
    await trx('conversion_requests').whereIn('id', ids).increment('replays', 1);
  },

  /** Stamps the accepted requests as queued again (the sweeper, before their jobs are added: see queue.ts). */
  async stampQueued(conn: Conn, ids: number[], now: Date): Promise<void> {
    await conn('conversion_requests').whereIn('id', ids).where('state', 'accepted').update({ queued_at: now });
  },

  // --- batches ----------------------------------------------------------------------------

  async batch(conn: Conn, partnerId: number, partnerBatchId: string): Promise<BatchRow | undefined> {
    return conn('conversion_batches').where({ partner_id: partnerId, partner_batch_id: partnerBatchId }).first();
  },

  async batchById(conn: Conn, id: number): Promise<BatchRow | undefined> {
    return conn('conversion_batches').where({ id }).first();
  },

  /** Counts an answered upload of the batch: the write that makes its answer wait until what it says is durable (batches.ts). */
  async countUpload(trx: Knex.Transaction, batchId: number): Promise<void> {
    await trx('conversion_batches').where({ id: batchId }).increment('uploads', 1);
  },

  /** Inserts the batch unless the partner's batch id is taken (then the stored one stands). */
  async insertBatch(conn: Conn, batch: { partnerId: number; partnerBatchId: string; contentSha256: Buffer; lineCount: number; receivedAt: Date }): Promise<void> {
    await conn('conversion_batches').insert({
      partner_id: batch.partnerId, partner_batch_id: batch.partnerBatchId, content_sha256: batch.contentSha256, line_count: batch.lineCount, received_at: batch.receivedAt,
    }).onConflict().merge({ id: conn.raw('??', ['id']) });
  },

  /**
   * The last line L with a stored result for every line from 1 to L (0 for none): chunks commit
   * side by side, so one may be stored after a gap. The first stored line whose next one is not,
   * unless line 1 itself is missing.
   */
  async storedLinesFromStart(conn: Conn, batchId: number): Promise<number> {
    const first = await conn('conversion_batch_lines').where({ batch_id: batchId, line: 1 }).first('line');
    if (!first) return 0;
    const end = await conn('conversion_batch_lines as l')
      .leftJoin('conversion_batch_lines as n', (on) => on.on('n.batch_id', 'l.batch_id').andOn('n.line', '=', conn.raw('?? + 1', ['l.line'])))
      .where('l.batch_id', batchId).whereNull('n.line').min({ line: 'l.line' }).first();
    return Number(end!.line);
  },

  /** Stores line results; a concurrent upload of the same batch may have stored these lines first: theirs stand. */
  async insertBatchLines(trx: Knex.Transaction, batchId: number, lines: Array<Omit<BatchLineResult, 'state' | 'points'>>): Promise<void> {
    const rows = lines.map((l) => ({
      batch_id: batchId, line: l.line, partner_tx_id: l.partnerTxId, conversion_id: l.conversionId, error_code: l.errorCode, error_detail: l.errorDetail,
    }));
    await trx('conversion_batch_lines').insert(rows).onConflict().merge({ line: trx.raw('??', ['line']) });
  },

  /** Marks the batch done with its counts of accepted and rejected lines, as stored. */
  async finishBatch(conn: Conn, batchId: number, at: Date): Promise<void> {
    const counts = await conn('conversion_batch_lines').where({ batch_id: batchId })
      .first(conn.raw('COUNT(conversion_id) AS accepted'), conn.raw('COUNT(error_code) AS rejected'));
    await conn('conversion_batches').where({ id: batchId, state: 'processing' })
      .update({ state: 'done', accepted_lines: Number(counts.accepted), rejected_lines: Number(counts.rejected), finished_at: at });
  },

  /** A page of the batch's line results after line `after`, in line order. */
  async batchLineResults(conn: Conn, batchId: number, after: number, limit: number): Promise<BatchLineResult[]> {
    const rows = await conn('conversion_batch_lines as l').leftJoin('conversion_requests as c', 'c.id', 'l.conversion_id')
      .where('l.batch_id', batchId).andWhere('l.line', '>', after).orderBy('l.line').limit(limit)
      .select('l.line', 'l.partner_tx_id', 'l.conversion_id', 'l.error_code', 'l.error_detail', 'c.state', 'c.points');
    return rows.map((row) => ({
      line: row.line, partnerTxId: row.partner_tx_id, conversionId: row.conversion_id, errorCode: row.error_code, errorDetail: row.error_detail,
      state: row.state, points: row.points === null ? null : Number(row.points),
    }));
  },

  // --- processing -------------------------------------------------------------------------

  /** The requests, locked in ascending id order (the one order every processor uses). */
  async lockRequests(trx: Knex.Transaction, ids: number[]): Promise<LockedRequest[]> {
    const rows = await trx.from(through(trx, 'PRIMARY')).whereIn('id', [...new Set(ids)]).orderBy('id').forUpdate()
      .select('id', 'state', 'partner_id', 'municipality_code', 'mykey_pk', 'points');
    return rows.map((row) => ({
      id: Number(row.id), state: row.state, partnerId: Number(row.partner_id), municipalityCode: row.municipality_code,
      mykeyPk: Number(row.mykey_pk), points: Number(row.points),
    }));
  },

  /**
   * Moves the requests to credited, all in one statement: joined with their outcomes as a
   * derived table, each row is found by its key (a CASE per column would compare every row
   * with every outcome). STRAIGHT_JOIN makes the derived table drive: the other way round,
   * MariaDB scans every request with locks.
   */
  async markCredited(trx: Knex.Transaction, outcomes: CreditedOutcome[], now: Date): Promise<void> {
    const rows = outcomes.map(() => 'SELECT ? AS id, ? AS entry_id, ? AS campaign_id, ? AS base_points, ? AS premium_points, ? AS webhook').join(' UNION ALL ');
    await trx.raw(`UPDATE (${rows}) AS o STRAIGHT_JOIN conversion_requests AS c FORCE INDEX (PRIMARY) ON c.id = o.id
      SET c.state = 'credited', c.finished_at = ?, c.entry_id = o.entry_id, c.campaign_id = o.campaign_id, c.base_points = o.base_points,
        c.premium_points = o.premium_points, c.webhook_state = IF(o.webhook, 'pending', 'none'), c.webhook_next_at = IF(o.webhook, ?, NULL)
      WHERE c.state = 'accepted'`,
    [...outcomes.flatMap((o) => [o.id, o.entryId, o.campaignId, o.basePoints, o.premiumPoints, o.webhook]), now, now]);
  },

  async markRejected(trx: Knex.Transaction, id: number, outcome: RejectedOutcome, webhook: boolean, now: Date): Promise<void> {
    await trx.from(through(trx, 'PRIMARY')).where({ id, state: 'accepted' }).update({
      state: 'rejected', reject_code: outcome.code, reject_detail: outcome.detail.slice(0, DETAIL_MAX), finished_at: now, ...webhookDue(webhook, now),
    });
  },

  /** Counts a processing attempt that failed for a passing reason, on the requests still to be done. */
  async countFailedAttempt(conn: Conn, ids: number[]): Promise<void> {
    await conn.from(through(conn, 'PRIMARY')).whereIn('id', ids).where('state', 'accepted').increment('attempts', 1);
  },

  // --- the sweeper ------------------------------------------------------------------------

  /**
   * Accepted requests last queued before `before`, or never queued and accepted before it (one
   * just accepted is about to be queued by the API), after id `after`, in id order, with the
   * batch line each came from (its job's id: queue.ts jobIdOf).
   */
  async unqueued(conn: Conn, before: Date, limit: number, after = 0): Promise<QueuedConversion[]> {
    const rows = await conn.from(through(conn, QUEUE_INDEX)).where('state', 'accepted')
      .where((q) => q.where((never) => never.whereNull('queued_at').where('accepted_at', '<', before)).orWhere('queued_at', '<', before))
      .where('id', '>', after).orderBy('id').limit(limit).select('id', 'batch_id', 'batch_line');
    return rows.map((row) => ({ id: Number(row.id), batch: row.batch_id === null ? null : { id: Number(row.batch_id), line: Number(row.batch_line) } }));
  },

  /** Stamps the requests as queued now, skipping those a worker is crediting (locked): they need no stamp. */
  async restampQueued(trx: Knex.Transaction, ids: number[], now: Date): Promise<void> {
    const free = await trx.from(through(trx, 'PRIMARY')).whereIn('id', ids).where('state', 'accepted').forUpdate().skipLocked().select('id');
    if (free.length > 0) await trx.from(through(trx, 'PRIMARY')).whereIn('id', free.map((row) => row.id)).update({ queued_at: now });
  },

  // --- webhooks ---------------------------------------------------------------------------

  /** Partners with webhooks due at `now` (a plain read: claiming decides). */
  async partnersWithDueWebhooks(conn: Conn, now: Date, limit: number): Promise<number[]> {
    const rows = await conn.from(through(conn, WEBHOOK_INDEX)).where('webhook_state', 'pending').where('webhook_next_at', '<=', now)
      .distinct('partner_id').limit(limit);
    return rows.map((row) => Number(row.partner_id));
  },

  /**
   * Claims up to `limit` of a partner's due webhooks: rows no one else holds are leased until
   * `leaseUntil` (their next attempt time moves there), so no other worker sends them meanwhile.
   * Moving the lease moves the rows in the index another claimer skips through, so two claims
   * can deadlock; a claim changes nothing else and is simply taken again (by the caller).
   */
  async claimWebhooks(trx: Knex.Transaction, partnerId: number, now: Date, limit: number, leaseUntil: Date): Promise<DueWebhook[]> {
    const rows = await trx.from(through(trx, WEBHOOK_INDEX)).where('webhook_state', 'pending').where('webhook_next_at', '<=', now)
      .where('partner_id', partnerId).orderBy('webhook_next_at').limit(limit).forUpdate().skipLocked().select('id');
    const ids = rows.map((row) => Number(row.id));
    if (ids.length === 0) return [];
    await trx.from(through(trx, 'PRIMARY')).whereIn('id', ids).update({ webhook_next_at: leaseUntil });
    const due = await trx('conversion_requests as c').join('partners as p', 'p.id', 'c.partner_id').whereIn('c.id', ids).orderBy('c.id')
      .select(...COLUMNS.map((column) => `c.${column}`), 'c.partner_id', 'c.webhook_attempts', 'p.slug', 'p.webhook_url', 'p.api_secret_sealed');
    return due.map((row) => ({
      conversion: toConversion(row), partnerId: Number(row.partner_id), partnerSlug: row.slug, webhookUrl: row.webhook_url ?? null,
      secretSealed: row.api_secret_sealed ? Buffer.from(row.api_secret_sealed) : null, attempts: Number(row.webhook_attempts),
    }));
  },

  async webhookDelivered(conn: Conn, id: number, now: Date): Promise<void> {
    await conn.from(through(conn, 'PRIMARY')).where({ id, webhook_state: 'pending' }).update({
      webhook_state: 'delivered', webhook_delivered_at: now, webhook_next_at: null, webhook_last_error: null,
      webhook_attempts: conn.raw('webhook_attempts + 1'),
    });
  },

  async webhookFailed(conn: Conn, id: number, error: string, nextAt: Date): Promise<void> {
    await conn.from(through(conn, 'PRIMARY')).where({ id, webhook_state: 'pending' }).update({
      webhook_next_at: nextAt, webhook_last_error: error.slice(0, ERROR_MAX), webhook_attempts: conn.raw('webhook_attempts + 1'),
    });
  },
};

/** A finished request's webhook: due now when the partner has a webhook URL, else none. */
const webhookDue = (webhook: boolean, now: Date) => (webhook ? { webhook_state: 'pending', webhook_next_at: now } : { webhook_state: 'none' });
