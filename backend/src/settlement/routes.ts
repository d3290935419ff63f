// Settlement statements over HTTP: municipal staff see their municipality's, as JSON for the
// console or as CSV files; a shop's staff see their own shop's line only.
import Router from '@koa/router';
import { z } from 'zod';
import type { Context } from 'koa';
import { recordAudit } from '../audit/chain.ts';
import type { Db } from '../db.ts';
import { Problem } from '../http/problems.ts';
import { organizationRepository } from '../organizations/repository.ts';
import { MUNICIPAL_READERS, signedInStaff, staffWith } from '../staff/middleware.ts';
import { organizationLabel } from '../staff/organization.ts';
import { parsePeriod, periodQuery, settlementStatement, STATEMENT_KINDS, statementCsv, statementFileName, type Statement, type StatementKind } from './statement.ts';
import { described } from '../http/described.ts';

const statementQuery = periodQuery.extend({ format: z.enum(['json', 'csv']).optional().meta({ description: 'json (the default) or csv.' }) });

function kindOf(value: unknown): StatementKind {
  const kind = STATEMENT_KINDS.find((k) => k === value);
  if (!kind) throw new Problem('request_invalid', `kind must be one of ${STATEMENT_KINDS.join(', ')}`);
  return kind;
}

/**
 * JSON, or with format=csv the file of `kind`; audited as the staff member's view or download
 * of `subject` before it is handed out.
 */
async function answer(ctx: Context, db: Db, statement: Statement, subject: string, kind: () => StatementKind): Promise<void> {
  const format = ctx.query.format ?? 'json';
  if (format !== 'json' && format !== 'csv') throw new Problem('request_invalid', 'format must be json or csv');
  const which = format === 'csv' ? kind() : undefined;
  const staff = signedInStaff(ctx);
  await recordAudit(db, {
    action: which ? 'settlement.downloaded' : 'settlement.viewed', actor: { kind: 'staff', id: String(staff.id) }, subject,
    details: { organization: organizationLabel(staff.organization), from: statement.period.from, to: statement.period.to, ...(which ? { kind: which } : {}) },
  });
  if (!which) {
    ctx.body = statement;
    return;
  }
  ctx.attachment(statementFileName(statement, which));
  ctx.type = 'text/csv; charset=utf-8';
  ctx.body = statementCsv(statement, which);
}

export function settlementRoutes({ db }: { db: Db }): Router {
  const router = new Router({ prefix: '/api/v1' });

  router.get('/staff/settlements', described({
    summary: 'The town\'s settlement statement for a period: JSON, or a CSV file of one kind', caller: 'staff', query: statementQuery.extend({ kind: z.enum(STATEMENT_KINDS).optional().meta({ description: 'With format=csv: which file.' }) }),
    responses: { 200: { description: 'The statement (JSON), or with format=csv the file of its kind.' } }, problems: ['settlement_period_invalid', 'request_invalid'],
  }), ...staffWith(db, ...MUNICIPAL_READERS), async (ctx) => {
    const period = parsePeriod(ctx.query.from, ctx.query.to);
    const municipalityCode = signedInStaff(ctx).organization.id;
    await answer(ctx, db, await settlementStatement(db, municipalityCode, period), `settlement:municipality:${municipalityCode}`, () => kindOf(ctx.query.kind));
  });

  router.get('/merchant/settlement', described({ summary: 'The shop\'s own line of the settlement statement', caller: 'staff', query: statementQuery, responses: { 200: 'The shop\'s statement (JSON), or with format=csv its file.' }, problems: ['settlement_period_invalid', 'request_invalid', 'merchant_not_found'] }), ...staffWith(db, 'owner'), async (ctx) => {
    const period = parsePeriod(ctx.query.from, ctx.query.to);
    const merchantId = Number(signedInStaff(ctx).organization.id);
    const municipalityCode = await organizationRepository.merchantMunicipality(db, merchantId);
    if (!municipalityCode) throw new Problem('merchant_not_found');
    await answer(ctx, db, await settlementStatement(db, municipalityCode, period, { merchantId }), `settlement:merchant:${merchantId}`, () => 'merchants');
  });

  return router;
}
