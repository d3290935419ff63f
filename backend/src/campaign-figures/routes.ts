// What a town reads about its campaigns: a campaign's dashboard, the whole programme's, and the
// points about to expire, as JSON for the console and CSV for Excel. Every municipal role reads
// them; nothing here changes anything. docs/campaign-figures.md.
import Router from '@koa/router';
import { z } from 'zod';
import { Readable } from 'node:stream';
import type { Context } from 'koa';
import { recordAudit } from '../audit/chain.ts';
import type { Db } from '../db.ts';
import { described, type RouteDescription } from '../http/described.ts';
import { idOf } from '../http/problems.ts';
import { periodQuery } from '../settlement/statement.ts';
import { MUNICIPAL_READERS, signedInStaff, staffWith } from '../staff/middleware.ts';
import { organizationLabel } from '../staff/organization.ts';
import { daysCsv, expiringCsv, expiringFigures, expiringPeriod, scopeFigures, shopsCsv, type Scope } from './service.ts';

/** A campaign id in the path; anything else is as unknown as a missing campaign. */
function campaignOf(ctx: Context): Scope {
  return { campaignId: idOf(ctx.params.id, 'campaign_not_found') };
}

/** Without a period: from the first campaign's start to today (at most a year). */
const figuresQuery = periodQuery.partial();
const expiringQuery = z.object({ until: periodQuery.shape.to.optional().meta({ description: 'The last day of expiry counted, YYYY-MM-DD (Japan time); the end of next month unless given.', example: '2027-01-31' }) });

const FIGURES: Pick<RouteDescription, 'caller' | 'query' | 'problems'> = { caller: 'staff', query: figuresQuery, problems: ['campaign_figures_period_invalid'] };
const ofCampaign: Pick<RouteDescription, 'caller' | 'query' | 'problems'> = { ...FIGURES, problems: ['campaign_not_found', 'campaign_figures_period_invalid'] };
const csvFile = (description: string) => ({ 200: { description, mediaType: 'text/csv' } });

const scopeName = (ctx: Context, scope: Scope) => (scope === 'programme' ? `town-${signedInStaff(ctx).municipalityCode}` : `campaign-${scope.campaignId}`);

export function campaignFiguresRoutes({ db, clock }: { db: Db; clock: () => Date }): Router {
  const router = new Router({ prefix: '/api/v1/campaign-figures' });
  const reads = staffWith(db, ...MUNICIPAL_READERS);

  const figuresOf = (ctx: Context, scope: Scope) => scopeFigures(db, signedInStaff(ctx), scope, { from: ctx.query.from, to: ctx.query.to }, clock());

  /** A chart's data as a CSV file named for its scope, period and chart. */
  async function csv(ctx: Context, scope: Scope, chart: 'days' | 'shops'): Promise<void> {
    const figures = await figuresOf(ctx, scope);
    ctx.attachment(`campaign-figures-${scopeName(ctx, scope)}-${figures.period.from}-${figures.period.to}-${chart}.csv`);
    ctx.type = 'text/csv; charset=utf-8';
    ctx.body = chart === 'days' ? daysCsv(figures) : shopsCsv(figures);
  }

  router.get('/campaigns/:id', described({ summary: 'A campaign\'s figures: points issued, redeemed and expired a day, its budget, top shops, residents reached', ...ofCampaign, responses: { 200: 'The figures.' } }), ...reads, async (ctx) => {
    ctx.body = await figuresOf(ctx, campaignOf(ctx));
  });
  router.get('/campaigns/:id/days.csv', described({ summary: 'A campaign\'s figures a day, as a CSV file', ...ofCampaign, responses: csvFile('A row a day.') }), ...reads, (ctx) => csv(ctx, campaignOf(ctx), 'days'));
  router.get('/campaigns/:id/shops.csv', described({ summary: 'The shops where a campaign\'s points were spent, as a CSV file', ...ofCampaign, responses: csvFile('A row a shop.') }), ...reads, (ctx) => csv(ctx, campaignOf(ctx), 'shops'));

  router.get('/programme', described({ summary: 'The figures of all the town\'s campaigns together, and a line per campaign', ...FIGURES, responses: { 200: 'The figures.' } }), ...reads, async (ctx) => {
    ctx.body = await figuresOf(ctx, 'programme');
  });
  router.get('/programme/days.csv', described({ summary: 'The programme\'s figures a day, as a CSV file', ...FIGURES, responses: csvFile('A row a day.') }), ...reads, (ctx) => csv(ctx, 'programme', 'days'));
  router.get('/programme/shops.csv', described({ summary: 'The shops where the programme\'s points were spent, as a CSV file', ...FIGURES, responses: csvFile('A row a shop.') }), ...reads, (ctx) => csv(ctx, 'programme', 'shops'));

  router.get('/expiring', described({ summary: 'Points about to expire: counts by month and the first lines', caller: 'staff', query: expiringQuery, responses: { 200: 'The counts and lines.' }, problems: ['campaign_figures_period_invalid'] }), ...reads, async (ctx) => {
    const now = clock();
    ctx.body = await expiringFigures(db, signedInStaff(ctx), expiringPeriod(ctx.query.until, now), now);
  });

  router.get('/expiring.csv', described({ summary: 'Every resident\'s points about to expire, as a CSV file (the download is audited)', caller: 'staff', query: expiringQuery, responses: csvFile('A row a resident and expiry.'), problems: ['campaign_figures_period_invalid'] }), ...reads, async (ctx) => {
    const now = clock();
    const period = expiringPeriod(ctx.query.until, now);
    const staff = signedInStaff(ctx);
    // Recorded before the file goes out: it names residents and what they hold.
    await recordAudit(db, {
      action: 'campaign_figures.expiring_downloaded', actor: { kind: 'staff', id: String(staff.id) }, subject: `expiring-points:municipality:${staff.municipalityCode}`,
      details: { until: period.to, organization: organizationLabel(staff.organization) },
    });
    ctx.attachment(`expiring-points-town-${staff.municipalityCode}-${period.from}-${period.to}.csv`);
    ctx.type = 'text/csv; charset=utf-8';
    ctx.body = Readable.from(expiringCsv(db, staff, period, now));
  });

  return router;
}
