// Settlement over HTTP: statements of any period and of the periods the municipality closed, as
// JSON for the console or as files (CSV; the Zengin transfer file); a shop's owner sees its own
// shop's line only. Every view and download is audited before it is answered.
import { createHash } from 'node:crypto';
import Router from '@koa/router';
import type { Context } from 'koa';
import { z } from 'zod';
import { recordAudit } from '../audit/chain.ts';
import type { Db } from '../db.ts';
import { readJson } from '../http/body.ts';
import { idempotencyKey, respond, runIdempotent } from '../http/idempotency.ts';
import { Problem } from '../http/problems.ts';
import { shopsRepository } from '../shops/repository.ts';
import { MUNICIPAL_READERS, signedInStaff, staffWith } from '../staff/middleware.ts';
import { organizationLabel } from '../staff/organization.ts';
import { closedPeriodDetail, closedPeriods, closedStatement, closePeriod, merchantClosedPeriod, merchantClosedPeriods, partnerInvoices, partnerInvoicesCsv, periodOf } from './periods.ts';
import { payerBody, payerOf, setPayer, transferFileOf } from './transfer.ts';
import { settlementRepository } from './repository.ts';
import { parsePeriod, periodQuery, settlementStatement, STATEMENT_KINDS, statementCsv, statementFileName, type Statement, type StatementKind } from './statement.ts';
import { described } from '../http/described.ts';

const statementQuery = periodQuery.extend({ format: z.enum(['json', 'csv']).optional().meta({ description: 'json (the default) or csv.' }) });

const closeBody = z.object({
  from: periodQuery.shape.from, to: periodQuery.shape.to,
  payOn: z.iso.date().meta({ description: '振込指定日: the day the transfer file pays the shops, after `to`.', example: '2026-12-10' }),
}).strict();

/** Audits a staff member's view or download of something of the settlement's, before it is answered. */
async function audited(ctx: Context, db: Db, action: 'settlement.viewed' | 'settlement.downloaded', subject: string, details: Record<string, unknown>): Promise<void> {
  const staff = signedInStaff(ctx);
  await recordAudit(db, { action, actor: { kind: 'staff', id: String(staff.id) }, subject, details: { organization: organizationLabel(staff.organization), ...details } });
}

/** `format`: json unless csv is asked for. */
function wantsCsv(ctx: Context): boolean {
  const format = ctx.query.format ?? 'json';
  if (format !== 'json' && format !== 'csv') throw new Problem('request_invalid', 'format must be json or csv');
  return format === 'csv';
}

function attach(ctx: Context, fileName: string, type: string, body: string | Buffer): void {
  ctx.attachment(fileName);
  ctx.type = type;
  ctx.body = body;
}

const CSV = 'text/csv; charset=utf-8';

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
  const which = wantsCsv(ctx) ? kind() : undefined;
  await audited(ctx, db, which ? 'settlement.downloaded' : 'settlement.viewed', subject, { from: statement.period.from, to: statement.period.to, ...(which && { kind: which }) });
  if (!which) ctx.body = statement;
  else attach(ctx, statementFileName(statement, which), CSV, statementCsv(statement, which));
}

