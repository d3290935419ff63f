// Every staff endpoint starts here: the session cookie names the staff member, whose account
// and organization the handler then acts for.
import type { Context, Middleware, Next } from 'koa';
import type { Db } from '../db.ts';
import { Problem } from '../http/problems.ts';
import { staffRepository, type SignedInStaff, type StaffRole } from './repository.ts';
import { auditRefusal } from './refusals.ts';

export const SESSION_COOKIE = 'mykey_staff';

export function sessionToken(ctx: Context): string | undefined {
  return ctx.cookies.get(SESSION_COOKIE) || undefined;
}

/**
 * Sets ctx.state.staff, or answers 401 staff_session_required. Refusals further in (requireRole's
 * 403, another town's object answered as not found) are audited here, on their way out.
 */
export function requireStaff(db: Db): Middleware {
  const staff = staffRepository(db);
  return async function withStaff(ctx: Context, next: Next): Promise<void> {
    const token = sessionToken(ctx);
    const found = token && (await staff.staffForSession(token, new Date()));
    if (!found) throw new Problem('staff_session_required');
    ctx.state.staff = found;
    // What a staff member sees is theirs alone; no shared cache may keep it.
    ctx.set('Cache-Control', 'no-store');
    try {
      await next();
    } catch (error) {
      await auditRefusal(db, ctx, found, error);
      throw error;
    }
  };
}

/** After requireStaff: only staff of this kind of organization get through; others get 403. */
export function requireRole(role: StaffRole): Middleware {
  return async function withRole(ctx: Context, next: Next): Promise<void> {
    if (signedInStaff(ctx).role !== role) throw new Problem('staff_role_forbidden');
    await next();
  };
}

/** The staff member requireStaff found, typed. */
export function signedInStaff(ctx: Context): SignedInStaff {
  const staff = ctx.state.staff as SignedInStaff | undefined;
  if (!staff) throw new Error('signedInStaff() on a route without requireStaff');
  return staff;
}
