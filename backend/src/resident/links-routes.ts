// What is linked to the card, on the resident's own page (docs/resident.md#whats-linked-to-the-card):
// read with the page's cookie; each change under the page's cookie and the browser's
// Idempotency-Key, scoped to the session's MyKey ID (a retry, even from a page opened again,
// replays). Unlinking and withdrawing use the open session; moving home asks the card and PIN again.
import type Router from '@koa/router';
import type { Context } from 'koa';
import type { Knex } from 'knex';
import { z } from 'zod';
import type { Db } from '../db.ts';
import { readJson } from '../http/body.ts';
import { described } from '../http/described.ts';
import { idempotencyKey, respond, runIdempotent } from '../http/idempotency.ts';
import { idOf } from '../http/problems.ts';
import type { OpenSession } from './service.ts';
import { linksOf, moveHomeHere, unlinkMembership, withdrawConsent } from './links.ts';

const homeMoveBody = z.object({ proof: z.string().regex(/^[A-Za-z0-9_-]{43}$/, { error: 'must be the challengeId of the card session for home_move' }) }).strict();

export interface LinkRoutesDeps {
  db: Db;
  clock: () => Date;
  /** The caller's open session, its idle time started again (routes.ts): every call here is a use. */
  used: (ctx: Context) => Promise<OpenSession>;
}

export function residentLinkRoutes(router: Router, { db, clock, used }: LinkRoutesDeps): void {
  /** A change of the resident's, once per Idempotency-Key of theirs, in one transaction. */
  async function change(ctx: Context, request: Record<string, unknown>, status: number, effect: (trx: Knex.Transaction, session: OpenSession) => Promise<unknown>): Promise<void> {
    const session = await used(ctx);
    const key = idempotencyKey(ctx);
    respond(ctx, await runIdempotent(db, { scope: `resident:${session.mykeyPk}`, key, request }, async (trx) => ({ status, body: await effect(trx, session) })));
  }

  router.get('/links', described({
    summary: 'What is linked to the resident\'s card: memberships, family consents and waiting offers, the home municipality', caller: 'resident',
    responses: { 200: 'The memberships, the family consents and offers, and the home town (and whether it can move to the kiosk\'s town).' },
  }), async (ctx) => {
    const session = await used(ctx);
    ctx.body = await linksOf(db, session, clock());
  });

  router.post('/memberships/:id/unlink', described({
    summary: 'Unlink one of the resident\'s memberships: the card no longer opens that service', caller: 'resident', idempotent: true,
    description: 'The member number stays the service\'s. On record as membership.unlinked by the resident, via the page, the kiosk\'s device as the actor.',
    responses: { 200: 'The service and the member number, unlinked.' }, problems: ['resident_session_closed', 'membership_not_found'],
  }), async (ctx) => {
    const id = idOf(ctx.params.id, 'membership_not_found');
    await change(ctx, { op: 'resident-unlink', id }, 200, (trx, session) => unlinkMembership(trx, session, id));
  });

  router.post('/family-consents/:id/withdraw', described({
    summary: 'Withdraw one family consent (or an offer still waiting): it ends for both residents', caller: 'resident', idempotent: true,
    description: 'On record as family.withdrawn via the page, with how many consents and offers ended, never with whom.',
    responses: { 200: 'How many consents ended (0 for an offer).' }, problems: ['resident_session_closed', 'family_consent_not_found'],
  }), async (ctx) => {
    const id = idOf(ctx.params.id, 'family_consent_not_found');
    await change(ctx, { op: 'resident-withdraw', id }, 200, (trx, session) => withdrawConsent(trx, session, id, clock()));
  });

  router.post('/home-moves', described({
    summary: 'Move the MyKey ID\'s home to the kiosk\'s town: the card signed home_move after its PIN at the kiosk the page was opened at', caller: 'resident',
    body: homeMoveBody, idempotent: true, example: { proof: 'c'.repeat(43) },
    description: 'The proof is the card session\'s challengeId, used once within 60 seconds of the signature; the card must be the page\'s own resident\'s.',
    responses: { 201: 'The new home.' },
    problems: ['resident_session_closed', 'card_proof_unknown', 'challenge_reused', 'challenge_expired', 'card_not_registered', 'resident_card_mismatch', 'mykey_home_unchanged', 'mykey_suspended', 'mykey_blocked_here'],
  }), async (ctx) => {
    const { proof } = await readJson(ctx, homeMoveBody);
    await change(ctx, { op: 'resident-home-move', proof }, 201, (trx, session) => moveHomeHere(trx, session, proof, clock()));
  });
}
