// The figures of a town's service uses for its municipal staff: one service's, or every service's
// of the town, as JSON or as a CSV file (docs/services-figures.md).
import Router from '@koa/router';
import { z } from 'zod';
import { USES_GROUPINGS } from '@mykey/contracts/service-uses.ts';
import type { Context } from 'koa';
import type { Db } from '../db.ts';
import { parsePeriod, periodQuery } from '../settlement/statement.ts';
import { MUNICIPAL_READERS, signedInStaff, staffWith } from '../staff/middleware.ts';
import type { UsesFigures } from '@mykey/contracts/service-uses.ts';
import { groupingOf, serviceUses, townUses, usesCsv, usesFileName } from './figures.ts';
import { idOf } from '../http/problems.ts';
import { described } from '../http/described.ts';

const query = (ctx: Context) => ({ period: parsePeriod(ctx.query.from, ctx.query.to, 'service_uses_period_invalid'), by: groupingOf(ctx.query.by) });

const usesQuery = periodQuery.extend({ by: z.enum(USES_GROUPINGS).optional().meta({ description: 'day (the default) or hour.' }) });

function csvAnswer(ctx: Context, figures: UsesFigures, whose: string): void {
  ctx.attachment(usesFileName(figures, whose));
  ctx.type = 'text/csv; charset=utf-8';
  ctx.body = usesCsv(figures);
}

export function serviceUsesRoutes({ db }: { db: Db }): Router {
  const router = new Router({ prefix: '/api/v1' });
  const reads = staffWith(db, ...MUNICIPAL_READERS);

  async function ofService(ctx: Context): Promise<UsesFigures> {
    const { period, by } = query(ctx);
    return serviceUses(db, signedInStaff(ctx), idOf(ctx.params.id, 'service_not_found'), period, by);
  }
  async function ofTown(ctx: Context): Promise<UsesFigures> {
    const { period, by } = query(ctx);
    return townUses(db, signedInStaff(ctx), period, by);
  }

  router.get('/services/:id/uses', described({ summary: 'A service\'s uses in a period, per day or hour', caller: 'staff', query: usesQuery, responses: { 200: 'The figures.' }, problems: ['service_not_found', 'service_uses_period_invalid', 'request_invalid'] }), ...reads, async (ctx) => {
    ctx.body = await ofService(ctx);
  });
  router.get('/services/:id/uses.csv', described({ summary: 'A service\'s uses as a CSV file', caller: 'staff', query: usesQuery, responses: { 200: { description: 'The figures file.', mediaType: 'text/csv' } }, problems: ['service_not_found', 'service_uses_period_invalid', 'request_invalid'] }), ...reads, async (ctx) => {
    const figures = await ofService(ctx);
    csvAnswer(ctx, figures, `service-${figures.services[0]!.service.id}`);
  });
  router.get('/service-uses', described({ summary: 'Every service\'s uses in the town in a period', caller: 'staff', query: usesQuery, responses: { 200: 'The figures.' }, problems: ['service_uses_period_invalid', 'request_invalid'] }), ...reads, async (ctx) => {
    ctx.body = await ofTown(ctx);
  });
  router.get('/service-uses.csv', described({ summary: 'The town\'s service uses as a CSV file', caller: 'staff', query: usesQuery, responses: { 200: { description: 'The figures file.', mediaType: 'text/csv' } }, problems: ['service_uses_period_invalid', 'request_invalid'] }), ...reads, async (ctx) => {
    csvAnswer(ctx, await ofTown(ctx), `town-${signedInStaff(ctx).municipalityCode}`);
  });

  return router;
}
