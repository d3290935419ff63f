// Refused staff attempts go into the audit log: a 403 for the wrong console, and another
// town's object answered exactly as an unknown one. The caller gets the same problem document
// either way; only the log tells an isolation refusal from a true unknown.
import type { Context } from 'koa';
import { recordAudit, towns } from '../audit/chain.ts';
import type { Db } from '../db.ts';
import { Problem, type ProblemCode } from '../http/problems.ts';
import { organizationLabel } from './organization.ts';
import type { SignedInStaff } from './repository.ts';

/** Another town's object: answered as `code` (its not-found), audited as a refusal. */
export class IsolationRefusal extends Problem {
  constructor(code: ProblemCode, readonly subject: string, readonly ownerMunicipality: string) {
    super(code);
  }
}

/** What the log needs of the request: the route's pattern (not its path) and the method. */
function requestOf(ctx: Context) {
  const route = (ctx as Context & { _matchedRoute?: string | RegExp })._matchedRoute;
  return { method: ctx.method, route: route === undefined ? null : String(route) };
}

/** Appends the refusal this error stands for, if it stands for one, in a transaction of its own. */
export async function auditRefusal(db: Db, ctx: Context, staff: SignedInStaff, error: unknown): Promise<void> {
  const actor = { kind: 'staff' as const, id: String(staff.id) };
  const common = { ...requestOf(ctx), organization: organizationLabel(staff.organization) };
  if (error instanceof IsolationRefusal) {
    // The owner's history shows who tried; the caller's own town learns nothing new from it.
    await recordAudit(db, {
      action: 'staff.isolation_refused', actor, subject: error.subject, details: { ...common, answered: error.code, ...towns(error.ownerMunicipality) },
    });
  } else if (error instanceof Problem && error.code === 'staff_role_forbidden') {
    await recordAudit(db, {
      action: 'staff.role_refused', actor, subject: `staff:${staff.id}`, details: { ...common, ...towns(staff.municipalityCode) },
    });
  }
}
