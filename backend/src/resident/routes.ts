// The resident's own page (docs/resident.md): the browser beside a town's device hands in the
// card's signed `resident_page` challenge and gets the session as an HttpOnly cookie; the page's
// reads then go with that cookie. No password, no account: the card and its PIN are the key.
import Router from '@koa/router';
import type { Context } from 'koa';
import { z } from 'zod';
import { retryTransient, type Db } from '../db.ts';
import { readJson } from '../http/body.ts';
import { described } from '../http/described.ts';
import { Problem } from '../http/problems.ts';
import { endSession, historyCsv, historyOf, openSession, pointsOf, sessionOf, sessionView, type OpenSession, type SessionLimits } from './service.ts';
import { recordViewsOf } from './record-views.ts';
import { residentLinkRoutes } from './links-routes.ts';

// Over HTTPS the __Host- prefix keeps the cookie to this host and path / (as the staff cookie, staff/middleware.ts).
const COOKIE = 'mykey_resident';
const cookieName = (ctx: Context) => (ctx.secure ? `__Host-${COOKIE}` : COOKIE);
const tokenOf = (ctx: Context) => ctx.cookies.get(cookieName(ctx)) || undefined;

const openBody = z.object({ proof: z.string().regex(/^[A-Za-z0-9_-]{43}$/, { error: 'must be the challengeId of the card session for resident_page' }) }).strict();
const endQuery = z.object({ reason: z.enum(['card_removed', 'closed']) });
const pageQuery = z.object({ page: z.coerce.number().int().min(1).max(100_000).default(1) });

/** The page of a list asked for, from 1. */
function pageOf(ctx: Context): number {
  const query = pageQuery.safeParse(ctx.query);
  if (!query.success) throw new Problem('request_invalid', 'page must be a whole number from 1');
  return query.data.page;
}

export function residentRoutes({ db, clock, limits }: { db: Db; clock: () => Date; limits: SessionLimits }): Router {
  const router = new Router({ prefix: '/api/v1/resident' });

  /** The caller's open session, its idle time started again: a read of the page is a use. */
  async function used(ctx: Context): Promise<OpenSession> {
    // What a resident sees is theirs alone; no shared cache may keep it.
    ctx.set('Cache-Control', 'no-store');
    return sessionOf(db, tokenOf(ctx), clock(), { use: true });
  }

  router.post('/sessions', described({
    summary: 'Open the resident\'s own page with the card\'s signed resident_page challenge', caller: 'anyone', body: openBody, example: { proof: 'd'.repeat(43) },
    description: 'Sets the session cookie. The proof is used once, within 60 seconds of the signature; like a staff sign-in the call takes no Idempotency-Key: a retry gets challenge_reused, and the card signs again (docs/resident.md).',
    responses: { 201: 'Open: the town, the idle time and how long is left.' },
    problems: ['card_proof_unknown', 'challenge_reused', 'challenge_expired', 'resident_card_unknown', 'mykey_suspended', 'mykey_blocked_here', 'certificate_revoked', 'certificate_replaced'],
  }), async (ctx) => {
    const { proof } = await readJson(ctx, openBody);
    const now = clock();
    const { token, view } = await retryTransient(() => db.transaction((trx) => openSession(trx, proof, limits, now)));
    ctx.cookies.set(cookieName(ctx), token, { httpOnly: true, sameSite: 'strict', secure: ctx.secure, path: '/', overwrite: true });
    ctx.set('Cache-Control', 'no-store');
    ctx.status = 201;
    ctx.body = view;
  });

  router.get('/session', described({
    summary: 'Whether the page is still open, and how long it has left; asking is not a use', caller: 'resident', responses: { 200: 'The town, the idle time and how long is left.' },
  }), async (ctx) => {
    ctx.set('Cache-Control', 'no-store');
    const now = clock();
    ctx.body = await sessionView(db, await sessionOf(db, tokenOf(ctx), now, { use: false }), now);
  });

  router.delete('/session', described({
    summary: 'Close the page: the card left the reader, or the resident closed it', caller: 'anyone', query: endQuery,
    description: 'Ends the session the cookie names, if any, and clears the cookie. Ending an ended session does nothing.', responses: { 204: 'Closed.' },
  }), async (ctx) => {
    const query = endQuery.safeParse(ctx.query);
    if (!query.success) throw new Problem('request_invalid', 'reason must be card_removed or closed');
    const { reason } = query.data;
    await endSession(db, tokenOf(ctx), reason, clock());
    ctx.cookies.set(cookieName(ctx), null, { secure: ctx.secure, path: '/', overwrite: true });
    ctx.status = 204;
  });

  router.get('/points', described({
    summary: 'The resident\'s points: balances per town, and lots by expiry, soonest first', caller: 'resident', responses: { 200: 'Balances and lots; those expiring within 30 days are called out.' },
  }), async (ctx) => {
    const session = await used(ctx);
    ctx.body = await pointsOf(db, session, clock());
  });

  router.get('/history', described({
    summary: 'A page of every movement of the resident\'s points, newest first, with its reason in words', caller: 'resident', query: pageQuery,
    responses: { 200: 'The page, its size and the total.' },
  }), async (ctx) => {
    const page = pageOf(ctx);
    const session = await used(ctx);
    ctx.body = await historyOf(db, session, page);
  });

  router.get('/history.csv', described({
    summary: 'Every movement of the resident\'s points, as a CSV file', caller: 'resident',
    responses: { 200: { description: 'A row a movement (BOM, CRLF), the reason in Japanese and English.', mediaType: 'text/csv' } },
  }), async (ctx) => {
    const session = await used(ctx);
    ctx.attachment('my-points-history.csv');
    ctx.type = 'text/csv; charset=utf-8';
    ctx.body = await historyCsv(db, session);
  });

  router.get('/record-views', described({
    summary: 'A page of what staff looked at and did on the resident\'s record, newest first: the town, the roles, when and what, never who', caller: 'resident', query: pageQuery,
    responses: { 200: 'The page, its size and the total.' },
  }), async (ctx) => {
    const page = pageOf(ctx);
    const session = await used(ctx);
    ctx.body = await recordViewsOf(db, session, page);
  });

  residentLinkRoutes(router, { db, clock, used });

  return router;
}
