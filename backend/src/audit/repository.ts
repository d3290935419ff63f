// The audit log's tables: audit_events (the chain), audit_texts (free texts beside it) and
// audit_head (the chain's one-row head, whose row lock orders appenders). The chain's rules —
// hashing, appending, verifying — are chain.ts's.
import type { Knex } from 'knex';
import type { Db } from '../db.ts';

type Conn = Db | Knex.Transaction;

export interface HeadRow { last_seq: number; last_hash: Buffer; keyed_from: number }

export interface EventRow {
  seq: number;
  occurred_at: Date;
  action: string;
  actor_kind: string;
  actor_id: string;
  subject: string;
  /** JSON: text on MariaDB, a parsed value on MySQL. */
  details: unknown;
  prev_hash: Buffer;
  hash: Buffer;
}

export interface TextRow { seq: number; name: string; ref: Buffer; nonce: Buffer | null; text: string | null; erased_at: Date | null; erased_seq: number | null }

export interface NewTextRow { seq: number; name: string; ref: Buffer; nonce: Buffer; text: string }

/** An event as read back for a subject's history, with the staff actor's display name. */
export interface HistoryRow extends Pick<EventRow, 'seq' | 'occurred_at' | 'action' | 'actor_kind' | 'actor_id' | 'details'> { display_name: string | null }

/** An event done by staff, with the account's roles (a SET: comma-separated) and its organization's town. */
export interface StaffEventRow extends Pick<EventRow, 'seq' | 'occurred_at' | 'action' | 'actor_id' | 'details'> { roles: string; town: string }

/** Whose history is asked for: a town's, and whether it is the subject's home town. */
export interface TownView { code: string; home: boolean }

export type TextsToErase = { seq: number; name?: string } | { ref: string };

