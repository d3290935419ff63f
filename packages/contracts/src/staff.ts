// What the backend answers about a staff member (backend/src/staff/), as the console reads it
// to route and to greet: who is signed in, for which organization, what they may do there, and
// the second factor.

/** The kind of organization a staff member works for: a shop or a municipality. */
export type OrganizationKind = 'merchant' | 'municipality';

/**
 * What a staff member may do (docs/security/staff.md#roles). A municipality's staff:
 * administrator (staff accounts, campaigns, shops, settlement), operator (grants, counters,
 * services, shelters, events), auditor (reads everything of the town, changes nothing). A shop's:
 * owner (its staff, registers and settlement) and clerk (the register). An account may hold
 * several roles of its own organization's kind.
 */
export type StaffRole = 'administrator' | 'operator' | 'auditor' | 'owner' | 'clerk';

export const ROLES_OF: Readonly<Record<OrganizationKind, readonly StaffRole[]>> = {
  municipality: ['administrator', 'operator', 'auditor'],
  merchant: ['owner', 'clerk'],
};

export interface Staff {
  loginId: string;
  displayName: string;
  organization: { kind: OrganizationKind; id: string; name: { ja: string; en: string } };
  /** Never empty; only roles of the organization's kind. */
  roles: StaffRole[];
  /** Whether the account signs in with a second factor (TOTP). */
  secondFactor: boolean;
}

/** Whether `staff` holds one of `roles`. */
export function holdsRole(staff: Pick<Staff, 'roles'>, ...roles: StaffRole[]): boolean {
  return staff.roles.some((role) => roles.includes(role));
}

/** A second factor being set up: the secret, its otpauth:// URI, and that URI as a QR code (SVG). */
export interface TotpEnrolment { secret: string; uri: string; qrSvg: string }

/** The roles that keep an organization governable: its last enabled holder cannot be removed. */
export const KEEPER_ROLE: Readonly<Record<OrganizationKind, StaffRole>> = { municipality: 'administrator', merchant: 'owner' };

/** A staff account as its organization's administrator (a shop's owner) sees it. */
export interface StaffAccountSummary {
  id: number;
  loginId: string;
  displayName: string;
  roles: StaffRole[];
  secondFactor: boolean;
  /** ISO time of the last sign-in, null when never (or before it was recorded). */
  lastSignedInAt: string | null;
  disabled: boolean;
}

/** A one-time invitation code, shown once to whoever issued it. */
export interface StaffInvitation {
  /** Grouped for reading aloud: `K7QM-3XPA-9D`. */
  code: string;
  expiresAt: string;
  displayName: string;
  roles: StaffRole[];
  organization: { kind: OrganizationKind; id: string; name: { ja: string; en: string } };
}

/** What the invitation page tells the new staff member once the account is made. */
/** An invitation still waiting for its code to be typed: what its issuer's organization sees (never the code). */
export interface OpenStaffInvitation {
  id: number;
  displayName: string;
  roles: StaffRole[];
  /** The organization the account will work for: the lister's own, or (a town's) a shop of the town whose first owner it invites. */
  organization: StaffInvitation['organization'];
  issuedBy: string | null;
  issuedAt: string;
  expiresAt: string;
}

export interface StaffInvitationRedeemed { loginId: string; organization: StaffInvitation['organization']; roles: StaffRole[]; secondFactorRequired: boolean }

/** A login ID a new account may take: letters, digits and . _ - @, 3 to 64 of them. */
export const LOGIN_ID_PATTERN = /^[A-Za-z0-9][A-Za-z0-9._@-]{2,63}$/;
