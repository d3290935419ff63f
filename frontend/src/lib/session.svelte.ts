import { ROLES_OF, type OrganizationKind, type Staff, type StaffRole, type TotpEnrolment } from '@mykey/contracts/staff.ts';
import { ApiError, isRecord, request, requestNoContent } from './api.ts';
import type { Bilingual } from './i18n.svelte.ts';
import { paths } from './router.svelte.ts';

export type SessionState =
  | { status: 'checking' }
  | { status: 'signed-out' }
  | { status: 'signed-in'; staff: Staff }
  /** The password was right; the authenticator code is awaited. */
  | { status: 'second-factor' }
  /** Municipal staff without a second factor: the session may only set one up. */
  | { status: 'enrolment-required'; staff: Staff }
  | { status: 'unknown'; error: ApiError };

class Session {
  state: SessionState = $state({ status: 'checking' });
  /** After a sign-in with a recovery code: how many are left, for the console to say. */
  recoveryCodesLeft: number | null = $state(null);
}

export const session = new Session();

const sessionsPath = '/api/v1/staff/sessions';
const currentSessionPath = '/api/v1/staff/session';

function isKind(value: unknown): value is OrganizationKind {
  return value === 'merchant' || value === 'municipality';
}

/** Roles of the organization's own kind only, and at least one. */
function areRoles(value: unknown, kind: OrganizationKind): value is StaffRole[] {
  return Array.isArray(value) && value.length > 0 && value.every((role) => ROLES_OF[kind].includes(role));
}

function isBilingual(value: unknown): value is Bilingual {
  return isRecord(value) && typeof value.ja === 'string' && typeof value.en === 'string';
}

function isStaff(value: unknown): value is Staff {
  if (!isRecord(value) || !isRecord(value.organization)) return false;
  const { organization } = value;
  return (
    typeof value.loginId === 'string' &&
    typeof value.displayName === 'string' &&
    isKind(organization.kind) &&
    areRoles(value.roles, organization.kind) &&
    typeof organization.id === 'string' &&
    isBilingual(organization.name) &&
    typeof value.secondFactor === 'boolean'
  );
}

// Routing trusts the organization's kind and roles, so an answer without a well-formed staff member is refused
// here instead of producing a console with blanks.
function parseStaffEnvelope(body: unknown): Staff | null {
  return isRecord(body) && isStaff(body.staff) ? body.staff : null;
}

export function consolePath(kind: OrganizationKind): string {
  return kind === 'merchant' ? paths.merchant : paths.municipality;
}

export function devicesPath(kind: OrganizationKind): string {
  return kind === 'merchant' ? paths.merchantDevices : paths.municipalityDevices;
}

/** A staff member, and whether the session still needs a second factor set up. */
function parseSession(body: unknown): SessionState | null {
  const staff = parseStaffEnvelope(body);
  if (staff === null || !isRecord(body)) return null;
  return body.next === 'totp_enrolment' ? { status: 'enrolment-required', staff } : { status: 'signed-in', staff };
}

// The password step answers either a session (as parseSession) or that a code is awaited.
function parseSignIn(body: unknown): SessionState | null {
  if (isRecord(body) && body.next === 'second_factor') return { status: 'second-factor' };
  return parseSession(body);
}

export async function checkSession(): Promise<void> {
  session.state = { status: 'checking' };
  try {
    session.state = await request(currentSessionPath, parseSession);
  } catch (error) {
    session.state = signedOutOrUnknown(error);
  }
}

function signedOutOrUnknown(error: unknown): SessionState {
  if (error instanceof ApiError && error.status === 401) return { status: 'signed-out' };
  if (error instanceof ApiError) return { status: 'unknown', error };
  throw error;
}

/** Where a sign-in goes next: the console, the second factor, or setting one up. */
export function afterSignIn(state: SessionState): string {
  if (state.status === 'second-factor') return paths.signIn;
  if (state.status === 'enrolment-required') return paths.totpEnrolment;
  if (state.status === 'signed-in') return consolePath(state.staff.organization.kind);
  return paths.signIn;
}

export async function signIn(loginId: string, password: string): Promise<SessionState> {
  session.state = await request(sessionsPath, parseSignIn, { method: 'POST', body: { loginId, password } });
  return session.state;
}

/** The second step: a code from the authenticator app, or a recovery code. Answers how many recovery codes are left when one was used. */
export async function verifySecondFactor(answer: { code: string } | { recoveryCode: string }): Promise<{ staff: Staff; recoveryCodesLeft: number | null }> {
  const result = await request(`${sessionsPath}/second-factor`, (body) => {
    const staff = parseStaffEnvelope(body);
    if (staff === null || !isRecord(body)) return null;
    return { staff, recoveryCodesLeft: typeof body.recoveryCodesLeft === 'number' ? body.recoveryCodesLeft : null };
  }, { method: 'POST', body: answer });
  session.state = { status: 'signed-in', staff: result.staff };
  session.recoveryCodesLeft = result.recoveryCodesLeft;
  return result;
}

export async function startTotpEnrolment(): Promise<TotpEnrolment> {
  return request('/api/v1/staff/totp/enrolment', (body) => (
    isRecord(body) && typeof body.secret === 'string' && typeof body.uri === 'string' && typeof body.qrSvg === 'string'
      ? { secret: body.secret, uri: body.uri, qrSvg: body.qrSvg } : null
  ), { method: 'POST', body: {} });
}

/** Confirms the enrolment with a current code; the recovery codes, shown once. The session becomes a full one only when the screen says so (finishEnrolment), after the codes were seen. */
export async function confirmTotpEnrolment(code: string): Promise<{ staff: Staff; recoveryCodes: string[] }> {
  return request('/api/v1/staff/totp/enrolment/confirm', (body) => {
    const staff = parseStaffEnvelope(body);
    if (staff === null || !isRecord(body) || !Array.isArray(body.recoveryCodes) || !body.recoveryCodes.every((c) => typeof c === 'string')) return null;
    return { staff, recoveryCodes: body.recoveryCodes as string[] };
  }, { method: 'POST', body: { code } });
}

export function finishEnrolment(staff: Staff): void {
  session.state = { status: 'signed-in', staff };
}

export async function changePassword(currentPassword: string, newPassword: string): Promise<void> {
  const staff = await request('/api/v1/staff/password', parseStaffEnvelope, { method: 'POST', body: { currentPassword, newPassword } });
  session.state = { status: 'signed-in', staff };
}

/** Ends every session of the account, this one included. */
export async function signOutEverywhere(): Promise<void> {
  await requestNoContent(sessionsPath, { method: 'DELETE' });
  session.state = { status: 'signed-out' };
}

export async function signOut(): Promise<void> {
  try {
    await requestNoContent(currentSessionPath, { method: 'DELETE' });
  } catch (error) {
    // An expired session is already the outcome the user asked for.
    if (!(error instanceof ApiError && error.status === 401)) throw error;
  }
  session.state = { status: 'signed-out' };
}
