// The service API: a town service's own system (a library's) asks what happened at its counters,
// each request signed with the service's API secret exactly as a partner signs
// (@mykey/contracts/partner-signature.ts; X-MyKey-Partner: service-<id>). docs/services-integration.md.
import Router from '@koa/router';
import type { Db } from '../db.ts';
import { bufferedBody, requireSigned, signedRequest } from '../partners/middleware.ts';
import { lastTap, serviceSigner } from './integration.ts';
import type { Service } from './repository.ts';
import { described } from '../http/described.ts';

export interface ServiceApiRoutesDeps { db: Db; mykeySecret: Buffer; clock: () => Date }

/** A device id in the path; anything else is a device with no tap. */
const deviceIdOf = (value: string | undefined): number | undefined => (/^[1-9][0-9]{0,15}$/.test(value ?? '') && Number.isSafeInteger(Number(value)) ? Number(value) : undefined);

export function serviceApiRoutes({ db, mykeySecret, clock }: ServiceApiRoutesDeps): Router {
  const router = new Router({ prefix: '/api/v1/service-api' });
  // A GET is signed over an empty body; one with a body is refused before anything is looked up.
  const signedService = requireSigned(serviceSigner(db, mykeySecret), clock, bufferedBody(0));

  router.get('/devices/:deviceId/last-tap', described({ summary: 'The last tap at one of the service\'s devices, for the service\'s own counter system', caller: 'service', responses: { 200: 'The tap: member number and when.' }, problems: ['no_recent_tap'] }), signedService, async (ctx) => {
    const { signer } = signedRequest<Service, { sha256: string }>(ctx);
    ctx.body = await lastTap(db, mykeySecret, signer, deviceIdOf(ctx.params.deviceId), clock());
  });

  return router;
}
