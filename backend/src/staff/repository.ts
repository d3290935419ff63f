import { createHash } from 'node:crypto';
import type { Knex } from 'knex';
import type { OrganizationKind, Staff, StaffRole } from '@mykey/contracts/staff.ts';
import type { Db } from '../db.ts';

export interface StaffAccount { id: number; loginId: string; organizationKind: OrganizationKind; passwordHash: string; totpSealed: Buffer | null }

/**
 * A staff member behind a request: what the API shows, plus the account id for the records and
 * the municipality the staff member works for (a clerk's, their shop's town).
 */
export interface SignedInStaff extends Staff { id: number; municipalityCode: string }

/**
 * full: the console. second_factor: the password was right, the TOTP code is awaited.
 * totp_enrolment: municipal staff without a second factor, who may only enrol one.
 */
export type SessionStage = 'full' | 'second_factor' | 'totp_enrolment';

export interface StaffSession { staff: SignedInStaff; stage: SessionStage; pendingTotpSealed: Buffer | null; totpSealed: Buffer | null }

export interface NewSession { token: string; stage: SessionStage; expiresAt: Date; idleSeconds: number; now: Date }

interface StaffRow {
  id: number;
  login_id: string;
  display_name: string;
  organization_kind: OrganizationKind;
  roles: string;
  municipality_code: string | null;
  merchant_id: number | null;
  org_name_ja: string;
  org_name_en: string;
  totp_secret_sealed: Buffer | null;
  town: string;
}

// Sessions are stored by the SHA-256 of their token, so a copy of the table signs no one in.
export function tokenHash(token: string): Buffer {
  return createHash('sha256').update(token).digest();
}

// A session's last use is written at most once a minute: enough for a 30-minute idle timeout.
const TOUCH_AFTER_MS = 60_000;

type Conn = Db | Knex.Transaction;

/** Ended sessions deleted per statement. */
const PURGE_BATCH = 1000;

/** Staff with their organization's names and town (a join for the names only). */
const withOrganization = (conn: Conn) => conn('staff_accounts as s')
  .leftJoin('municipalities as mu', 'mu.code', 's.municipality_code')
  .leftJoin('merchants as me', 'me.id', 's.merchant_id')
  .select('s.id', 's.login_id', 's.display_name', 's.organization_kind', 's.roles', 's.municipality_code', 's.merchant_id', 's.totp_secret_sealed',
    conn.raw('COALESCE(me.name_ja, mu.name_ja) AS org_name_ja'), conn.raw('COALESCE(me.name_en, mu.name_en) AS org_name_en'),
    conn.raw('COALESCE(me.municipality_code, s.municipality_code) AS town'));

const toStaff = (row: StaffRow): SignedInStaff => ({
  id: row.id,
  loginId: row.login_id,
  displayName: row.display_name,
  organization: {
    kind: row.organization_kind,
    id: row.organization_kind === 'merchant' ? String(row.merchant_id) : String(row.municipality_code),
    name: { ja: row.org_name_ja, en: row.org_name_en },
  },
  // MySQL answers a SET as its members joined by commas.
  roles: row.roles.split(',') as StaffRole[],
  secondFactor: row.totp_secret_sealed !== null,
  municipalityCode: row.town,
});

