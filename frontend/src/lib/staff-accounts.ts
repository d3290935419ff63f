// The staff of the signed-in organization (a town's administrator, a shop's owner) and the
// invitation page's call (docs/security/staff.md#the-life-of-an-account).
import { ROLES_OF, type OpenStaffInvitation, type StaffAccountSummary, type StaffInvitation, type StaffInvitationRedeemed, type StaffRole } from '@mykey/contracts/staff.ts';
import { isRecord, newIdempotencyKey, request } from './api.ts';

export type { OpenStaffInvitation, StaffAccountSummary, StaffInvitation, StaffInvitationRedeemed };

const ROLES: readonly unknown[] = [...ROLES_OF.municipality, ...ROLES_OF.merchant];
const isRoles = (value: unknown): value is StaffRole[] => Array.isArray(value) && value.length > 0 && value.every((role) => ROLES.includes(role));
const isOrganization = (value: unknown): value is StaffInvitation['organization'] =>
  isRecord(value) && (value.kind === 'merchant' || value.kind === 'municipality') && typeof value.id === 'string' && isRecord(value.name);

function isAccount(value: unknown): value is StaffAccountSummary {
  return isRecord(value) && typeof value.id === 'number' && typeof value.loginId === 'string' && typeof value.displayName === 'string' && isRoles(value.roles)
    && typeof value.secondFactor === 'boolean' && (value.lastSignedInAt === null || typeof value.lastSignedInAt === 'string') && typeof value.disabled === 'boolean';
}

const parseAccounts = (body: unknown) => (isRecord(body) && Array.isArray(body.accounts) && body.accounts.every(isAccount) ? body.accounts : null);
const parseAccount = (body: unknown) => (isRecord(body) && isAccount(body.account) ? body.account : null);
const parseInvitation = (body: unknown): StaffInvitation | null =>
  isRecord(body) && typeof body.code === 'string' && typeof body.expiresAt === 'string' && typeof body.displayName === 'string' && isRoles(body.roles) && isOrganization(body.organization)
    ? (body as unknown as StaffInvitation) : null;
const isOpenInvitation = (value: unknown): value is OpenStaffInvitation =>
  isRecord(value) && typeof value.id === 'number' && typeof value.displayName === 'string' && isRoles(value.roles) && isOrganization(value.organization)
    && (value.issuedBy === null || typeof value.issuedBy === 'string') && typeof value.issuedAt === 'string' && typeof value.expiresAt === 'string';
const parseOpenInvitations = (body: unknown) => (isRecord(body) && Array.isArray(body.invitations) && body.invitations.every(isOpenInvitation) ? body.invitations : null);
const parseOpenInvitation = (body: unknown) => (isRecord(body) && isOpenInvitation(body.invitation) ? body.invitation : null);
const parseRedeemed = (body: unknown): StaffInvitationRedeemed | null =>
  isRecord(body) && typeof body.loginId === 'string' && isRoles(body.roles) && isOrganization(body.organization) && typeof body.secondFactorRequired === 'boolean'
    ? (body as unknown as StaffInvitationRedeemed) : null;

export function listAccounts(): Promise<StaffAccountSummary[]> {
  return request('/api/v1/staff/accounts', parseAccounts);
}

// One key per click, as for devices' codes: each click is a new code. A town's administrator
// names a shop (merchantId) to invite its first owner.
export function invite(displayName: string, roles: StaffRole[], merchantId: number | null): Promise<StaffInvitation> {
  const body = { displayName, roles, ...(merchantId === null ? {} : { merchantId }) };
  return request('/api/v1/staff/invitations', parseInvitation, { method: 'POST', body, idempotencyKey: newIdempotencyKey() });
}

/** The codes issued and not yet used: never the codes themselves. */
export function listInvitations(): Promise<OpenStaffInvitation[]> {
  return request('/api/v1/staff/invitations', parseOpenInvitations);
}

export function cancelInvitation(id: number, key: string): Promise<OpenStaffInvitation> {
  return request(`/api/v1/staff/invitations/${id}/cancellation`, parseOpenInvitation, { method: 'POST', idempotencyKey: key });
}

/** One change to an account, as the staff screen's dialog asks it. */
export type AccountChange = { kind: 'roles'; roles: StaffRole[] } | { kind: 'disable' } | { kind: 'enable' } | { kind: 'reset' };

export function changeAccount(id: number, change: AccountChange, key: string): Promise<StaffAccountSummary> {
  const path = `/api/v1/staff/accounts/${id}`;
  if (change.kind === 'roles') return request(`${path}/roles`, parseAccount, { method: 'PUT', body: { roles: change.roles }, idempotencyKey: key });
  if (change.kind === 'reset') return request(`${path}/second-factor-reset`, parseAccount, { method: 'POST', idempotencyKey: key });
  return request(`${path}/status`, parseAccount, { method: 'PUT', body: { disabled: change.kind === 'disable' }, idempotencyKey: key });
}

export function redeemInvitation(code: string, loginId: string, password: string): Promise<StaffInvitationRedeemed> {
  return request('/api/v1/staff/invitations/redemptions', parseRedeemed, { method: 'POST', body: { code, loginId, password } });
}
