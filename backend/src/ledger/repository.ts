// Every SQL statement of the ledger's tables (ledger_accounts, ledger_entries, ledger_postings,
// ledger_lots, ledger_lot_movements). Other features read the ledger through the functions here
// (grants' recent entries, settlement's sums, the campaign figures' sums per day). It asks mykey/
// for a MyKey ID's primary key, but reads three things of others itself, because their folders
// build on the ledger and asking them would make the folders import each other: whether a partner
// exists; a campaign's terms, which only the ledger enforces (campaign(), and the shops taking part
// when a payment picks its lots); and, in paymentParties, the shop and resident of a payment (the
// hot path of every payment, one read). Everything else about campaigns is campaigns/repository.ts.
//
// Reads of ledger state inside a posting transaction are locking reads taken after the
// accounts are locked: they see the latest committed rows whatever the isolation level, while
// the account locks keep anyone else from changing them. Plain reads are used only where a
// stale answer is caught later (the reference check, backed by the unique key).
import type { Knex } from 'knex';
import type { Db } from '../db.ts';
import type { Entry, EntryKind, NewLot, Posting } from './entries.ts';
import type { LotMovement, OpenLot, TakenFromLot } from './rules.ts';
import type { CampaignKind, CampaignStatus, PointsValidity } from '@mykey/contracts/campaigns.ts';

type Conn = Db | Knex.Transaction;

export type AccountKind = 'resident' | 'merchant_payable' | 'campaign_budget' | 'partner_clearing' | 'municipality_funding' | 'expired';

/** Who an account belongs to; the municipality kinds belong to the municipality alone. */
export type AccountOwner =
  | { kind: 'resident'; mykeyPk: number }
  | { kind: 'merchant_payable'; merchantId: number }
  | { kind: 'campaign_budget'; campaignId: number }
  | { kind: 'partner_clearing'; partnerId: number }
  | { kind: 'municipality_funding' | 'expired' };

export interface LockedAccount { id: number; municipalityCode: string; kind: AccountKind; balance: number }

export interface StoredEntry { id: number; kind: EntryKind; municipalityCode: string; requestHash: Buffer; relatedEntryId: number | null; postedAt: Date }

/** A campaign's terms as the ledger enforces them. */
export interface Campaign {
  id: number; municipalityCode: string; kind: CampaignKind; status: CampaignStatus; premiumPercent: number; budgetPoints: number;
  capPerResidentPoints: number; startsOn: string; endsOn: string; validity: PointsValidity;
}

/** How long a campaign's points stay valid, from its row. */
export const validityOf = (row: { points_valid_until: string | null; points_valid_months: number | null }): PointsValidity =>
  row.points_valid_until ? { until: row.points_valid_until } : { months: Number(row.points_valid_months) };

const ownerColumns = (owner: AccountOwner) => ({
  kind: owner.kind,
  mykey_pk: owner.kind === 'resident' ? owner.mykeyPk : null,
  merchant_id: owner.kind === 'merchant_payable' ? owner.merchantId : null,
  campaign_id: owner.kind === 'campaign_budget' ? owner.campaignId : null,
  partner_id: owner.kind === 'partner_clearing' ? owner.partnerId : null,
});

const ownerId = (owner: AccountOwner): number =>
  'mykeyPk' in owner ? owner.mykeyPk : 'merchantId' in owner ? owner.merchantId
    : 'campaignId' in owner ? owner.campaignId : 'partnerId' in owner ? owner.partnerId : 0;

/** BIGINT columns arrive as numbers; a sum past 2^53 would not be exact, and must never pass unnoticed. */
function points(value: unknown): number {
  const n = Number(value ?? 0);
  if (!Number.isSafeInteger(n)) throw new Error(`ledger figure ${String(value)} is not an exact integer`);
  return n;
}

const toEntry = (row: Record<string, unknown>): StoredEntry => ({
  id: Number(row.id), kind: row.kind as EntryKind, municipalityCode: String(row.municipality_code),
  requestHash: Buffer.from(row.request_hash as Buffer), relatedEntryId: row.related_entry_id == null ? null : Number(row.related_entry_id),
  postedAt: row.posted_at as Date,
});

/** The column naming each kind of account's owner (the municipality kinds have none). */
const OWNER_COLUMN: Record<AccountKind, string> = {
  resident: 'mykey_pk', merchant_payable: 'merchant_id', campaign_budget: 'campaign_id', partner_clearing: 'partner_id', municipality_funding: 'owner_id', expired: 'owner_id',
};

const ENTRY_COLUMNS = ['id', 'kind', 'municipality_code', 'request_hash', 'related_entry_id', 'posted_at'];

/**
 * A table read through a named index. Every locking read and every UPDATE names its index: on
 * small or freshly grown tables the optimizer may pick a full scan, and a locking scan waits
 * for (and holds) the rows of accounts it has nothing to do with.
 */
const through = (conn: Conn, table: string, index: string, alias = table) => conn.raw('?? AS ?? FORCE INDEX (??)', [table, alias, index]);

/**
 * Narrows a query of ledger_lots to the lots a shop takes: converted points (no campaign), and
 * points of a campaign that all its town's shops take or that names this shop.
 */
function takenAt(conn: Conn, query: Knex.QueryBuilder, merchantId: number): void {
  query.where((lots) => lots.whereNull('ledger_lots.campaign_id').orWhereExists(
    conn('campaigns as c').whereRaw('c.id = ledger_lots.campaign_id').where((c) => c.where('c.all_merchants', true)
      .orWhereExists(conn('campaign_merchants as cm').whereRaw('cm.campaign_id = c.id').where('cm.merchant_id', merchantId).select(conn.raw('1'))))
      .select(conn.raw('1'))));
}

/** How findAccounts names an account. */
export const accountKey = (municipalityCode: string, owner: AccountOwner) => `${municipalityCode}:${owner.kind}:${ownerId(owner)}`;

/** Which entries a sum reads: those posted in a span of time, or a set named by a subquery of entry ids. */
export type EntrySet = { startsAt: Date; endsBefore: Date } | { ids: Knex.QueryBuilder };

/** A lot of a resident's, as their own page shows it. */
export interface ResidentLot { id: number; municipalityCode: string; arrivedBy: EntryKind; remaining: number; original: number; expiresAt: Date; lastDay: string }

