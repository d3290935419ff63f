import { createHash } from 'node:crypto';
import type { Knex } from 'knex';
import type { OpenStaffInvitation, OrganizationKind, Staff, StaffAccountSummary, StaffRole } from '@mykey/contracts/staff.ts';
import type { Db } from '../db.ts';
import { namesOfOrganization, withOrganizationNames } from '../organizations/repository.ts';
import { organizationColumns, type OrganizationColumns, type OrganizationRef } from './organization.ts';

export interface StaffAccount { id: number; loginId: string; organizationKind: OrganizationKind; passwordHash: string; totpSealed: Buffer | null; disabled: boolean }

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

/** Staff with their organization's names and town. */
const withOrganization = (conn: Conn) => withOrganizationNames(conn, conn('staff_accounts as s'), 's')
  .select('s.id', 's.login_id', 's.display_name', 's.organization_kind', 's.roles', 's.municipality_code', 's.merchant_id', 's.totp_secret_sealed');

const toStaff = (row: StaffRow): SignedInStaff => ({
  id: row.id,
  loginId: row.login_id,
  displayName: row.display_name,
  organization: {
    kind: row.organization_kind,
    id: row.organization_kind === 'merchant' ? String(row.merchant_id) : String(row.municipality_code),
    name: namesOfOrganization(row),
  },
  // MySQL answers a SET as its members joined by commas.
  roles: row.roles.split(',') as StaffRole[],
  secondFactor: row.totp_secret_sealed !== null,
  municipalityCode: row.town,
});

/**
 * Deletes the account's recovery codes by their keys, found by a plain read (the account's row
 * is locked by the caller, so none come meanwhile). A delete by staff_id would lock the gap
 * where the account has none, and two enrolments inserting into that gap deadlock.
 */
async function deleteRecoveryCodes(trx: Knex.Transaction, staffId: number): Promise<void> {
  const codes = await trx('staff_recovery_codes').where({ staff_id: staffId }).pluck('code_hash');
  if (codes.length > 0) await trx('staff_recovery_codes').whereIn('code_hash', codes).delete();
}

