// A town's partner agreements in the console (docs/partner-api.md#agreements): every municipal
// role reads the town's, its administrator adds one (naming the partner by its id, as the
// partner told the town) or ends one. An ended agreement stops the partner's new conversions
// for the town at once; nothing else changes. The operators' command (cli.ts) does the same.
import Router from '@koa/router';
import { z } from 'zod';
import type { Db } from '../db.ts';
import { described } from '../http/described.ts';
import { readJson } from '../http/body.ts';
import { idempotencyKey, respond, runIdempotent } from '../http/idempotency.ts';
import { Problem } from '../http/problems.ts';
import { isDate, tokyoDate } from '../ledger/rules.ts';
import { MUNICIPAL_READERS, signedInStaff, staffWith } from '../staff/middleware.ts';
import type { SignedInStaff } from '../staff/repository.ts';
import { addAgreement, AgreementRefused, endAgreement } from './agreements.ts';
import { PARTNER_SLUG, partnerRepository } from './repository.ts';

const date = z.string().refine(isDate, 'a date, YYYY-MM-DD');
const addBody = z.object({ partner: z.string().regex(PARTNER_SLUG), startsOn: date.optional(), endsOn: date.nullable().optional() }).strict();
const ID = /^[1-9][0-9]{0,15}$/;

/** The refusals of agreements.ts as the API's problems. */
function asProblem(error: unknown): never {
  if (!(error instanceof AgreementRefused)) throw error;
  throw new Problem(error.code === 'agreement_exists' ? 'partner_agreement_exists' : error.code === 'agreement_not_found' ? 'partner_agreement_not_found' : error.code);
}

const actorOf = (staff: SignedInStaff) => ({ kind: 'staff' as const, id: String(staff.id) });

export function partnerAgreementRoutes({ db, clock }: { db: Db; clock: () => Date }): Router {
  const router = new Router({ prefix: '/api/v1/staff' });

  router.get('/partner-agreements', described({ summary: "The town's partner agreements, in force and ended", caller: 'staff', responses: { 200: 'Each agreement: partner, status, from and until, when made and ended.' } }), ...staffWith(db, ...MUNICIPAL_READERS), async (ctx) => {
    ctx.body = { agreements: await partnerRepository.agreements(db, { municipality: signedInStaff(ctx).municipalityCode }) };
  });

  router.post('/partner-agreements', described({ summary: 'Add an agreement with a partner', caller: 'staff', body: addBody, example: { partner: 'demo-card', startsOn: '2026-04-01' }, idempotent: true, responses: { 201: 'The agreement.' }, problems: ['partner_not_found', 'partner_agreement_exists'] }), ...staffWith(db, 'administrator'), async (ctx) => {
    const staff = signedInStaff(ctx);
    const key = idempotencyKey(ctx);
    const body = await readJson(ctx, addBody);
    const now = clock();
    const startsOn = body.startsOn ?? tokyoDate(now);
    if (body.endsOn && body.endsOn < startsOn) throw new Problem('request_invalid', 'endsOn is before startsOn');
    respond(ctx, await runIdempotent(db, { scope: `staff:${staff.id}`, key, request: { op: 'add-partner-agreement', ...body, startsOn } }, async (trx) => ({
      status: 201,
      body: await addAgreement(trx, { partner: body.partner, municipality: staff.municipalityCode, startsOn, endsOn: body.endsOn ?? null, now, actor: actorOf(staff) }).catch(asProblem),
    })));
  });

  router.post('/partner-agreements/:id/end', described({ summary: "End an agreement: the partner's new conversions for the town are refused at once", caller: 'staff', idempotent: true, params: z.object({ id: z.string().regex(ID) }), responses: { 200: 'The agreement, ended.' }, problems: ['partner_agreement_not_found'] }), ...staffWith(db, 'administrator'), async (ctx) => {
    const staff = signedInStaff(ctx);
    const key = idempotencyKey(ctx);
    if (!ID.test(ctx.params.id!)) throw new Problem('partner_agreement_not_found');
    const id = Number(ctx.params.id);
    respond(ctx, await runIdempotent(db, { scope: `staff:${staff.id}`, key, request: { op: 'end-partner-agreement', id } }, async (trx) => {
      // Another town's agreement is answered as one that does not exist.
      const [agreement] = await partnerRepository.agreements(trx, { id, municipality: staff.municipalityCode });
      if (!agreement || agreement.status !== 'active') throw new Problem('partner_agreement_not_found');
      return { status: 200, body: await endAgreement(trx, { partner: agreement.partner, municipality: staff.municipalityCode, now: clock(), actor: actorOf(staff) }).catch(asProblem) };
    }));
  });

  return router;
}
