// What the backend answers about a staff member (backend/src/staff/), as the console reads it
// to route and to greet: who is signed in, for which organization, and the second factor.

export type StaffRole = 'merchant' | 'municipality';

export interface Staff {
  loginId: string;
  displayName: string;
  role: StaffRole;
  organization: { kind: StaffRole; id: string; name: { ja: string; en: string } };
  /** Whether the account signs in with a second factor (TOTP). */
  secondFactor: boolean;
}

/** A second factor being set up: the secret, its otpauth:// URI, and that URI as a QR code (SVG). */
export interface TotpEnrolment { secret: string; uri: string; qrSvg: string }