/** Every SQL statement about staff accounts, their sessions and recovery codes. */
export const staffRepository = {
  async findByLogin(conn: Conn, loginId: string): Promise<StaffAccount | undefined> {
    const row = await conn('staff_accounts').where({ login_id: loginId }).first('id', 'login_id', 'organization_kind', 'password_hash', 'totp_secret_sealed', 'disabled_at');
    return row && { id: row.id, loginId: row.login_id, organizationKind: row.organization_kind, passwordHash: row.password_hash,
      totpSealed: row.totp_secret_sealed ? Buffer.from(row.totp_secret_sealed) : null, disabled: row.disabled_at !== null };
  },

  async passwordHashOf(conn: Conn, staffId: number): Promise<string> {
    return (await conn('staff_accounts').where({ id: staffId }).first('password_hash')).password_hash;
  },

  /** A hash of the same password at today's cost (password.ts needsRehash). */
  async rehashPassword(conn: Conn, staffId: number, passwordHash: string): Promise<void> {
    await conn('staff_accounts').where({ id: staffId }).update({ password_hash: passwordHash });
  },

  async createSession(conn: Conn, staffId: number, session: NewSession): Promise<void> {
    // The account's row first: the session's foreign key takes a shared lock on it, and two
    // sign-ins each holding that lock and then updating the row would deadlock.
    if (session.stage === 'full') await conn('staff_accounts').where({ id: staffId }).update({ last_signed_in_at: session.now });
    await conn('staff_sessions').insert({ token_hash: tokenHash(session.token), staff_id: staffId, stage: session.stage,
      created_at: session.now, last_seen_at: session.now, expires_at: session.expiresAt, idle_seconds: session.idleSeconds });
  },

  /** The session of this token when it has neither expired nor idled out, its last use noted; undefined otherwise. */
  async sessionFor(conn: Conn, token: string, now: Date): Promise<StaffSession | undefined> {
    const row = await withOrganization(conn)
      .join('staff_sessions as ss', 'ss.staff_id', 's.id')
      .select('ss.stage', 'ss.pending_totp_sealed', 'ss.last_seen_at')
      .where('ss.token_hash', tokenHash(token))
      // Disabling deletes the sessions too; this keeps a session begun in the same instant out.
      .whereNull('s.disabled_at')
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

  /**
   * Ends every session of the account; how many there were. The account's row is locked first,
   * so no session begins meanwhile (its foreign key waits for the lock), and the sessions are
   * deleted by their keys: a delete by staff_id would lock the gap beside them, where another
   * account's new session then deadlocks with this one's.
   */
  async deleteSessionsOf(trx: Knex.Transaction, staffId: number): Promise<number> {
    await trx('staff_accounts').where({ id: staffId }).forUpdate().first('id');
    const tokens = await trx('staff_sessions').where({ staff_id: staffId }).pluck('token_hash');
    return tokens.length === 0 ? 0 : trx('staff_sessions').whereIn('token_hash', tokens).delete();
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
    await deleteRecoveryCodes(trx, staffId);
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

  // --- the life of an account (accounts.ts, invitations.ts) ---------------------------------

  /** The organization's accounts, by login ID. */
  async accounts(conn: Conn, organization: OrganizationRef): Promise<StaffAccountSummary[]> {
    const rows = await conn('staff_accounts').where(organizationColumns(organization)).orderBy('login_id')
      .select('id', 'login_id', 'display_name', 'roles', 'last_signed_in_at', 'disabled_at', conn.raw('totp_secret_sealed IS NOT NULL AS second_factor'));
    return rows.map((row) => ({
      id: Number(row.id), loginId: row.login_id, displayName: row.display_name, roles: row.roles.split(',') as StaffRole[],
      secondFactor: Boolean(row.second_factor), lastSignedInAt: row.last_signed_in_at?.toISOString() ?? null, disabled: row.disabled_at !== null,
    }));
  },

  /**
   * Every account of the organization, locked until the transaction ends: two administrators
   * changing each other at once take turns, so neither can remove the other as the last one.
   */
  async lockAccounts(trx: Knex.Transaction, organization: OrganizationRef): Promise<Array<{ id: number; roles: StaffRole[]; disabled: boolean }>> {
    const rows = await trx('staff_accounts').where(organizationColumns(organization)).orderBy('id').forUpdate().select('id', 'roles', 'disabled_at');
    return rows.map((row) => ({ id: Number(row.id), roles: row.roles.split(',') as StaffRole[], disabled: row.disabled_at !== null }));
  },

  async setRoles(trx: Knex.Transaction, staffId: number, roles: StaffRole[]): Promise<void> {
    await trx('staff_accounts').where({ id: staffId }).update({ roles: roles.join(',') });
  },

  async setDisabled(trx: Knex.Transaction, staffId: number, disabledAt: Date | null): Promise<void> {
    await trx('staff_accounts').where({ id: staffId }).update({ disabled_at: disabledAt });
  },

  /** The second factor off and its recovery codes gone: a municipal account enrols again at its next sign-in. */
  async clearSecondFactor(trx: Knex.Transaction, staffId: number): Promise<void> {
    await trx('staff_accounts').where({ id: staffId }).update({ totp_secret_sealed: null, totp_last_step: null });
    await deleteRecoveryCodes(trx, staffId);
  },

  async loginTaken(conn: Conn, loginId: string): Promise<boolean> {
    return (await conn('staff_accounts').where({ login_id: loginId }).first('id')) !== undefined;
  },

  /** A new account; undefined when the login ID was taken meanwhile. */
  async insertAccount(trx: Knex.Transaction, account: { loginId: string; displayName: string; organization: OrganizationRef; roles: StaffRole[]; passwordHash: string; now: Date }): Promise<number | undefined> {
    try {
      const [id] = await trx('staff_accounts').insert({
        login_id: account.loginId, display_name: account.displayName, organization_kind: account.organization.kind, roles: account.roles.join(','),
        ...organizationColumns(account.organization), password_hash: account.passwordHash, password_changed_at: account.now, created_at: account.now,
      });
      return Number(id);
    } catch (error) {
      if ((error as { code?: string }).code === 'ER_DUP_ENTRY') return undefined;
      throw error;
    }
  },

  /** Whether the organization has an enabled account holding `role`. */
  async hasEnabledHolder(conn: Conn, organization: OrganizationRef, role: StaffRole): Promise<boolean> {
    return (await conn('staff_accounts').where(organizationColumns(organization)).whereNull('disabled_at').whereRaw('FIND_IN_SET(?, roles)', [role]).first('id')) !== undefined;
  },

  async insertInvitation(trx: Knex.Transaction, invitation: { codeHash: Buffer; organization: OrganizationRef; roles: StaffRole[]; displayName: string; issuedBy: number | null; issuedAt: Date; expiresAt: Date }): Promise<number> {
    const [id] = await trx('staff_invitations').insert({
      code_hash: invitation.codeHash, organization_kind: invitation.organization.kind, ...organizationColumns(invitation.organization), roles: invitation.roles.join(','),
      display_name: invitation.displayName, issued_by_staff_id: invitation.issuedBy, issued_at: invitation.issuedAt, expires_at: invitation.expiresAt,
    });
    return Number(id);
  },

  /**
   * The organization's open, unexpired invitations, newest first: those for it, and (a town's)
   * those its staff issued for a shop's first owner. `id` narrows to one, `lock` holds it.
   */
  async openInvitations(conn: Conn, organization: OrganizationRef, now: Date, only: { id?: number; lock?: boolean } = {}): Promise<OpenStaffInvitation[]> {
    const query = conn('staff_invitations as i')
      .leftJoin('staff_accounts as issuer', 'issuer.id', 'i.issued_by_staff_id')
      .leftJoin('merchants as m', 'm.id', 'i.merchant_id')
      .leftJoin('municipalities as t', 't.code', 'i.municipality_code')
      .whereNull('i.closed_at').andWhere('i.expires_at', '>', now)
      .andWhere((scope) => {
        if (organization.kind === 'merchant') scope.where('i.merchant_id', organization.id);
        else scope.where('i.municipality_code', organization.id).orWhere((shops) => shops.where('i.organization_kind', 'merchant').andWhere('issuer.municipality_code', organization.id));
      });
    if (only.id !== undefined) query.andWhere('i.id', only.id);
    if (only.lock) query.forUpdate('i');
    const rows = await query.orderBy('i.issued_at', 'desc').orderBy('i.id', 'desc').select('i.id', 'i.display_name', 'i.roles', 'i.organization_kind', 'i.merchant_id', 'i.municipality_code',
      'i.issued_at', 'i.expires_at', 'issuer.display_name as issued_by', 'm.name_ja as merchant_ja', 'm.name_en as merchant_en', 't.name_ja as town_ja', 't.name_en as town_en');
    return rows.map((row) => ({
      id: Number(row.id), displayName: row.display_name, roles: row.roles.split(',') as StaffRole[],
      organization: row.organization_kind === 'merchant'
        ? { kind: 'merchant', id: String(row.merchant_id), name: { ja: row.merchant_ja, en: row.merchant_en } }
        : { kind: 'municipality', id: row.municipality_code, name: { ja: row.town_ja, en: row.town_en } },
      issuedBy: row.issued_by ?? null, issuedAt: row.issued_at.toISOString(), expiresAt: row.expires_at.toISOString(),
    }));
  },

  /** Closes an invitation unused: its code no longer makes an account. */
  async cancelInvitation(trx: Knex.Transaction, id: number, now: Date): Promise<void> {
    await trx('staff_invitations').where({ id }).update({ closed_at: now });
  },

  /** The open, unexpired invitation of this code, locked; undefined for any other. */
  async lockOpenInvitation(trx: Knex.Transaction, codeHash: Buffer, now: Date): Promise<(OrganizationColumns & { id: number; organization_kind: OrganizationKind; roles: StaffRole[]; display_name: string; issued_by_staff_id: number | null }) | undefined> {
    const row = await trx('staff_invitations').where({ code_hash: codeHash }).whereNull('closed_at').andWhere('expires_at', '>', now).forUpdate()
      .first('id', 'organization_kind', 'municipality_code', 'merchant_id', 'roles', 'display_name', 'issued_by_staff_id');
    return row && { ...row, id: Number(row.id), merchant_id: row.merchant_id === null ? null : Number(row.merchant_id), roles: row.roles.split(',') as StaffRole[] };
  },

  async closeInvitation(trx: Knex.Transaction, id: number, staffId: number, now: Date): Promise<void> {
    await trx('staff_invitations').where({ id }).update({ closed_at: now, staff_id: staffId });
  },

  /** Closes the organization's open invitations issued by the operators' command (a re-run replaces its code); how many. */
  async closeCommandInvitations(trx: Knex.Transaction, organization: OrganizationRef, now: Date): Promise<number> {
    return trx('staff_invitations').where(organizationColumns(organization)).whereNull('issued_by_staff_id').whereNull('closed_at').update({ closed_at: now });
  },

  /** Login ids of the demo accounts (seeds/), which production refuses to start with. */
  async demoLogins(conn: Conn): Promise<string[]> {
    return (await conn('staff_accounts').where({ demo: true }).orderBy('login_id').pluck('login_id')) as string[];
  },
};
