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
 * The one error middleware: every failure, and every unmatched route, leaves as an RFC 9457
 * problem document. Unexpected errors are logged with their stack; the client never sees it.
 */
export async function problemMiddleware(ctx: Context, next: Next): Promise<void> {
  try {
    await next();
    if (ctx.status === 404 && ctx.body === undefined) throw new Problem('not_found');
  } catch (error) {
    const problem = toProblem(error);
    if (problem.status >= 500) ctx.state.log.error({ err: error }, 'request failed');
    ctx.status = problem.status;
    ctx.type = 'application/problem+json; charset=utf-8';
    ctx.body = problemDocument(problem, ctx.state.requestId, ctx.path);
  }
}