export function settlementRoutes({ db, clock }: { db: Db; clock: () => Date }): Router {
  const router = new Router({ prefix: '/api/v1' });
  const reads = staffWith(db, ...MUNICIPAL_READERS);
  const administers = staffWith(db, 'administrator');

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
    const municipalityCode = await shopsRepository.merchantMunicipality(db, merchantId);
    if (!municipalityCode) throw new Problem('merchant_not_found');
    await answer(ctx, db, await settlementStatement(db, municipalityCode, period, { merchantId }), `settlement:merchant:${merchantId}`, () => 'merchants');
  });

  // --- closed periods (docs/settlement.md#closed-periods) -------------------------------------

  const municipalitySubject = (ctx: Context) => `settlement:municipality:${signedInStaff(ctx).municipalityCode}`;
  const periodDetails = (row: { id: number; from: string; to: string }) => ({ periodId: row.id, from: row.from, to: row.to });

  router.get('/staff/settlement-periods', described({ summary: 'The town\'s closed settlement periods, latest first, each with what it transfers to the shops', caller: 'staff', responses: { 200: 'The closed periods.' } }), ...reads, async (ctx) => {
    ctx.body = { periods: await closedPeriods(db, signedInStaff(ctx).municipalityCode) };
  });

  router.post('/staff/settlement-periods', described({
    summary: 'Close the next settlement period: the entries it covers and what it pays each shop are fixed from then on', caller: 'staff', body: closeBody, idempotent: true,
    example: { from: '2026-11-01', to: '2026-11-30', payOn: '2026-12-10' },
    responses: { 201: 'The closed period, its statement and what it pays each shop.' },
    problems: ['settlement_period_invalid', 'settlement_pay_date_invalid', 'settlement_period_not_over', 'settlement_period_not_next'],
  }), ...administers, async (ctx) => {
    const staff = signedInStaff(ctx);
    const key = idempotencyKey(ctx);
    const body = await readJson(ctx, closeBody);
    respond(ctx, await runIdempotent(db, { scope: `staff:${staff.id}`, key, request: { op: 'close-settlement-period', ...body } },
      async (trx) => ({ status: 201, body: await closePeriod(trx, staff, body, clock()) })));
  });

  router.get('/staff/settlement-periods/:id', described({
    summary: 'A closed period: its statement and payouts (JSON), or a statement file (CSV)', caller: 'staff',
    query: z.object({ format: z.enum(['json', 'csv']).optional(), kind: z.enum(STATEMENT_KINDS).optional().meta({ description: 'With format=csv: which file.' }) }),
    responses: { 200: { description: 'The closed period (JSON), or with format=csv the statement file of its kind.' } }, problems: ['settlement_period_not_found', 'request_invalid'],
  }), ...reads, async (ctx) => {
    const row = await periodOf(db, signedInStaff(ctx).municipalityCode, ctx.params.id);
    const csv = wantsCsv(ctx);
    const kind = csv ? kindOf(ctx.query.kind) : undefined;
    await audited(ctx, db, csv ? 'settlement.downloaded' : 'settlement.viewed', municipalitySubject(ctx), { ...periodDetails(row), ...(kind && { kind }) });
    if (!kind) {
      ctx.body = await closedPeriodDetail(db, row);
      return;
    }
    const statement = await closedStatement(db, row);
    attach(ctx, `settlement-period-${kind}-${row.municipalityCode}-${row.from}-${row.to}.csv`, CSV, statementCsv(statement, kind));
  });

  router.get('/staff/settlement-periods/:id/merchants/:merchantId', described({
    summary: 'A shop\'s statement and payout in a closed period (JSON), or its file (CSV)', caller: 'staff', query: z.object({ format: z.enum(['json', 'csv']).optional() }),
    responses: { 200: 'The shop\'s line and payout, or with format=csv its statement file.' }, problems: ['settlement_period_not_found', 'merchant_not_found', 'request_invalid'],
  }), ...reads, async (ctx) => {
    const row = await periodOf(db, signedInStaff(ctx).municipalityCode, ctx.params.id);
    const merchantId = Number(ctx.params.merchantId);
    const [payout] = Number.isSafeInteger(merchantId) ? await settlementRepository.payouts(db, row.id, merchantId) : [];
    // A shop the period has no line for — another town's among them — is not found.
    if (!payout) throw new Problem('merchant_not_found');
    await shopStatement(ctx, row, merchantId);
  });

  router.get('/staff/settlement-periods/:id/transfer-file', described({
    summary: 'The Zengin transfer file (全銀協 総合振込) paying the shops for a closed period', caller: 'staff', description: 'Fixed 120-byte records in Shift_JIS with CRLF (docs/settlement.md#the-transfer-file).',
    responses: { 200: { description: 'The transfer file.', mediaType: 'text/plain' } }, problems: ['settlement_period_not_found', 'settlement_payer_missing', 'settlement_transfer_unwritable'],
  }), ...staffWith(db, 'administrator', 'auditor'), async (ctx) => {
    const row = await periodOf(db, signedInStaff(ctx).municipalityCode, ctx.params.id);
    const file = await transferFileOf(db, row);
    // The accounts are read as they are now (docs/settlement.md#the-transfer-file): the hash says which file was handed out.
    const sha256 = createHash('sha256').update(file).digest('hex');
    await audited(ctx, db, 'settlement.downloaded', municipalitySubject(ctx), { ...periodDetails(row), kind: 'transfer-file', sha256 });
    attach(ctx, `zengin-transfer-${row.municipalityCode}-${row.from}-${row.to}.txt`, 'text/plain; charset=shift_jis', file);
  });

  router.get('/staff/settlement-periods/:id/partner-invoices', described({
    summary: 'What each partner owes the town for its conversions in a closed period (JSON or CSV)', caller: 'staff', query: z.object({ format: z.enum(['json', 'csv']).optional() }),
    responses: { 200: 'The invoices, or with format=csv their file.' }, problems: ['settlement_period_not_found', 'request_invalid'],
  }), ...reads, async (ctx) => {
    const row = await periodOf(db, signedInStaff(ctx).municipalityCode, ctx.params.id);
    const csv = wantsCsv(ctx);
    await audited(ctx, db, csv ? 'settlement.downloaded' : 'settlement.viewed', municipalitySubject(ctx), { ...periodDetails(row), kind: 'partner-invoices' });
    const invoices = partnerInvoices(row, await closedStatement(db, row));
    if (csv) attach(ctx, `partner-invoices-${row.municipalityCode}-${row.from}-${row.to}.csv`, CSV, partnerInvoicesCsv(invoices));
    else ctx.body = invoices;
  });

  router.get('/staff/settlement-payer', described({ summary: 'The town as the payer of its transfer file (振込依頼人), or null', caller: 'staff', responses: { 200: 'The payer\'s details.' } }), ...reads, async (ctx) => {
    ctx.body = { payer: (await settlementRepository.payer(db, signedInStaff(ctx).municipalityCode)) ?? null };
  });

  router.put('/staff/settlement-payer', described({
    summary: 'Set the town\'s payer details for the transfer file; names in kana become Zengin text', caller: 'staff', body: payerBody, idempotent: true,
    example: { requesterCode: '1399980001', requesterName: 'ミライシ　カイケイカ', bankCode: '0999', bankName: 'デモギンコウ', branchCode: '001', branchName: 'シヤクシヨマエ', accountType: 'current', accountNumber: '1399980' },
    responses: { 200: 'The payer as stored.' }, problems: ['settlement_payer_invalid'],
  }), ...administers, async (ctx) => {
    const staff = signedInStaff(ctx);
    const key = idempotencyKey(ctx);
    const payer = payerOf(await readJson(ctx, payerBody));
    respond(ctx, await runIdempotent(db, { scope: `staff:${staff.id}`, key, request: { op: 'set-settlement-payer', ...payer } }, async (trx) => {
      await setPayer(trx, staff, payer, clock());
      return { status: 200, body: { payer } };
    }));
  });

  /** The shop's statement of the closed period: JSON with its payout, or its CSV file. */
  async function shopStatement(ctx: Context, row: Awaited<ReturnType<typeof periodOf>>, merchantId: number): Promise<void> {
    const csv = wantsCsv(ctx);
    await audited(ctx, db, csv ? 'settlement.downloaded' : 'settlement.viewed', `settlement:merchant:${merchantId}`, { ...periodDetails(row), ...(csv && { kind: 'merchants' }) });
    if (!csv) {
      ctx.body = await merchantClosedPeriod(db, row, merchantId);
      return;
    }
    const statement = await closedStatement(db, row, merchantId);
    attach(ctx, `settlement-period-shop-${merchantId}-${row.municipalityCode}-${row.from}-${row.to}.csv`, CSV, statementCsv(statement, 'merchants'));
  }

  /** The owner's shop and its municipality. */
  async function ownShop(ctx: Context): Promise<{ merchantId: number; municipalityCode: string }> {
    const merchantId = Number(signedInStaff(ctx).organization.id);
    const municipalityCode = await shopsRepository.merchantMunicipality(db, merchantId);
    if (!municipalityCode) throw new Problem('merchant_not_found');
    return { merchantId, municipalityCode };
  }

  router.get('/merchant/settlement-periods', described({ summary: 'The shop\'s closed settlement periods: its line and what each paid it', caller: 'staff', responses: { 200: 'The shop\'s closed periods.' }, problems: ['merchant_not_found'] }), ...staffWith(db, 'owner'), async (ctx) => {
    const { merchantId } = await ownShop(ctx);
    ctx.body = { periods: await merchantClosedPeriods(db, merchantId) };
  });

  router.get('/merchant/settlement-periods/:id', described({
    summary: 'One of the shop\'s closed periods (JSON), or its statement file (CSV)', caller: 'staff', query: z.object({ format: z.enum(['json', 'csv']).optional() }),
    responses: { 200: 'The shop\'s line and payout, or with format=csv its statement file.' }, problems: ['settlement_period_not_found', 'merchant_not_found', 'request_invalid'],
  }), ...staffWith(db, 'owner'), async (ctx) => {
    const { merchantId, municipalityCode } = await ownShop(ctx);
    const row = await periodOf(db, municipalityCode, ctx.params.id);
    // A period that holds nothing of the shop's is not the shop's to see.
    if ((await settlementRepository.payouts(db, row.id, merchantId)).length === 0) throw new Problem('settlement_period_not_found');
    await shopStatement(ctx, row, merchantId);
  });

  return router;
}