/** Every SQL statement about staff accounts, their sessions and recovery codes. */
export const staffRepository = {
  async findByLogin(conn: Conn, loginId: string): Promise<StaffAccount | undefined> {
    const row = await conn('staff_accounts').where({ login_id: loginId }).first('id', 'login_id', 'organization_kind', 'password_hash', 'totp_secret_sealed');
    return row && { id: row.id, loginId: row.login_id, organizationKind: row.organization_kind, passwordHash: row.password_hash, totpSealed: row.totp_secret_sealed ? Buffer.from(row.totp_secret_sealed) : null };
  },

  async passwordHashOf(conn: Conn, staffId: number): Promise<string> {
    return (await conn('staff_accounts').where({ id: staffId }).first('password_hash')).password_hash;
  },

  /** A hash of the same password at today's cost (password.ts needsRehash). */
  async rehashPassword(conn: Conn, staffId: number, passwordHash: string): Promise<void> {
    await conn('staff_accounts').where({ id: staffId }).update({ password_hash: passwordHash });
  },

  async createSession(conn: Conn, staffId: number, session: NewSession): Promise<void> {
    await conn('staff_sessions').insert({ token_hash: tokenHash(session.token), staff_id: staffId, stage: session.stage,
      created_at: session.now, last_seen_at: session.now, expires_at: session.expiresAt, idle_seconds: session.idleSeconds });
  },

  /** The session of this token when it has neither expired nor idled out, its last use noted; undefined otherwise. */
  async sessionFor(conn: Conn, token: string, now: Date): Promise<StaffSession | undefined> {
    const row = await withOrganization(conn)
      .join('staff_sessions as ss', 'ss.staff_id', 's.id')
      .select('ss.stage', 'ss.pending_totp_sealed', 'ss.last_seen_at')
      .where('ss.token_hash', tokenHash(token))
      .andWhere('ss.expires_at', '>', now)
      .andWhere('ss.last_seen_at', '>', conn.raw('? - INTERVAL ss.idle_seconds SECOND', [now]))
      .first();
    if (!row) return undefined;
    if (now.getTime() - new Date(row.last_seen_at).getTime() > TOUCH_AFTER_MS) {
      await conn('staff_sessions').where({ token_hash: tokenHash(token) }).update({ last_seen_at: now });
    }
    const buffer = (value: Buffer | null) => (value ? Buffer.from(value) : null);
    return { staff: toStaff(row as StaffRow), stage: row.stage, pendingTotpSealed: buffer(row.pending_totp_sealed), totpSealed: buffer(row.totp_secret_sealed) };
  },

  async staffById(conn: Conn, id: number): Promise<SignedInStaff> {
    return toStaff((await withOrganization(conn).where('s.id', id).first()) as StaffRow);
  },

  async deleteSession(conn: Conn, token: string): Promise<void> {
    await conn('staff_sessions').where({ token_hash: tokenHash(token) }).delete();
  },

  /** Ends every session of the account; how many there were. */
  async deleteSessionsOf(conn: Conn, staffId: number): Promise<number> {
    return conn('staff_sessions').where({ staff_id: staffId }).delete();
  },

  async setPassword(trx: Knex.Transaction, staffId: number, passwordHash: string, now: Date): Promise<void> {
    await trx('staff_accounts').where({ id: staffId }).update({ password_hash: passwordHash, password_changed_at: now });
  },

  async setPendingTotp(conn: Conn, token: string, sealed: Buffer): Promise<void> {
    await conn('staff_sessions').where({ token_hash: tokenHash(token) }).update({ pending_totp_sealed: sealed });
  },

  /** Turns the second factor on, with `step` used, and replaces every recovery code; false when another enrolment came first. */
  async enableTotp(trx: Knex.Transaction, staffId: number, sealed: Buffer, step: number, recoveryCodeHashes: Buffer[]): Promise<boolean> {
    const updated = await trx('staff_accounts').where({ id: staffId }).whereNull('totp_secret_sealed').update({ totp_secret_sealed: sealed, totp_last_step: step });
    if (updated !== 1) return false;
    await trx('staff_recovery_codes').where({ staff_id: staffId }).delete();
    await trx('staff_recovery_codes').insert(recoveryCodeHashes.map((code_hash) => ({ code_hash, staff_id: staffId })));
    return true;
  },

  /** Takes a TOTP step for the account: true only for a step later than any taken before (one statement, so two racing sign-ins cannot both take it). */
  async takeTotpStep(conn: Conn, staffId: number, step: number): Promise<boolean> {
    const updated = await conn('staff_accounts').where({ id: staffId })
      .andWhere((q) => q.whereNull('totp_last_step').orWhere('totp_last_step', '<', step))
      .update({ totp_last_step: step });
    return updated === 1;
  },

  /** Uses up a recovery code of the account: true once, false ever after. */
  async takeRecoveryCode(conn: Conn, staffId: number, codeHash: Buffer, now: Date): Promise<boolean> {
    const updated = await conn('staff_recovery_codes').where({ staff_id: staffId, code_hash: codeHash }).whereNull('used_at').update({ used_at: now });
    return updated === 1;
  },

  async recoveryCodesLeft(conn: Conn, staffId: number): Promise<number> {
    const row = await conn('staff_recovery_codes').where({ staff_id: staffId }).whereNull('used_at').count({ n: '*' }).first();
    return Number(row?.n ?? 0);
  },

  /** Deletes sessions that have expired or idled out (the worker's purge job); how many. */
  /**
   * Deletes the sessions ended by `now`; how many. The ended ones are found by a plain read and
   * deleted by their keys (still ended when deleted): a range delete would lock the gaps between
   * live sessions and deadlock with sign-ins inserting beside them.
   */
  async purgeEndedSessions(conn: Conn, now: Date): Promise<number> {
    const ended = (query: Knex.QueryBuilder) => query.where((q) => q.where('expires_at', '<=', now)
      .orWhere('last_seen_at', '<=', conn.raw('? - INTERVAL idle_seconds SECOND', [now])));
    const keys = (await ended(conn('staff_sessions')).orderBy('token_hash').select('token_hash')).map((row: { token_hash: Buffer }) => row.token_hash);
    let purged = 0;
    for (let i = 0; i < keys.length; i += PURGE_BATCH) purged += await ended(conn('staff_sessions').whereIn('token_hash', keys.slice(i, i + PURGE_BATCH))).delete();
    return purged;
  },

  /** Login ids of the demo accounts (seeds/), which production refuses to start with. */
  async demoLogins(conn: Conn): Promise<string[]> {
    return (await conn('staff_accounts').where({ demo: true }).orderBy('login_id').pluck('login_id')) as string[];
  },
};
