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
