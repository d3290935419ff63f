import { ApiError, isRecord, request, requestNoContent } from './api.ts';
import type { Bilingual } from './i18n.svelte.ts';
import { paths } from './router.svelte.ts';

export type Role = 'merchant' | 'municipality';

export interface Staff {
  loginId: string;
  displayName: string;
  role: Role;
  organization: {
    kind: Role;
    id: string;
    name: Bilingual;
  };
}

export type SessionState =
  | { status: 'checking' }
  | { status: 'signed-out' }
  | { status: 'signed-in'; staff: Staff }
  | { status: 'unknown'; error: ApiError };

class Session {
  state: SessionState = $state({ status: 'checking' });
}

export const session = new Session();

const sessionsPath = '/api/v1/staff/sessions';
const currentSessionPath = '/api/v1/staff/session';

function isRole(value: unknown): value is Role {
  return value === 'merchant' || value === 'municipality';
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
    isRole(value.role) &&
    isRole(organization.kind) &&
    typeof organization.id === 'string' &&
    isBilingual(organization.name)
  );
}

// Routing trusts the role, so an answer without a well-formed staff member is refused
// here instead of producing a console with blanks.
function parseStaffEnvelope(body: unknown): Staff | null {
  return isRecord(body) && isStaff(body.staff) ? body.staff : null;
}

export function consolePath(role: Role): string {
  return role === 'merchant' ? paths.merchant : paths.municipality;
}

export function devicesPath(role: Role): string {
  return role === 'merchant' ? paths.merchantDevices : paths.municipalityDevices;
}

export async function checkSession(): Promise<void> {
  session.state = { status: 'checking' };
  try {
    const staff = await request(currentSessionPath, parseStaffEnvelope);
    session.state = { status: 'signed-in', staff };
  } catch (error) {
    session.state = signedOutOrUnknown(error);
  }
}

function signedOutOrUnknown(error: unknown): SessionState {
  if (error instanceof ApiError && error.status === 401) return { status: 'signed-out' };
  if (error instanceof ApiError) return { status: 'unknown', error };
  throw error;
}

export async function signIn(loginId: string, password: string): Promise<Staff> {
  const staff = await request(sessionsPath, parseStaffEnvelope, {
    method: 'POST',
    body: { loginId, password },
  });
  session.state = { status: 'signed-in', staff };
  return staff;
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
