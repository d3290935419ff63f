// The counter device's side of a family consent (docs/family.md): before the card signs, the
// device opens a request that names what it will sign — an offer under a fresh code, or the
// acceptance of a code — and shows it to the resident. The card's side is POST
// /api/v1/auth/challenges (familyRequestId) and card-sessions, with the purposes in purposes.ts.
// No staff route exists here: staff neither consent for anyone nor see who consented with whom.
import Router from '@koa/router';
import { z } from 'zod';
import type { Db } from '../db.ts';
import { readJson } from '../http/body.ts';
import { idempotencyKey, respond, runIdempotent } from '../http/idempotency.ts';
import { enrolledDevice, requireDevice } from '../devices/middleware.ts';
import { FAMILY_CODE, FAMILY_LABEL, FAMILY_LABEL_MAX, normalizeFamilyCode } from '@mykey/contracts/family.ts';
import { openRequest } from './service.ts';
import { described } from '../http/described.ts';

const label = z.string().trim().min(1).max(FAMILY_LABEL_MAX).regex(FAMILY_LABEL, { error: 'must be one line of text' });
// The code as the family member read it out: spaces and lower case forgiven.
const code = z.string().max(20).transform(normalizeFamilyCode).pipe(z.string().regex(FAMILY_CODE, { error: 'must be the 8-character code shown to the family member' }));
const requestBody = z.discriminatedUnion('action', [
  z.object({ action: z.literal('offer'), label }).strict(),
  z.object({ action: z.literal('accept'), code, label }).strict(),
]);

export function familyRoutes({ db, clock }: { db: Db; clock: () => Date }): Router {
  const router = new Router({ prefix: '/api/v1/family' });

  router.post('/requests', described({
    summary: 'Open a family consent for the card to sign: an offer under a fresh code, or the acceptance of a code', caller: 'device', body: requestBody, idempotent: true,
    example: { action: 'accept', code: 'k7mq 2xwp', label: '母' },
    responses: { 201: 'The request, with what the card will sign.' }, problems: ['family_code_unknown', 'family_offer_closed', 'family_offer_expired', 'purpose_not_for_device'],
  }), requireDevice(db), async (ctx) => {
    const key = idempotencyKey(ctx);
    const body = await readJson(ctx, requestBody);
    const device = enrolledDevice(ctx);
    respond(ctx, await runIdempotent(db, { scope: `device:${device.id}`, key, request: { op: 'family-request', ...body } }, async (trx) =>
      ({ status: 201, body: await openRequest(trx, device, body, clock()) })));
  });

  return router;
}
