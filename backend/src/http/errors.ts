import type { Context, Next } from 'koa';
import { Problem, problemDocument } from './problems.ts';

// mysql2 error codes that mean "the database is not there right now", not a bug.
const DATABASE_DOWN = new Set(['ECONNREFUSED', 'ETIMEDOUT', 'PROTOCOL_CONNECTION_LOST', 'ER_CON_COUNT_ERROR', 'EHOSTUNREACH']);

function isDatabaseDown(error: unknown): boolean {
  if (!(error instanceof Error)) return false;
  const code = (error as { code?: unknown }).code;
  return (typeof code === 'string' && DATABASE_DOWN.has(code)) || error.name === 'KnexTimeoutError';
}

/** Turns whatever was thrown into a Problem; anything unexpected becomes internal_error. */
function toProblem(error: unknown): Problem {
  if (error instanceof Problem) return error;
  if (isDatabaseDown(error)) return new Problem('database_unavailable');
  return new Problem('internal_error');
}

/**
 * A 5xx is our side's. One we answer on purpose (uploads cannot be counted, no room to spool) is
 * a state of the system, logged as a warning by its code; anything else is a failure, logged as
 * an error with its stack. The database being away is both: its error is kept, with the stack.
 */
function logServerSide(ctx: Context, error: unknown, problem: Problem): void {
  if (error instanceof Problem) ctx.state.log.warn({ code: problem.code, detail: problem.detail }, 'request refused for now');
  else ctx.state.log.error({ err: error }, 'request failed');
}

/**
 * The one error middleware: every failure, and every unmatched route, leaves as an RFC 9457
 * problem document. Unexpected errors are logged with their stack; the client never sees it.
 */
export async function problemMiddleware(ctx: Context, next: Next): Promise<void> {
  try {
    await next();
    if (ctx.status === 404 && ctx.body === undefined) throw new Problem('not_found');
  } catch (error) {
    const problem = toProblem(error);
    if (problem.status >= 500) logServerSide(ctx, error, problem);
    ctx.status = problem.status;
    ctx.type = 'application/problem+json; charset=utf-8';
    ctx.body = problemDocument(problem, ctx.state.requestId, ctx.path);
  }
}
