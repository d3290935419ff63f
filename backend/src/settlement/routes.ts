// Settlement statements over HTTP: municipal staff see their municipality's, as JSON for the
// console or as CSV files; a shop's staff see their own shop's line only.
import Router from '@koa/router';
import type { Context } from 'koa';
import type { Db } from '../db.ts';
import { Problem } from '../http/problems.ts';
import { ledgerRepository } from '../ledger/repository.ts';
import { requireRole, requireStaff, signedInStaff } from '../staff/middleware.ts';
import { parsePeriod, settlementStatement, STATEMENT_KINDS, statementCsv, statementFileName, type Statement, type StatementKind } from './statement.ts';

function kindOf(value: unknown): StatementKind {
  const kind = STATEMENT_KINDS.find((k) => k === value);
  if (!kind) throw new Problem('request_invalid', `kind must be one of ${STATEMENT_KINDS.join(', ')}`);
  return kind;
}

/** JSON, or with format=csv the file of `kind`. */
function answer(ctx: Context, statement: Statement, kind: () => StatementKind): void {
  const format = ctx.query.format ?? 'json';
  if (format === 'json') {
    ctx.body = statement;
    return;
  }
  if (format !== 'csv') throw new Problem('request_invalid', 'format must be json or csv');
  const which = kind();
  ctx.attachment(statementFileName(statement, which));
  ctx.type = 'text/csv; charset=utf-8';
  ctx.body = statementCsv(statement, which);
}

export function settlementRoutes({ db }: { db: Db }): Router {
  const router = new Router({ prefix: '/api/v1' });

  router.get('/staff/settlements', requireStaff(db), requireRole('municipality'), async (ctx) => {
    const period = parsePeriod(ctx.query.from, ctx.query.to);
    answer(ctx, await settlementStatement(db, signedInStaff(ctx).organization.id, period), () => kindOf(ctx.query.kind));
  });

  router.get('/merchant/settlement', requireStaff(db), requireRole('merchant'), async (ctx) => {
    const period = parsePeriod(ctx.query.from, ctx.query.to);
    const merchantId = Number(signedInStaff(ctx).organization.id);
    const municipalityCode = await ledgerRepository.merchantMunicipality(db, merchantId);
    if (!municipalityCode) throw new Problem('merchant_not_found');
    answer(ctx, await settlementStatement(db, municipalityCode, period, { merchantId }), () => 'merchants');
  });

  return router;
}