/** An entry that moved a resident's points, with the shop or partner on the other side. */
export interface ResidentMovement { entryId: number; kind: EntryKind; municipalityCode: string; postedAt: Date; points: number; merchantId: number | null; partnerId: number | null }

/** The postings (aliased p) of a MyKey ID's resident accounts, joined to their entries (e). */
const residentPostings = (conn: Conn, mykeyPk: number) => conn('ledger_postings as p').join('ledger_accounts as a', 'a.id', 'p.account_id')
  .join('ledger_entries as e', 'e.id', 'p.entry_id').where({ 'a.kind': 'resident', 'a.mykey_pk': mykeyPk });

/** A campaign-figures sum: per campaign, Japanese day and entry kind. */
export interface FiguresSum { campaignId: number; day: string; kind: EntryKind; total: number }

const toFiguresSum = (row: Record<string, unknown>): FiguresSum => ({ campaignId: Number(row.campaign_id), day: String(row.day), kind: row.kind as EntryKind, total: points(row.total) });

/** The Japanese calendar day of a UTC moment, as YYYY-MM-DD, named `day`. */
const TOKYO_DAY = (conn: Conn, column: string) => conn.raw(`DATE_FORMAT(?? + INTERVAL 9 HOUR, '%Y-%m-%d') AS day`, [column]);

/** The last Japanese day a lot can be spent: its expiry is the moment that day ends. */
const LAST_DAY = 'l.open_expires_at + INTERVAL 9 HOUR - INTERVAL 1 MICROSECOND';

/** Lines of the expiring list read by one statement. */
const EXPIRING_PAGE = 1_000;

/** The movements of the campaigns' lots by entries of these kinds posted in [startsAt, endsBefore). */
const lotMovements = (conn: Conn, campaignIds: number[], kinds: EntryKind[], startsAt: Date, endsBefore: Date) =>
  conn.from(through(conn, 'ledger_lots', 'ledger_lots_by_campaign', 'l'))
    .join('ledger_lot_movements as m', 'm.lot_id', 'l.id')
    .join('ledger_entries as e', 'e.id', 'm.entry_id')
    .whereIn('l.campaign_id', campaignIds).whereIn('e.kind', kinds).where('e.posted_at', '>=', startsAt).where('e.posted_at', '<', endsBefore);

/** The town's residents' lots with points left whose expiry is after `after` and not after `by`. */
const openLotsExpiring = (conn: Conn, municipalityCode: string, after: Date, by: Date) =>
  conn.from(through(conn, 'ledger_accounts', 'ledger_accounts_one_per_owner', 'a'))
    .join(through(conn, 'ledger_lots', 'ledger_lots_spending_order', 'l'), 'l.account_id', 'a.id')
    .where({ 'a.municipality_code': municipalityCode, 'a.kind': 'resident' })
    .where('l.open_expires_at', '>', after).where('l.open_expires_at', '<=', by);

