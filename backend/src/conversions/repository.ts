// The SQL of processing conversion requests and delivering their webhooks (the intake's
// statements live with the partner API). Every locking read names its index, as the ledger's
// do: a locking scan would wait for rows it has nothing to do with.
import type { Knex } from 'knex';
import { retryTransient, type Db } from '../db.ts';
import { COLUMNS, toConversion, type Conversion } from './intake.ts';

type Conn = Db | Knex.Transaction;

const through = (conn: Conn, index: string) => conn.raw('conversion_requests FORCE INDEX (??)', [index]);
const WEBHOOK_INDEX = 'conversion_requests_webhook_state_webhook_next_at_index';
const QUEUE_INDEX = 'conversion_requests_state_queued_at_index';

export type ConversionState = 'accepted' | 'credited' | 'rejected';

/** A request as processing sees it: who, where, how much, and whether it is still to be done. */
export interface LockedRequest { id: number; state: ConversionState; partnerId: number; municipalityCode: string; mykeyPk: number; points: number }

export interface Party { mykeyId: string; active: boolean }
export interface PartnerState { active: boolean; webhookUrl: string | null }

export interface CreditedOutcome { id: number; entryId: number; campaignId: number | null; basePoints: number; premiumPoints: number; webhook: boolean }
export interface RejectedOutcome { code: string; detail: string }

/** A finished request whose webhook is due, with what signing and sending it needs. */
export interface DueWebhook {
  conversion: Conversion; partnerId: number; partnerSlug: string; webhookUrl: string | null; secretSealed: Buffer | null; attempts: number;
}

const DETAIL_MAX = 500;
const ERROR_MAX = 500;

export const conversionRepository = {
  /** The requests, locked in ascending id order (the one order every processor uses). */
  async lockRequests(trx: Knex.Transaction, ids: number[]): Promise<LockedRequest[]> {
    const rows = await trx.from(through(trx, 'PRIMARY')).whereIn('id', [...new Set(ids)]).orderBy('id').forUpdate()
      .select('id', 'state', 'partner_id', 'municipality_code', 'mykey_pk', 'points');
    return rows.map((row) => ({
      id: Number(row.id), state: row.state, partnerId: Number(row.partner_id), municipalityCode: row.municipality_code,
      mykeyPk: Number(row.mykey_pk), points: Number(row.points),
    }));
  },

  /** The MyKey IDs by primary key, with whether each is active (read in the transaction, after the requests' locks). */
  async residents(trx: Knex.Transaction, mykeyPks: number[]): Promise<Map<number, Party>> {
    const rows = await trx('mykeys').whereIn('id', [...new Set(mykeyPks)]).select('id', 'mykey_id', 'status');
    return new Map(rows.map((row) => [Number(row.id), { mykeyId: row.mykey_id, active: row.status === 'active' }]));
  },

  async partners(trx: Knex.Transaction, partnerIds: number[]): Promise<Map<number, PartnerState>> {
    const rows = await trx('partners').whereIn('id', [...new Set(partnerIds)]).select('id', 'status', 'webhook_url');
    return new Map(rows.map((row) => [Number(row.id), { active: row.status === 'active', webhookUrl: row.webhook_url ?? null }]));
  },

  /**
   * The campaign that adds its premium to a conversion in this municipality on this Japanese
   * date: running that day with a premium, the one ending soonest, the lowest id among those
   * (docs/partner-api.md#outcomes-and-webhooks).
   */
  async premiumCampaign(conn: Conn, municipalityCode: string, tokyoDate: string): Promise<number | undefined> {
    const row = await conn('campaigns').where({ municipality_code: municipalityCode }).where('premium_percent', '>', 0)
      .where('starts_on', '<=', tokyoDate).where('ends_on', '>=', tokyoDate).orderBy([{ column: 'ends_on' }, { column: 'id' }]).first('id');
    return row && Number(row.id);
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
  async countFailedAttempt(db: Db, ids: number[]): Promise<void> {
    await db.from(through(db, 'PRIMARY')).whereIn('id', ids).where('state', 'accepted').increment('attempts', 1);
  },

  // --- the sweeper ------------------------------------------------------------------------

  /**
   * Accepted requests last queued before `before`, or never queued and accepted before it (one
   * just accepted is about to be queued by the API), after id `after`, in id order.
   */
  async unqueued(conn: Conn, before: Date, limit: number, after = 0): Promise<number[]> {
    const rows = await conn.from(through(conn, QUEUE_INDEX)).where('state', 'accepted')
      .where((q) => q.where((never) => never.whereNull('queued_at').where('accepted_at', '<', before)).orWhere('queued_at', '<', before))
      .where('id', '>', after).orderBy('id').limit(limit).select('id');
    return rows.map((row) => Number(row.id));
  },

  /** Stamps the requests as queued now, skipping those a worker is crediting (locked): they need no stamp. */
  async markQueued(db: Db, ids: number[], now: Date): Promise<void> {
    if (ids.length === 0) return;
    await db.transaction(async (trx) => {
      const free = await trx.from(through(trx, 'PRIMARY')).whereIn('id', ids).where('state', 'accepted').forUpdate().skipLocked().select('id');
      if (free.length > 0) await trx.from(through(trx, 'PRIMARY')).whereIn('id', free.map((row) => row.id)).update({ queued_at: now });
    });
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
   * can deadlock; a claim changes nothing else and is simply taken again.
   */
  async claimWebhooks(db: Db, partnerId: number, now: Date, limit: number, leaseUntil: Date): Promise<DueWebhook[]> {
    return retryTransient(() => db.transaction(async (trx) => {
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
    }));
  },

  async webhookDelivered(db: Db, id: number, now: Date): Promise<void> {
    await db.from(through(db, 'PRIMARY')).where({ id, webhook_state: 'pending' }).update({
      webhook_state: 'delivered', webhook_delivered_at: now, webhook_next_at: null, webhook_last_error: null,
      webhook_attempts: db.raw('webhook_attempts + 1'),
    });
  },

  async webhookFailed(db: Db, id: number, error: string, nextAt: Date): Promise<void> {
    await db.from(through(db, 'PRIMARY')).where({ id, webhook_state: 'pending' }).update({
      webhook_next_at: nextAt, webhook_last_error: error.slice(0, ERROR_MAX), webhook_attempts: db.raw('webhook_attempts + 1'),
    });
  },
};

/** A finished request's webhook: due now when the partner has a webhook URL, else none. */
const webhookDue = (webhook: boolean, now: Date) => (webhook ? { webhook_state: 'pending', webhook_next_at: now } : { webhook_state: 'none' });