export const auditRepository = {
  /** The head, locked until the transaction ends: appenders take turns here. */
  async lockHead(trx: Knex.Transaction): Promise<(Pick<HeadRow, 'last_seq' | 'last_hash'> & { in_transaction: number; connection: number }) | undefined> {
    return trx('audit_head').where({ id: 1 }).forUpdate().first('last_seq', 'last_hash', trx.raw('@@in_transaction AS in_transaction'), trx.raw('CONNECTION_ID() AS connection'));
  },

  /** The chain's last event, locked: what the next event follows, whatever the head says. */
  async lastEvent(trx: Knex.Transaction): Promise<Pick<EventRow, 'seq' | 'hash'> | undefined> {
    return trx('audit_events').orderBy('seq', 'desc').forUpdate().first('seq', 'hash');
  },

  async head(conn: Conn): Promise<HeadRow | undefined> {
    return conn('audit_head').where({ id: 1 }).first('last_seq', 'last_hash', 'keyed_from');
  },

  async advanceHead(trx: Knex.Transaction, seq: number, hash: Buffer): Promise<void> {
    await trx('audit_head').where({ id: 1 }).update({ last_seq: seq, last_hash: hash });
  },

  async insertEvent(trx: Knex.Transaction, row: Omit<EventRow, 'details'> & { details: string }): Promise<void> {
    await trx('audit_events').insert(row);
  },

  async insertTexts(trx: Knex.Transaction, rows: NewTextRow[]): Promise<void> {
    await trx('audit_texts').insert(rows);
  },

  /**
   * The latest events about `subject`, newest first. With `town`, only those whose details name
   * it among their municipalities, and for the home town those that name none.
   */
  async history(conn: Conn, subject: string, { limit, town, exceptActions }: { limit: number; town?: TownView; exceptActions: string[] }): Promise<HistoryRow[]> {
    const query = conn('audit_events as e')
      .leftJoin('staff_accounts as s', function staffActor() {
        this.on('e.actor_kind', '=', conn.raw('?', ['staff'])).andOn('s.id', '=', 'e.actor_id');
      })
      .where('e.subject', subject).whereNotIn('e.action', exceptActions);
    if (town) {
      query.where((q) => {
        q.whereRaw("JSON_CONTAINS(e.details, JSON_QUOTE(?), '$.municipalities')", [town.code]);
        if (town.home) q.orWhereRaw("JSON_EXTRACT(e.details, '$.municipalities') IS NULL");
      });
    }
    return query.orderBy('e.seq', 'desc').limit(limit)
      .select('e.seq', 'e.occurred_at', 'e.action', 'e.actor_kind', 'e.actor_id', 'e.details', 's.display_name');
  },

  /**
   * A page of the events done by staff about `subject` (a MyKey ID), newest first, for the
   * resident's own page: with the staff account's id, roles and town now, and neither its name nor its
   * login. Staff accounts are never deleted (disabled at most), so every staff event finds its
   * account. The count is the whole list's, for the pager.
   */
  async staffEventsAbout(conn: Conn, subject: string, { limit, offset }: { limit: number; offset: number }): Promise<{ total: number; rows: StaffEventRow[] }> {
    const about = () => conn('audit_events as e').where({ 'e.subject': subject, 'e.actor_kind': 'staff' });
    const [counted, rows] = await Promise.all([
      about().count({ n: '*' }),
      about().join('staff_accounts as s', 's.id', 'e.actor_id').leftJoin('merchants as m', 'm.id', 's.merchant_id')
        .orderBy('e.seq', 'desc').limit(limit).offset(offset)
        .select('e.seq', 'e.occurred_at', 'e.action', 'e.actor_id', 'e.details', 's.roles', conn.raw('COALESCE(m.municipality_code, s.municipality_code) AS town')),
    ]);
    return { total: Number(counted[0]!.n), rows };
  },

  /** Every change of these staff accounts' roles (`staff.roles_changed`, subject `staff:{id}`), in order. */
  async rolesChangesOf(conn: Conn, staffIds: string[]): Promise<Array<Pick<EventRow, 'seq' | 'subject' | 'details'>>> {
    if (staffIds.length === 0) return [];
    return conn('audit_events').whereIn('subject', staffIds.map((id) => `staff:${id}`)).where({ action: 'staff.roles_changed' }).orderBy('seq').select('seq', 'subject', 'details');
  },

  async textsOf(conn: Conn, seqs: number[]): Promise<Array<Pick<TextRow, 'seq' | 'name' | 'text'>>> {
    return conn('audit_texts').whereIn('seq', seqs).select('seq', 'name', 'text');
  },

  /** The texts matching `target`, locked, by name. */
  async lockTexts(trx: Knex.Transaction, target: TextsToErase): Promise<Array<Pick<TextRow, 'seq' | 'name' | 'ref' | 'erased_at'>>> {
    const query = trx('audit_texts').forUpdate().orderBy('name').select('seq', 'name', 'ref', 'erased_at');
    if ('ref' in target) query.where('ref', Buffer.from(target.ref, 'hex'));
    else query.where('seq', target.seq).modify((q) => { if (target.name !== undefined) q.where('name', target.name); });
    return query;
  },

  async markTextsErased(trx: Knex.Transaction, refs: Buffer[], erasedAt: Date, erasedSeq: number): Promise<void> {
    await trx('audit_texts').whereIn('ref', refs).update({ text: null, nonce: null, erased_at: erasedAt, erased_seq: erasedSeq });
  },

  /** Up to `limit` events after seq `after`, in seq order (a page of a keyset walk). */
  async eventsAfter(conn: Conn, after: number, limit: number): Promise<EventRow[]> {
    return conn('audit_events').where('seq', '>', after).orderBy('seq').limit(limit);
  },

  async textsBetween(conn: Conn, firstSeq: number, lastSeq: number): Promise<TextRow[]> {
    return conn('audit_texts').whereBetween('seq', [firstSeq, lastSeq]);
  },
};