export const ledgerRepository = {
  // --- the parties the ledger names -------------------------------------------------------

  /**
   * What a payment names, in one plain read: the shop's municipality, the MyKey ID's key, the
   * accounts of both in that municipality (undefined until first used) and the entry already
   * posted under `reference`, if any. Undefined when the shop does not exist.
   */
  async paymentParties(conn: Conn, merchantId: number, mykeyId: string, reference: string): Promise<{
    municipalityCode: string; mykeyPk?: number; residentAccount?: number; merchantAccount?: number; posted?: StoredEntry;
  } | undefined> {
    const row = await conn('merchants as m')
      .leftJoin('mykeys as mk', (on) => on.on('mk.mykey_id', conn.raw('?', [mykeyId])))
      .leftJoin('ledger_accounts as ra', (on) => on.on('ra.municipality_code', 'm.municipality_code').andOn('ra.kind', conn.raw('?', ['resident'])).andOn('ra.owner_id', 'mk.id'))
      .leftJoin('ledger_accounts as ma', (on) => on.on('ma.municipality_code', 'm.municipality_code').andOn('ma.kind', conn.raw('?', ['merchant_payable'])).andOn('ma.owner_id', 'm.id'))
      .leftJoin('ledger_entries as e', (on) => on.on('e.reference', conn.raw('?', [reference])))
      .where('m.id', merchantId)
      .first('m.municipality_code', 'mk.id as mykey_pk', 'ra.id as resident_account', 'ma.id as merchant_account',
        ...ENTRY_COLUMNS.map((column) => `e.${column} as entry_${column}`));
    if (!row) return undefined;
    const entry = Object.fromEntries(ENTRY_COLUMNS.map((column) => [column, row[`entry_${column}`]]));
    const id = (value: unknown) => (value == null ? undefined : Number(value));
    return {
      municipalityCode: row.municipality_code, mykeyPk: id(row.mykey_pk), residentAccount: id(row.resident_account), merchantAccount: id(row.merchant_account),
      posted: entry.id == null ? undefined : toEntry(entry),
    };
  },

  async partnerExists(conn: Conn, partnerId: number): Promise<boolean> {
    return Boolean(await conn('partners').where({ id: partnerId }).first('id'));
  },

  /**
   * A campaign's terms. `lock` share-locks the row: a pause or an end (which lock it for update)
   * then waits for the posting, or the posting sees it.
   */
  async campaign(conn: Conn, campaignId: number, { lock = false } = {}): Promise<Campaign | undefined> {
    const query = conn('campaigns').where({ id: campaignId });
    const row = await (lock ? query.forShare() : query).first('id', 'municipality_code', 'kind', 'status', 'premium_percent', 'budget_points',
      'cap_per_resident_points', conn.raw("DATE_FORMAT(starts_on, '%Y-%m-%d') AS starts_on"), conn.raw("DATE_FORMAT(ends_on, '%Y-%m-%d') AS ends_on"),
      conn.raw("DATE_FORMAT(points_valid_until, '%Y-%m-%d') AS points_valid_until"), 'points_valid_months');
    return row && {
      id: Number(row.id), municipalityCode: row.municipality_code, kind: row.kind, status: row.status, premiumPercent: Number(row.premium_percent),
      budgetPoints: points(row.budget_points), capPerResidentPoints: points(row.cap_per_resident_points), startsOn: row.starts_on, endsOn: row.ends_on,
      validity: validityOf(row),
    };
  },

  // --- accounts ---------------------------------------------------------------------------

  /**
   * Those of these accounts that exist, in one read (not locked), by accountKey: a transaction
   * posting several entries locks their union with lockAccounts before the first posting.
   */
  async findAccounts(conn: Conn, accounts: Array<{ municipalityCode: string; owner: AccountOwner }>): Promise<Map<string, number>> {
    if (accounts.length === 0) return new Map();
    const rows = await conn('ledger_accounts')
      .whereIn(['municipality_code', 'kind', 'owner_id'], accounts.map(({ municipalityCode, owner }) => [municipalityCode, owner.kind, ownerId(owner)]))
      .select('id', 'municipality_code', 'kind', 'owner_id');
    return new Map(rows.map((row) => [`${row.municipality_code}:${row.kind}:${Number(row.owner_id)}`, Number(row.id)]));
  },

  /**
   * Creates the account and answers its id; undefined when it exists already (a concurrent
   * creator won). Either way the row ends exclusively locked, never share-locked first.
   */
  async insertAccount(trx: Knex.Transaction, municipalityCode: string, owner: AccountOwner): Promise<number | undefined> {
    const [id] = await trx('ledger_accounts').insert({ municipality_code: municipalityCode, ...ownerColumns(owner) }).onConflict().merge({ id: trx.raw('id') });
    return id ? Number(id) : undefined;
  },

  /**
   * Locks the accounts in ascending id order, the one order every posting uses, so two
   * transactions never each hold an account the other waits for. Answers the rows as locked.
   */
  async lockAccounts(trx: Knex.Transaction, ids: number[]): Promise<LockedAccount[]> {
    const rows = await trx.from(through(trx, 'ledger_accounts', 'PRIMARY')).whereIn('id', [...new Set(ids)].sort((a, b) => a - b)).orderBy('id').forUpdate()
      .select('id', 'municipality_code', 'kind', 'balance');
    return rows.map((row) => ({ id: Number(row.id), municipalityCode: row.municipality_code, kind: row.kind, balance: points(row.balance) }));
  },

  /**
   * Moves many accounts' balances in one UPDATE, each account found by its key through a
   * derived table (a CASE over hundreds of accounts would compare every row with every case).
   * STRAIGHT_JOIN makes the derived table drive: joined the other way round, MariaDB scans
   * every account with locks, waiting on (and deadlocking with) unrelated transactions.
   */
  async addToBalances(trx: Knex.Transaction, moves: Array<{ accountId: number; amount: number }>): Promise<void> {
    const rows = moves.map(() => 'SELECT ? AS id, ? AS amount').join(' UNION ALL ');
    await trx.raw(`UPDATE (${rows}) AS m STRAIGHT_JOIN ledger_accounts AS a FORCE INDEX (PRIMARY) ON a.id = m.id SET a.balance = a.balance + m.amount`,
      moves.flatMap((m) => [m.accountId, m.amount]));
  },

  /** An account as it stands (not locked): its municipality and kind never change. */
  async account(conn: Conn, accountId: number): Promise<Omit<LockedAccount, 'id'> | undefined> {
    const row = await conn('ledger_accounts').where({ id: accountId }).first('municipality_code', 'kind', 'balance');
    return row && { municipalityCode: row.municipality_code, kind: row.kind, balance: points(row.balance) };
  },

  // --- entries and postings ---------------------------------------------------------------

  /**
   * The entries posted under these references. `lock` reads the latest committed rows (after a
   * duplicate-key error, the snapshot may predate them).
   */
  async entriesByReferences(conn: Conn, references: string[], { lock = false } = {}): Promise<Map<string, StoredEntry>> {
    const query = conn('ledger_entries').whereIn('reference', references);
    const rows = await (lock ? query.forShare() : query).select(['reference', ...ENTRY_COLUMNS]);
    return new Map(rows.map((row) => [row.reference as string, toEntry(row)]));
  },

  /**
   * Inserts the entries in one statement; answers their ids by reference, or undefined when a
   * reference is taken (by a transaction that committed after this one's read of references).
   */
  async insertEntries(trx: Knex.Transaction, entries: Entry[]): Promise<Map<string, number> | undefined> {
    try {
      await trx('ledger_entries').insert(entries.map((entry) => ({
        municipality_code: entry.municipalityCode, kind: entry.kind, reference: entry.reference, request_hash: entry.requestHash,
        related_entry_id: entry.relatedEntryId ?? null, campaign_id: entry.campaignId ?? null, posted_at: entry.postedAt,
      })));
    } catch (error) {
      if ((error as { code?: string }).code === 'ER_DUP_ENTRY') return undefined;
      throw error;
    }
    // Ids of a multi-row insert need not be consecutive (innodb_autoinc_lock_mode 2): read them back.
    const rows = await trx('ledger_entries').whereIn('reference', entries.map((entry) => entry.reference)).select('id', 'reference');
    return new Map(rows.map((row) => [row.reference as string, Number(row.id)]));
  },

  async postingsOf(conn: Conn, entryId: number): Promise<Posting[]> {
    const rows = await conn('ledger_postings').where({ entry_id: entryId }).orderBy('account_id').select('account_id', 'amount');
    return rows.map((row) => ({ accountId: Number(row.account_id), amount: points(row.amount) }));
  },

  /** The postings of several entries in one statement. */
  async insertPostings(trx: Knex.Transaction, postings: Array<{ entryId: number; accountId: number; amount: number }>): Promise<void> {
    await trx('ledger_postings').insert(postings.map((p) => ({ entry_id: p.entryId, account_id: p.accountId, amount: p.amount })));
  },

  // --- lots -------------------------------------------------------------------------------

  /**
   * A page of the account's lots still valid at `now`, in spending order (soonest expiry,
   * then oldest), locked; `after` continues from the last lot of the previous page.
   */
  async spendableLots(trx: Knex.Transaction, accountId: number, now: Date, limit: number, after?: OpenLot, atMerchant?: number): Promise<OpenLot[]> {
    const query = trx.from(through(trx, 'ledger_lots', 'ledger_lots_spending_order')).where('account_id', accountId).where('open_expires_at', '>', now);
    if (atMerchant !== undefined) takenAt(trx, query, atMerchant);
    if (after) {
      query.where((q) => q.where('open_expires_at', '>', after.expiresAt)
        .orWhere((same) => same.where('open_expires_at', after.expiresAt).where('id', '>', after.id)));
    }
    const rows = await query.orderBy([{ column: 'open_expires_at' }, { column: 'id' }]).limit(limit).forUpdate()
      .select('id', 'remaining_points', 'expires_at');
    return rows.map((row) => ({ id: Number(row.id), remaining: points(row.remaining_points), expiresAt: row.expires_at }));
  },

  /**
   * Points the account can spend at `now`: its lots not yet expired; `atMerchant`, only those
   * that shop takes. `lock` reads the latest committed lots.
   */
  async spendablePoints(conn: Conn, accountId: number, now: Date, { lock = false, atMerchant }: { lock?: boolean; atMerchant?: number } = {}): Promise<number> {
    const query = conn.from(through(conn, 'ledger_lots', 'ledger_lots_spending_order')).where('account_id', accountId).where('open_expires_at', '>', now);
    if (atMerchant !== undefined) takenAt(conn, query, atMerchant);
    const [row] = await (lock ? query.forShare() : query).sum({ total: 'remaining_points' });
    return points(row?.total);
  },

  /** The named lots, locked, with the account each belongs to. */
  async lockLots(trx: Knex.Transaction, ids: number[]): Promise<Array<{ id: number; accountId: number; remaining: number; original: number }>> {
    const rows = await trx.from(through(trx, 'ledger_lots', 'PRIMARY')).whereIn('id', ids).orderBy('id').forUpdate().select('id', 'account_id', 'remaining_points', 'original_points');
    return rows.map((row) => ({ id: Number(row.id), accountId: Number(row.account_id), remaining: points(row.remaining_points), original: points(row.original_points) }));
  },

  /**
   * Inserts lots arriving by several entries in one statement, with the movements recording
   * their arrival; answers each lot's id in the order given.
   */
  async insertLots(trx: Knex.Transaction, lots: Array<NewLot & { accountId: number; entryId: number }>): Promise<number[]> {
    if (lots.length === 0) return [];
    await trx('ledger_lots').insert(lots.map((lot) => ({
      account_id: lot.accountId, entry_id: lot.entryId, campaign_id: lot.campaignId, original_points: lot.points, remaining_points: lot.points, expires_at: lot.expiresAt,
    })));
    const rows = await trx('ledger_lots').whereIn('entry_id', [...new Set(lots.map((lot) => lot.entryId))]).orderBy('id').select('id', 'entry_id', 'account_id', 'campaign_id');
    const key = (entryId: number, accountId: number, campaignId: number | null) => `${entryId}:${accountId}:${campaignId ?? ''}`;
    const ids = new Map(rows.map((row) => [key(Number(row.entry_id), Number(row.account_id), row.campaign_id == null ? null : Number(row.campaign_id)), Number(row.id)]));
    if (ids.size !== lots.length) throw new Error('ledger invariant: lots of one entry are told apart by account and campaign');
    const lotIds = lots.map((lot) => ids.get(key(lot.entryId, lot.accountId, lot.campaignId))!);
    await trx('ledger_lot_movements').insert(lots.map((lot, i) => ({ entry_id: lot.entryId, lot_id: lotIds[i], amount: lot.points })));
    return lotIds;
  },

  /** What each campaign gave each of these resident accounts (premiums and grants), by `account:campaign`. */
  async campaignPointsReceived(trx: Knex.Transaction, pairs: Array<{ accountId: number; campaignId: number }>): Promise<Map<string, number>> {
    if (pairs.length === 0) return new Map();
    const rows = await trx.from(through(trx, 'ledger_lots', 'ledger_lots_account_id_campaign_id_index'))
      .whereIn(['account_id', 'campaign_id'], pairs.map((p) => [p.accountId, p.campaignId])).groupBy('account_id', 'campaign_id').forShare()
      .select('account_id', 'campaign_id', trx.raw('SUM(original_points) AS total'));
    return new Map(rows.map((row) => [`${Number(row.account_id)}:${Number(row.campaign_id)}`, points(row.total)]));
  },

  /** One UPDATE for all moved lots, and the movements that explain it. */
  async moveLots(trx: Knex.Transaction, entryId: number, moves: LotMovement[]): Promise<void> {
    const cases = moves.map(() => 'WHEN ? THEN ?').join(' ');
    await trx.raw(`UPDATE ledger_lots FORCE INDEX (PRIMARY) SET remaining_points = remaining_points + CASE id ${cases} END WHERE id IN (${moves.map(() => '?').join(',')})`,
      [...moves.flatMap((m) => [m.lotId, m.amount]), ...moves.map((m) => m.lotId)]);
    await trx('ledger_lot_movements').insert(moves.map((m) => ({ entry_id: entryId, lot_id: m.lotId, amount: m.amount })));
  },

  /** What a payment took from each lot, in the order it took them, and what its refunds and voids gave back since. */
  async takenByPayment(trx: Knex.Transaction, paymentEntryId: number): Promise<TakenFromLot[]> {
    const taken = await trx.from(through(trx, 'ledger_lot_movements', 'PRIMARY', 'm')).join(through(trx, 'ledger_lots', 'PRIMARY', 'l'), 'l.id', 'm.lot_id')
      .where('m.entry_id', paymentEntryId).orderBy([{ column: 'l.expires_at' }, { column: 'l.id' }]).forShare()
      .select('m.lot_id', 'm.amount');
    const restored = await trx.from(through(trx, 'ledger_entries', 'ledger_entries_related_entry_id_foreign', 'e'))
      .join(through(trx, 'ledger_lot_movements', 'PRIMARY', 'r'), 'r.entry_id', 'e.id')
      .where('e.related_entry_id', paymentEntryId).groupBy('r.lot_id').forShare()
      .select('r.lot_id', trx.raw('SUM(r.amount) AS restored'));
    const back = new Map(restored.map((row) => [Number(row.lot_id), points(row.restored)]));
    return taken.map((row) => ({ lotId: Number(row.lot_id), taken: -points(row.amount), restored: back.get(Number(row.lot_id)) ?? 0 }));
  },

  /** Whether any refund or void of the payment was posted. */
  async reversalsOf(trx: Knex.Transaction, paymentEntryId: number): Promise<number> {
    const [row] = await trx.from(through(trx, 'ledger_entries', 'ledger_entries_related_entry_id_foreign')).where('related_entry_id', paymentEntryId).forShare()
      .count({ n: '*' });
    return Number(row?.n ?? 0);
  },

  /** All that funding entries ever put into the campaign's budget account. */
  async campaignFunded(trx: Knex.Transaction, campaignId: number, budgetAccountId: number): Promise<number> {
    const [row] = await trx.from(through(trx, 'ledger_entries', 'ledger_entries_campaign_id_kind_index', 'e')).join(through(trx, 'ledger_postings', 'PRIMARY', 'p'), 'p.entry_id', 'e.id')
      .where({ 'e.campaign_id': campaignId, 'e.kind': 'funding', 'p.account_id': budgetAccountId }).forShare().sum({ total: 'p.amount' });
    return points(row?.total);
  },

  // --- what other features read -----------------------------------------------------------

  /** The latest grant entries of a campaign, with the resident each went to. */
  async recentGrants(conn: Conn, campaignId: number, limit: number): Promise<Array<{ entryId: number; postedAt: Date; reference: string; mykeyId: string; points: number }>> {
    const rows = await conn('ledger_entries as e')
      .join('ledger_postings as p', 'p.entry_id', 'e.id')
      .join('ledger_accounts as a', 'a.id', 'p.account_id')
      .join('mykeys as m', 'm.id', 'a.mykey_pk')
      .where({ 'e.campaign_id': campaignId, 'e.kind': 'grant', 'a.kind': 'resident' })
      .orderBy('e.id', 'desc').limit(limit)
      .select('e.id', 'e.posted_at', 'e.reference', 'p.amount', 'm.mykey_id');
    return rows.map((row) => ({ entryId: Number(row.id), postedAt: row.posted_at, reference: String(row.reference), mykeyId: row.mykey_id, points: points(row.amount) }));
  },

  /** What each campaign's budget account received by funding, gave back at the end, and holds now; all 0 before its first funding. */
  async campaignBudgets(conn: Conn, campaignIds: number[]): Promise<Map<number, { funded: number; returned: number; left: number }>> {
    const budgets = new Map(campaignIds.map((id) => [id, { funded: 0, returned: 0, left: 0 }]));
    if (campaignIds.length === 0) return budgets;
    const rows = await conn('ledger_accounts as a')
      .leftJoin('ledger_postings as p', 'p.account_id', 'a.id')
      .leftJoin('ledger_entries as e', (on) => on.on('e.id', 'p.entry_id').andOnIn('e.kind', ['funding', 'budget_return']))
      .where('a.kind', 'campaign_budget').whereIn('a.campaign_id', campaignIds).groupBy('a.campaign_id', 'a.balance')
      .select('a.campaign_id', 'a.balance', conn.raw("COALESCE(SUM(IF(e.kind = 'funding', p.amount, 0)), 0) AS funded"),
        conn.raw("COALESCE(SUM(IF(e.kind = 'budget_return', -p.amount, 0)), 0) AS returned"));
    for (const row of rows) budgets.set(Number(row.campaign_id), { funded: points(row.funded), returned: points(row.returned), left: points(row.balance) });
    return budgets;
  },

  /**
   * Each (owner, entry kind) of the postings to accounts of `accountKind` in the municipality
   * of the set (posted in [startsAt, endsBefore), or named by ids): how many entries and the sum
   * of their postings on those accounts. `ownerId` narrows it to one owner.
   */
  async postingSums(conn: Conn, q: {
    municipalityCode: string; entries: EntrySet; accountKind: AccountKind; entryKinds: EntryKind[]; ownerId?: number;
  }): Promise<Array<{ owner: number; kind: EntryKind; count: number; total: number }>> {
    const ownerColumn = OWNER_COLUMN[q.accountKind];
    const query = conn('ledger_entries as e')
      .join('ledger_postings as p', 'p.entry_id', 'e.id')
      .join('ledger_accounts as a', 'a.id', 'p.account_id')
      .where('e.municipality_code', q.municipalityCode)
      .whereIn('e.kind', q.entryKinds).where('a.kind', q.accountKind)
      .groupBy(`a.${ownerColumn}`, 'e.kind')
      .select({ owner: `a.${ownerColumn}`, kind: 'e.kind' }, conn.raw('COUNT(*) AS n'), conn.raw('SUM(p.amount) AS total'));
    if ('ids' in q.entries) query.whereIn('e.id', q.entries.ids);
    else query.where('e.posted_at', '>=', q.entries.startsAt).where('e.posted_at', '<', q.entries.endsBefore);
    if (q.ownerId !== undefined) query.where(`a.${ownerColumn}`, q.ownerId);
    const rows = await query;
    return rows.map((row) => ({ owner: Number(row.owner), kind: row.kind as EntryKind, count: points(row.n), total: points(row.total) }));
  },

  /**
   * The ids of a municipality's entries of these kinds posted from `startsAt` up to (not
   * including) `endsBefore` that are not among `excluding`: as a subquery, so a closing
   * settlement period records them in one statement (settlement/repository.ts).
   */
  entryIdsBefore(conn: Conn, q: { municipalityCode: string; entryKinds: EntryKind[]; startsAt: Date; endsBefore: Date; excluding: Knex.QueryBuilder }): Knex.QueryBuilder {
    return conn('ledger_entries').where('municipality_code', q.municipalityCode).whereIn('kind', q.entryKinds)
      .where('posted_at', '>=', q.startsAt).where('posted_at', '<', q.endsBefore).whereNotIn('id', q.excluding).select('id');
  },

  // --- campaign figures (campaign-figures/) -----------------------------------------------
  // Each reads a whole scope (one campaign, or all of a town's) in one statement grouped by
  // Japanese day, through indexes that start from the campaigns: their budget accounts
  // (ledger_accounts_one_per_owner), their lots (ledger_lots_by_campaign), the town's residents'
  // open lots (ledger_lots_spending_order). Never a statement per day, campaign or resident.

  /** The postings to the campaigns' budget accounts since they began, summed per campaign, Japanese day and entry kind. */
  async budgetDays(conn: Conn, municipalityCode: string, campaignIds: number[]): Promise<FiguresSum[]> {
    if (campaignIds.length === 0) return [];
    const rows = await conn.from(through(conn, 'ledger_accounts', 'ledger_accounts_one_per_owner', 'a'))
      .join('ledger_postings as p', 'p.account_id', 'a.id')
      .join('ledger_entries as e', 'e.id', 'p.entry_id')
      .where({ 'a.municipality_code': municipalityCode, 'a.kind': 'campaign_budget' }).whereIn('a.owner_id', campaignIds)
      .groupBy('a.campaign_id', 'day', 'e.kind')
      .select('a.campaign_id', TOKYO_DAY(conn, 'e.posted_at'), 'e.kind', conn.raw('SUM(p.amount) AS total'));
    return rows.map(toFiguresSum);
  },

  /**
   * How the campaigns' lots moved in [startsAt, endsBefore) by payments, refunds, voids and
   * expiries, summed per campaign, Japanese day and entry kind (signed as the lots moved).
   */
  async lotDays(conn: Conn, campaignIds: number[], startsAt: Date, endsBefore: Date): Promise<FiguresSum[]> {
    if (campaignIds.length === 0) return [];
    const rows = await lotMovements(conn, campaignIds, ['payment', 'refund', 'void', 'expiry'], startsAt, endsBefore)
      .groupBy('l.campaign_id', 'day', 'e.kind')
      .select('l.campaign_id', TOKYO_DAY(conn, 'e.posted_at'), 'e.kind', conn.raw('SUM(m.amount) AS total'));
    return rows.map(toFiguresSum);
  },

  /** How many residents first received points of any of these campaigns, per Japanese day, before `endsBefore`. */
  async firstReached(conn: Conn, campaignIds: number[], endsBefore: Date): Promise<Array<{ day: string; residents: number }>> {
    if (campaignIds.length === 0) return [];
    const first = conn.from(through(conn, 'ledger_lots', 'ledger_lots_by_campaign', 'l')).join('ledger_entries as e', 'e.id', 'l.entry_id')
      .whereIn('l.campaign_id', campaignIds).groupBy('l.account_id').select('l.account_id', conn.raw('MIN(e.posted_at) AS first_at'));
    const rows = await conn.from(first.as('f')).where('f.first_at', '<', endsBefore).groupBy('day')
      .select(TOKYO_DAY(conn, 'f.first_at'), conn.raw('COUNT(*) AS residents'));
    return rows.map((row) => ({ day: String(row.day), residents: points(row.residents) }));
  },

  /** How many residents each campaign reached before `endsBefore`. */
  async residentsPerCampaign(conn: Conn, campaignIds: number[], endsBefore: Date): Promise<Map<number, number>> {
    if (campaignIds.length === 0) return new Map();
    const rows = await conn.from(through(conn, 'ledger_lots', 'ledger_lots_by_campaign', 'l')).join('ledger_entries as e', 'e.id', 'l.entry_id')
      .whereIn('l.campaign_id', campaignIds).where('e.posted_at', '<', endsBefore).groupBy('l.campaign_id')
      .select('l.campaign_id', conn.raw('COUNT(DISTINCT l.account_id) AS residents'));
    return new Map(rows.map((row) => [Number(row.campaign_id), points(row.residents)]));
  },

  /**
   * The shops where the campaigns' lots were spent most in [startsAt, endsBefore): points
   * redeemed (payments less what refunds and voids put back into those lots) and payments, most first.
   */
  async topShops(conn: Conn, campaignIds: number[], startsAt: Date, endsBefore: Date, limit: number): Promise<Array<{ merchantId: number; points: number; payments: number }>> {
    if (campaignIds.length === 0) return [];
    const rows = await lotMovements(conn, campaignIds, ['payment', 'refund', 'void'], startsAt, endsBefore)
      .join('ledger_postings as p', 'p.entry_id', 'e.id')
      .join('ledger_accounts as a', (on) => on.on('a.id', 'p.account_id').andOn('a.kind', conn.raw('?', ['merchant_payable'])))
      .groupBy('a.merchant_id').having('redeemed', '>', 0).orderBy([{ column: 'redeemed', order: 'desc' }, { column: 'a.merchant_id' }]).limit(limit)
      .select('a.merchant_id', conn.raw('-SUM(m.amount) AS redeemed'), conn.raw("COUNT(DISTINCT IF(e.kind = 'payment', e.id, NULL)) AS payments"));
    return rows.map((row) => ({ merchantId: Number(row.merchant_id), points: points(row.redeemed), payments: points(row.payments) }));
  },

  /** The town's residents' points expiring after `after` and by `by`, per month of their last day: residents and points. */
  async expiringMonths(conn: Conn, municipalityCode: string, after: Date, by: Date): Promise<Array<{ month: string; residents: number; points: number }>> {
    const rows = await openLotsExpiring(conn, municipalityCode, after, by).groupBy('month')
      .orderBy('month').select(conn.raw(`DATE_FORMAT(${LAST_DAY}, '%Y-%m') AS month`), conn.raw('COUNT(DISTINCT a.id) AS residents'), conn.raw('SUM(l.remaining_points) AS total'));
    return rows.map((row) => ({ month: String(row.month), residents: points(row.residents), points: points(row.total) }));
  },

  /** How many (resident, last day) lines expiringLines would give. */
  async expiringLineCount(conn: Conn, municipalityCode: string, after: Date, by: Date): Promise<number> {
    const lines = openLotsExpiring(conn, municipalityCode, after, by).groupBy('a.id', 'last_day').select('a.id', conn.raw(`DATE(${LAST_DAY}) AS last_day`));
    const [row] = await conn.from(lines.as('x')).count({ n: '*' });
    return points(row?.n);
  },

  /**
   * The town's residents' points expiring after `after` and by `by`: a line per resident and
   * last day, soonest first, read a page at a time (a CSV of a whole town is never held in
   * memory); `limit` for the first lines only, `page` lines a statement. Pages, not knex's stream(): a stream on the pool
   * gives its connection back twice (knex 3.3), and the second time it may already be another
   * transaction's, which a third caller is then handed too (docs/audit-log.md).
   */
  async *expiringLines(conn: Conn, municipalityCode: string, after: Date, by: Date, limit = Infinity, page = EXPIRING_PAGE): AsyncGenerator<{ mykeyId: string; lastDay: string; points: number }> {
    let left = limit;
    let from: [string, string] | undefined;
    while (left > 0) {
      const statement = openLotsExpiring(conn, municipalityCode, after, by).join('mykeys as mk', 'mk.id', 'a.mykey_pk')
        .groupBy('a.id', 'last_day').orderBy([{ column: 'last_day' }, { column: 'mykey_id' }]).limit(Math.min(page, left))
        .select('mk.mykey_id', conn.raw(`DATE_FORMAT(${LAST_DAY}, '%Y-%m-%d') AS last_day`), conn.raw('SUM(l.remaining_points) AS total'));
      if (from) statement.havingRaw('(last_day, mykey_id) > (?, ?)', from);
      const rows = await statement;
      for (const row of rows) yield { mykeyId: row.mykey_id, lastDay: row.last_day, points: points(row.total) };
      if (rows.length < page) return;
      left -= rows.length;
      from = [rows.at(-1).last_day, rows.at(-1).mykey_id];
    }
  },

  // --- a resident's own (docs/resident.md) ---------------------------------------------------

  /** A MyKey ID's points in each town where it holds an account, by town code. */
  async residentBalances(conn: Conn, mykeyPk: number): Promise<Array<{ municipalityCode: string; balance: number }>> {
    const rows = await conn('ledger_accounts').where({ kind: 'resident', mykey_pk: mykeyPk }).orderBy('municipality_code').select('municipality_code', 'balance');
    return rows.map((row) => ({ municipalityCode: String(row.municipality_code), balance: points(row.balance) }));
  },

  /** A MyKey ID's lots with points left and not yet expired at `now`, soonest expiry first, with how each arrived. */
  async residentOpenLots(conn: Conn, mykeyPk: number, now: Date): Promise<ResidentLot[]> {
    const rows = await conn('ledger_lots as l').join('ledger_accounts as a', 'a.id', 'l.account_id').join('ledger_entries as e', 'e.id', 'l.entry_id')
      .where({ 'a.kind': 'resident', 'a.mykey_pk': mykeyPk }).where('l.open_expires_at', '>', now)
      .orderBy([{ column: 'l.open_expires_at' }, { column: 'l.id' }])
      .select('l.id', 'a.municipality_code', 'e.kind', 'l.remaining_points', 'l.original_points', 'l.expires_at', conn.raw(`DATE_FORMAT(${LAST_DAY}, '%Y-%m-%d') AS last_day`));
    return rows.map((row) => ({
      id: Number(row.id), municipalityCode: String(row.municipality_code), arrivedBy: row.kind, remaining: points(row.remaining_points),
      original: points(row.original_points), expiresAt: row.expires_at, lastDay: row.last_day,
    }));
  },

  /** How many entries moved a MyKey ID's points, in every town. */
  async residentMovementCount(conn: Conn, mykeyPk: number): Promise<number> {
    const [row] = await residentPostings(conn, mykeyPk).count({ n: '*' });
    return Number(row?.n ?? 0);
  },

  /**
   * The entries that moved a MyKey ID's points, newest first (a `page` of them, or all): the
   * signed points, and the shop or partner on the other side (a payment's, refund's or void's
   * shop; a conversion's partner).
   */
  async residentMovements(conn: Conn, mykeyPk: number, page?: { limit: number; offset: number }): Promise<ResidentMovement[]> {
    const other = (kind: AccountKind, column: string) => conn.raw(`(SELECT oa.${column} FROM ledger_postings op JOIN ledger_accounts oa ON oa.id = op.account_id WHERE op.entry_id = e.id AND oa.kind = ? LIMIT 1) AS ${column}`, [kind]);
    const all = residentPostings(conn, mykeyPk)
      .orderBy([{ column: 'e.posted_at', order: 'desc' }, { column: 'e.id', order: 'desc' }])
      .select('e.id', 'e.kind', 'e.municipality_code', 'e.posted_at', 'p.amount', other('merchant_payable', 'merchant_id'), other('partner_clearing', 'partner_id'));
    const rows: Array<Record<string, any>> = await (page ? all.limit(page.limit).offset(page.offset) : all);
    return rows.map((row) => ({
      entryId: Number(row.id), kind: row.kind, municipalityCode: String(row.municipality_code), postedAt: row.posted_at, points: points(row.amount),
      merchantId: row.merchant_id === null ? null : Number(row.merchant_id), partnerId: row.partner_id === null ? null : Number(row.partner_id),
    }));
  },

  // --- expiry -----------------------------------------------------------------------------

  /**
   * A page of lots past their expiry with points left, in (expiry, id) order after `after`.
   * Expiring a lot takes it out of this index, so the whole walk reads each expired lot once.
   */
  async expiredLotsPage(conn: Conn, now: Date, limit: number, after?: { expiresAt: Date; id: number }): Promise<Array<{ id: number; accountId: number; expiresAt: Date }>> {
    const query = conn('ledger_lots').where('open_expires_at', '<=', now);
    if (after) {
      query.where((q) => q.where('open_expires_at', '>', after.expiresAt)
        .orWhere((same) => same.where('open_expires_at', after.expiresAt).where('id', '>', after.id)));
    }
    const rows = await query.orderBy([{ column: 'open_expires_at' }, { column: 'id' }]).limit(limit).select('id', 'account_id', 'open_expires_at');
    return rows.map((row) => ({ id: Number(row.id), accountId: Number(row.account_id), expiresAt: row.open_expires_at }));
  },

  /** The account's lots past their expiry with points left (only those have an open_expires_at), locked. */
  async expiredLots(trx: Knex.Transaction, accountId: number, now: Date): Promise<Array<{ id: number; remaining: number }>> {
    const rows = await trx.from(through(trx, 'ledger_lots', 'ledger_lots_spending_order')).where('account_id', accountId).where('open_expires_at', '<=', now).orderBy('id').forUpdate()
      .select('id', 'remaining_points');
    return rows.map((row) => ({ id: Number(row.id), remaining: points(row.remaining_points) }));
  },

  /** The last entry that moved each lot. */
  async lastMovements(trx: Knex.Transaction, lotIds: number[]): Promise<Map<number, number>> {
    const rows = await trx.from(through(trx, 'ledger_lot_movements', 'ledger_lot_movements_lot_id_entry_id_index')).whereIn('lot_id', lotIds).groupBy('lot_id').forShare()
      .select('lot_id', trx.raw('MAX(entry_id) AS entry_id'));
    return new Map(rows.map((row) => [Number(row.lot_id), Number(row.entry_id)]));
  },

  // --- invariants (npm run ledger -- check) -----------------------------------------------

  /**
   * The rows breaking one invariant, in key order, at most `limit`: aggregates computed by the
   * database, so a ledger of millions of rows is never held in memory.
   */
  async violations(trx: Knex.Transaction, invariant: Invariant, limit: number): Promise<ViolationRow[]> {
    const [rows] = await trx.raw(`${INVARIANTS[invariant].sql} ORDER BY entry_id, account_id, lot_id LIMIT ?`, [limit]);
    return rows;
  },

  async countViolations(trx: Knex.Transaction, invariant: Invariant): Promise<number> {
    const [[row]] = await trx.raw(`SELECT COUNT(*) AS n FROM (${INVARIANTS[invariant].sql}) v`);
    return Number(row.n);
  },

  async tableSizes(trx: Knex.Transaction): Promise<Record<string, number>> {
    const [[row]] = await trx.raw(`SELECT (SELECT COUNT(*) FROM ledger_entries) AS entries, (SELECT COUNT(*) FROM ledger_postings) AS postings,
      (SELECT COUNT(*) FROM ledger_accounts) AS accounts, (SELECT COUNT(*) FROM ledger_lots) AS lots`);
    return Object.fromEntries(Object.entries(row).map(([name, n]) => [name, Number(n)]));
  },
};

