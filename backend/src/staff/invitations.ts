// One-time invitation codes: how every staff account after the first of the platform begins
// (docs/security/staff.md#the-life-of-an-account). A town's administrator invites its staff and
// a shop's first owner, a shop's owner its clerks and co-owners, the operators' command a new
// town's first administrator. The invitee types the code on the console's invitation page and
// chooses a login ID and password; the code is then used up. Codes are stored as SHA-256 only,
// live a day, and wrong ones are rate-limited per address (routes), as devices' enrollment codes.
import type { Knex } from 'knex';
import { ROLES_OF, type OpenStaffInvitation, type StaffInvitation, type StaffInvitationRedeemed, type StaffRole } from '@mykey/contracts/staff.ts';
import { appendAudit, towns } from '../audit/chain.ts';
import type { Db } from '../db.ts';
import { Problem } from '../http/problems.ts';
import { groupCode, newOneTimeCode, normalizeCode } from '../one-time-codes.ts';
import { organizationLabel, organizationOf, type OrganizationRef } from './organization.ts';
import type { Names } from '../organizations/repository.ts';
import { hashPassword, passwordWeakness } from './password.ts';
import { staffRepository as repo, tokenHash } from './repository.ts';

// Long enough for a new member of staff to get to a console the next morning; a lost code is
// simply issued again.
const INVITATION_HOURS = 24;

/** Who issues: a staff member (their id), or the operators' command (null). */
export interface Inviter { staffId: number | null; municipalityCode: string }

/** `roles` sorted, without repeats; request_invalid when empty or not all of the organization's kind. */
export function rolesFor(organization: OrganizationRef, roles: StaffRole[]): StaffRole[] {
  const allowed = ROLES_OF[organization.kind];
  const unique = allowed.filter((role) => roles.includes(role));
  if (unique.length === 0 || roles.some((role) => !allowed.includes(role))) {
    throw new Problem('request_invalid', `roles must be some of ${allowed.join(', ')}`);
  }
  return unique;
}

/** A new code for `organization`, audited, inside the caller's transaction (its answer is stored with the Idempotency-Key). */
export async function issueInvitation(trx: Knex.Transaction, inviter: Inviter, invitation: { organization: OrganizationRef & { name: Names }; roles: StaffRole[]; displayName: string }, now: Date): Promise<StaffInvitation> {
  const roles = rolesFor(invitation.organization, invitation.roles);
  const code = newOneTimeCode();
  const expiresAt = new Date(now.getTime() + INVITATION_HOURS * 3600_000);
  const id = await repo.insertInvitation(trx, { codeHash: tokenHash(code), organization: invitation.organization, roles, displayName: invitation.displayName, issuedBy: inviter.staffId, issuedAt: now, expiresAt });
  await appendAudit(trx, {
    action: 'staff.invitation_issued', actor: inviter.staffId === null ? { kind: 'system', id: 'municipality-command' } : { kind: 'staff', id: String(inviter.staffId) },
    subject: `staff_invitation:${id}`, details: { organization: organizationLabel(invitation.organization), roles, expiresAt: expiresAt.toISOString(), ...towns(inviter.municipalityCode) },
  });
  const { kind, id: organizationId, name } = invitation.organization;
  return { code: groupCode(code), expiresAt: expiresAt.toISOString(), displayName: invitation.displayName, roles, organization: { kind, id: organizationId, name } };
}

/**
 * Cancels one of the organization's open invitations (a code handed to the wrong person, a
 * member of staff who will not join), audited; staff_invitation_not_found for any other,
 * another organization's included.
 */
export async function cancelInvitation(trx: Knex.Transaction, staff: { id: number; organization: OrganizationRef; municipalityCode: string }, id: number, now: Date): Promise<OpenStaffInvitation> {
  const [invitation] = await repo.openInvitations(trx, staff.organization, now, { id, lock: true });
  if (!invitation) throw new Problem('staff_invitation_not_found');
  await repo.cancelInvitation(trx, id, now);
  await appendAudit(trx, {
    action: 'staff.invitation_cancelled', actor: { kind: 'staff', id: String(staff.id) }, subject: `staff_invitation:${id}`,
    details: { organization: organizationLabel(invitation.organization), roles: invitation.roles, ...towns(staff.municipalityCode) },
  });
  return invitation;
}

export interface Redemption { code: string; loginId: string; password: string }

/**
 * Makes the account the code invites, with the login ID and password chosen, and uses the code
 * up; a wrong, used or expired code all fail as staff_invitation_invalid. The password is hashed
 * before the transaction, so no lock waits for scrypt.
 */
export async function redeemInvitation(db: Db, redemption: Redemption, cost: number, now: Date): Promise<StaffInvitationRedeemed> {
  const code = normalizeCode(redemption.code);
  if (!code) throw new Problem('staff_invitation_invalid');
  const weakness = passwordWeakness(redemption.password, redemption.loginId);
  if (weakness === 'too_short' || weakness === 'too_long') throw new Problem('staff_password_too_short');
  if (weakness === 'common') throw new Problem('staff_password_common');
  const passwordHash = await hashPassword(redemption.password, cost);
  return db.transaction(async (trx) => {
    const invitation = await repo.lockOpenInvitation(trx, tokenHash(code), now);
    if (!invitation) throw new Problem('staff_invitation_invalid');
    const organization = organizationOf(invitation);
    const staffId = await repo.insertAccount(trx, { loginId: redemption.loginId, displayName: invitation.display_name, organization, roles: invitation.roles, passwordHash, now });
    if (staffId === undefined) throw new Problem('staff_login_taken');
    await repo.closeInvitation(trx, invitation.id, staffId, now);
    // The new account as sign-in will see it: its organization's name and its town.
    const made = await repo.staffById(trx, staffId);
    await appendAudit(trx, {
      action: 'staff.invitation_redeemed', actor: { kind: 'staff', id: String(staffId) }, subject: `staff:${staffId}`,
      details: { invitation: invitation.id, invitedBy: invitation.issued_by_staff_id, organization: organizationLabel(organization), roles: invitation.roles, ...towns(made.municipalityCode) },
    });
    return { loginId: redemption.loginId, roles: invitation.roles, secondFactorRequired: organization.kind === 'municipality', organization: made.organization };
  });
}
