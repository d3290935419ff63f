import { createHash } from 'node:crypto';
import type { Db } from '../db.ts';

export type StaffRole = 'merchant' | 'municipality';

export interface Staff {
  loginId: string;
  displayName: string;
  role: StaffRole;
  organization: { kind: StaffRole; id: string; name: { ja: string; en: string } };
}

export interface StaffAccount { id: number; passwordHash: string }

/**
 * A staff member behind a request: what the API shows, plus the account id for the records and
 * the municipality the staff member works for (a clerk's, their shop's town).
 */
export interface SignedInStaff extends Staff { id: number; municipalityCode: string }

interface StaffRow {
  id: number;
  login_id: string;
  display_name: string;
  role: StaffRole;
  password_hash: string;
  municipality_code: string | null;
  merchant_id: number | null;
  org_name_ja: string;
  org_name_en: string;
  town: string;
}

// Sessions are stored by the SHA-256 of their token, so a copy of the table signs no one in.
export function tokenHash(token: string): Buffer {
  return createHash('sha256').update(token).digest();
}

/** Every SQL statement about staff accounts and their sessions. */
export function staffRepository(db: Db) {
  const withOrganization = () => db('staff_accounts as s')
    .leftJoin('municipalities as mu', 'mu.code', 's.municipality_code')
    .leftJoin('merchants as me', 'me.id', 's.merchant_id')
    .select('s.id', 's.login_id', 's.display_name', 's.role', 's.password_hash', 's.municipality_code', 's.merchant_id',
      db.raw('COALESCE(me.name_ja, mu.name_ja) AS org_name_ja'), db.raw('COALESCE(me.name_en, mu.name_en) AS org_name_en'),
      db.raw('COALESCE(me.municipality_code, s.municipality_code) AS town'));

  const toStaff = (row: StaffRow): SignedInStaff => ({
    id: row.id,
    loginId: row.login_id,
    displayName: row.display_name,
    role: row.role,
    organization: {
      kind: row.role,
      id: row.role === 'merchant' ? String(row.merchant_id) : String(row.municipality_code),
      name: { ja: row.org_name_ja, en: row.org_name_en },
    },
    municipalityCode: row.town,
  });

  return {
    async findByLogin(loginId: string): Promise<StaffAccount | undefined> {
      const row = await db('staff_accounts').where({ login_id: loginId }).first('id', 'password_hash');
      return row && { id: row.id, passwordHash: row.password_hash };
    },

    async createSession(staffId: number, token: string, expiresAt: Date): Promise<void> {
      await db('staff_sessions').insert({ token_hash: tokenHash(token), staff_id: staffId, expires_at: expiresAt });
    },

    async staffForSession(token: string, now: Date): Promise<SignedInStaff | undefined> {
      const row = await withOrganization()
        .join('staff_sessions as ss', 'ss.staff_id', 's.id')
        .where('ss.token_hash', tokenHash(token))
        .andWhere('ss.expires_at', '>', now)
        .first();
      return row && toStaff(row as StaffRow);
    },

    async staffById(id: number): Promise<SignedInStaff> {
      return toStaff((await withOrganization().where('s.id', id).first()) as StaffRow);
    },

    async deleteSession(token: string): Promise<void> {
      await db('staff_sessions').where({ token_hash: tokenHash(token) }).delete();
    },
  };
}

export type StaffRepository = ReturnType<typeof staffRepository>;