export interface ViolationRow { entry_id: number | null; account_id: number | null; lot_id: number | null; expected: unknown; found: unknown }

/**
 * Each invariant as a query for the rows that break it, every one naming what it is about
 * (entry_id, account_id, lot_id: null where it does not apply) and the expected and found values.
 * `text` marks invariants whose values are names rather than points.
 */
export const INVARIANTS = {
  // Every entry's postings sum to zero...
  entry_balances: { sql: `SELECT e.id AS entry_id, NULL AS account_id, NULL AS lot_id, 0 AS expected, COALESCE(SUM(p.amount), 0) AS found
    FROM ledger_entries e LEFT JOIN ledger_postings p ON p.entry_id = e.id GROUP BY e.id HAVING found <> 0` },
  // ...and moves points between at least two accounts,
  entry_has_two_postings: { sql: `SELECT e.id AS entry_id, NULL AS account_id, NULL AS lot_id, 2 AS expected, COUNT(p.account_id) AS found
    FROM ledger_entries e LEFT JOIN ledger_postings p ON p.entry_id = e.id GROUP BY e.id HAVING found < 2` },
  // ...all of the entry's municipality.
  posting_in_entry_municipality: { text: true, sql: `SELECT p.entry_id, p.account_id, NULL AS lot_id, e.municipality_code AS expected, a.municipality_code AS found
    FROM ledger_postings p JOIN ledger_entries e ON e.id = p.entry_id JOIN ledger_accounts a ON a.id = p.account_id
    WHERE a.municipality_code <> e.municipality_code` },
  // Each cached balance is the sum of the account's postings.
  balance_equals_postings: { sql: `SELECT NULL AS entry_id, a.id AS account_id, NULL AS lot_id, COALESCE(SUM(p.amount), 0) AS expected, MAX(a.balance) AS found
    FROM ledger_accounts a LEFT JOIN ledger_postings p ON p.account_id = a.id GROUP BY a.id HAVING expected <> found` },
  // No resident (or campaign budget) is below zero.
  balance_not_negative: { sql: `SELECT NULL AS entry_id, id AS account_id, NULL AS lot_id, 0 AS expected, balance AS found
    FROM ledger_accounts WHERE kind IN ('resident', 'campaign_budget') AND balance < 0` },
  // A resident's lots hold exactly the balance...
  lots_equal_balance: { sql: `SELECT NULL AS entry_id, a.id AS account_id, NULL AS lot_id, MAX(a.balance) AS expected, COALESCE(SUM(l.remaining_points), 0) AS found
    FROM ledger_accounts a LEFT JOIN ledger_lots l ON l.account_id = a.id WHERE a.kind = 'resident' GROUP BY a.id HAVING expected <> found` },
  // ...and only residents have lots.
  lots_of_residents_only: { text: true, sql: `SELECT NULL AS entry_id, l.account_id, l.id AS lot_id, 'resident' AS expected, a.kind AS found
    FROM ledger_lots l JOIN ledger_accounts a ON a.id = l.account_id WHERE a.kind <> 'resident'` },
  // A lot's remainder stays within 0..original...
  lot_remaining_in_range: { sql: `SELECT NULL AS entry_id, account_id, id AS lot_id, LEAST(GREATEST(remaining_points, 0), original_points) AS expected, remaining_points AS found
    FROM ledger_lots WHERE remaining_points < 0 OR remaining_points > original_points` },
  // ...and is the sum of its movements.
  lot_remaining_equals_movements: { sql: `SELECT NULL AS entry_id, MAX(l.account_id) AS account_id, l.id AS lot_id, COALESCE(SUM(m.amount), 0) AS expected, MAX(l.remaining_points) AS found
    FROM ledger_lots l LEFT JOIN ledger_lot_movements m ON m.lot_id = l.id GROUP BY l.id HAVING expected <> found` },
  // In every entry, a resident's posting equals the movements of that resident's lots.
  lot_movements_equal_posting: { sql: `SELECT entry_id, account_id, NULL AS lot_id, SUM(posted) AS expected, SUM(moved) AS found FROM (
      SELECT p.entry_id, p.account_id, p.amount AS posted, 0 AS moved FROM ledger_postings p JOIN ledger_accounts a ON a.id = p.account_id WHERE a.kind = 'resident'
      UNION ALL
      SELECT m.entry_id, l.account_id, 0 AS posted, m.amount AS moved FROM ledger_lot_movements m JOIN ledger_lots l ON l.id = m.lot_id
    ) x GROUP BY entry_id, account_id HAVING expected <> found` },
  // Points a campaign paid for are spent only at the shops it names (when it names any).
  lot_spent_where_its_campaign_pays: { text: true, sql: `SELECT m.entry_id, a.id AS account_id, m.lot_id, CONCAT('a shop of campaign ', c.id) AS expected, CONCAT('merchant ', a.merchant_id) AS found
    FROM ledger_lot_movements m JOIN ledger_entries e ON e.id = m.entry_id AND e.kind = 'payment'
    JOIN ledger_lots l ON l.id = m.lot_id JOIN campaigns c ON c.id = l.campaign_id AND NOT c.all_merchants
    JOIN ledger_postings p ON p.entry_id = e.id JOIN ledger_accounts a ON a.id = p.account_id AND a.kind = 'merchant_payable'
    WHERE m.amount < 0 AND NOT EXISTS (SELECT 1 FROM campaign_merchants cm WHERE cm.campaign_id = c.id AND cm.merchant_id = a.merchant_id)` },
} as const satisfies Record<string, { sql: string; text?: true }>;

export type Invariant = keyof typeof INVARIANTS;
