// Every staff endpoint starts here: the session cookie names the staff member, whose account
// and organization the handler then acts for.
import type { Context, Middleware, Next } from 'koa';
import { holdsRole, type StaffRole } from '@mykey/contracts/staff.ts';
import type { Db } from '../db.ts';
import { Problem } from '../http/problems.ts';
import { staffRepository, type SessionStage, type SignedInStaff, type StaffSession } from './repository.ts';
import { auditRefusal } from './refusals.ts';

// Over HTTPS the cookie carries the __Host- prefix: the browser then takes it only when Secure,
// for this host alone and path /, so no subdomain or plain-HTTP page can plant or read it. Over
// plain HTTP (local development and the tests on 127.0.0.1) it cannot, and keeps its plain name;
// production refuses to sign in over plain HTTP (routes.ts), so it never gets there.
const SESSION_COOKIE = 'mykey_staff';
const SECURE_SESSION_COOKIE = `__Host-${SESSION_COOKIE}`;

export function sessionCookieName(ctx: Context): string {
  return ctx.secure ? SECURE_SESSION_COOKIE : SESSION_COOKIE;
}

export function sessionToken(ctx: Context): string | undefined {
  return ctx.cookies.get(sessionCookieName(ctx)) || undefined;
}

/** The caller's session when it is at one of `stages`, else 401 staff_session_required. */
export async function sessionAt(ctx: Context, db: Db, stages: SessionStage[]): Promise<StaffSession & { token: string }> {
  const token = sessionToken(ctx);
  const session = token ? await staffRepository.sessionFor(db, token, new Date()) : undefined;
  if (!token || !session || !stages.includes(session.stage)) throw new Problem('staff_session_required');
  // What a staff member sees is theirs alone; no shared cache may keep it.
  ctx.set('Cache-Control', 'no-store');
  return { ...session, token };
}

/**
 * Sets ctx.state.staff for a fully signed-in session (password and, where required, second
 * factor), or answers 401 staff_session_required. Refusals further in (requireRole's 403,
 * another town's object answered as not found) are audited here, on their way out.
 */
export function requireStaff(db: Db): Middleware {
  return async function withStaff(ctx: Context, next: Next): Promise<void> {
    const found = (await sessionAt(ctx, db, ['full'])).staff;
    ctx.state.staff = found;
    try {
      await next();
    } catch (error) {
      await auditRefusal(db, ctx, found, error);
      throw error;
    }
  };
}

/**
 * After requireStaff: only staff holding one of `roles` get through; others get 403
 * staff_role_forbidden (audited by requireStaff). The roles name the organization's kind too:
 * a shop's roles are never a municipality's.
 */
export function requireRole(...roles: StaffRole[]): Middleware {
  async function withRole(ctx: Context, next: Next): Promise<void> {
    if (!holdsRole(signedInStaff(ctx), ...roles)) throw new Problem('staff_role_forbidden');
    await next();
  }
  // The roles ride along for the API's document (openapi/document.ts), read from the route itself.
  return Object.assign(withRole, { [ROLES]: roles });
}

const ROLES = Symbol('roles');

/** The roles a route's requireRole lets through; undefined when it has none. */
export function rolesIn(stack: readonly unknown[]): StaffRole[] | undefined {
  return (stack.find((m) => typeof m === 'function' && ROLES in m) as { [ROLES]: StaffRole[] } | undefined)?.[ROLES];
}

/** requireStaff and requireRole(...roles), for a route's middleware list. */
export function staffWith(db: Db, ...roles: StaffRole[]): Middleware[] {
  return [requireStaff(db), requireRole(...roles)];
}

/** Who reads a municipality's records: every municipal role. */
export const MUNICIPAL_READERS: StaffRole[] = ['administrator', 'operator', 'auditor'];

/** Who works a shop's register: owner and clerk. */
export const SHOP_STAFF: StaffRole[] = ['owner', 'clerk'];

/** The staff member requireStaff found, typed. */
export function signedInStaff(ctx: Context): SignedInStaff {
  const staff = ctx.state.staff as SignedInStaff | undefined;
  if (!staff) throw new Error('signedInStaff() on a route without requireStaff');
  return staff;
}
