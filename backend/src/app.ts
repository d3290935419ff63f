import Koa from 'koa';
import type { Redis } from 'ioredis';
import { batchUploadSettings, type BatchUploadSettings, type Config } from './config.ts';
import type { Db } from './db.ts';
import type { Logger } from './log.ts';
import { problemMiddleware } from './http/errors.ts';
import { requestContext } from './http/request-context.ts';
import { serveConsole } from './http/console.ts';
import { securityHeaders } from './http/security-headers.ts';
import { Problem } from './http/problems.ts';
import { healthRoutes } from './health/routes.ts';
import { staffRoutes } from './staff/routes.ts';
import { accountRoutes } from './staff/account-routes.ts';
import { partnerAgreementRoutes } from './partners/agreement-routes.ts';
import { deviceRoutes } from './devices/routes.ts';
import { cardTapRoutes } from './card-taps/routes.ts';
import { PurposeRegistry, type Purpose } from './card-taps/purposes.ts';
import { cardTapsService } from './card-taps/service.ts';
import { mykeyRoutes } from './mykey/routes.ts';
import { keyOf, noteRevoked } from './mykey/service.ts';
import { cardProofPurpose, loginPurpose } from './mykey/purposes.ts';
import { grantRoutes } from './grants/routes.ts';
import { settlementRoutes } from './settlement/routes.ts';
import { paymentRoutes } from './payments/routes.ts';
import { paymentPurpose } from './payments/purpose.ts';
import { serviceLinkPurpose, serviceLookupPurpose, serviceUnlinkPurpose } from './town-services/purposes.ts';
import { townServiceRoutes } from './town-services/routes.ts';
import { serviceUsesRoutes } from './town-services/uses-routes.ts';
import { serviceApiRoutes } from './town-services/service-api-routes.ts';
import { shelterCheckInPurpose, shelterCheckOutPurpose } from './shelters/purposes.ts';
import { shelterRoutes } from './shelters/routes.ts';
import { shopRoutes } from './shops/routes.ts';
import { shopNamesOfTown } from './shops/service.ts';
import { eventAttendancePurpose } from './events/purposes.ts';
import { eventRoutes } from './events/routes.ts';
import { campaignRoutes } from './campaigns/routes.ts';
import { campaignFiguresRoutes } from './campaign-figures/routes.ts';
import { familyAcceptPurpose, familyOfferPurpose, familyWhereaboutsPurpose, familyWithdrawPurpose, withFamily } from './family/purposes.ts';
import { familyRoutes } from './family/routes.ts';
import { residentPagePurpose } from './resident/purposes.ts';
import { residentRoutes } from './resident/routes.ts';
import { httpMetrics } from './metrics/http.ts';
import { plainHttpWebhooksAllowed } from './partners/webhook-url.ts';
import type { CertificateVerifier } from './jpki/verifier.ts';
import type { Queue } from './queue.ts';
import type { ConversionJob } from './conversions/queue.ts';
import { partnerRoutes } from './conversions/partner-routes.ts';
import { uploadSlots } from './conversions/upload-slots.ts';
import { openApiRoutes } from './openapi/routes.ts';

export interface AppDeps {
  config: Pick<Config, 'NODE_ENV' | 'CONSOLE_DIR' | 'QUEUE_PREFIX' | 'READER_AGENT_ORIGINS' | 'TRUST_PROXY' | 'STAFF_SESSION_IDLE_MS' | 'RESIDENT_SESSION_IDLE_MS' | 'RESIDENT_SESSION_LIMIT_MS' | 'STAFF_PASSWORD_SCRYPT_N'>;
  db: Db;
  redis: Redis;
  log: Logger;
  /** How cards are checked and turned into MyKey IDs: the verifier and the MyKey secret. */
  identity: { verifier: CertificateVerifier; secret: Buffer };
  /** The conversions Bull queue (conversions/queue.ts) that accepted partner conversions go to. */
  conversions: Queue<ConversionJob>;
  /** The time things expire by; tests pass their own instead of sleeping. */
  clock?: () => Date;
  /** Partner batch uploads' spool folder and caps (config.ts's defaults unless given). */
  batchUploads?: BatchUploadSettings;
  /** Card-tap purposes beyond the platform's own (a test registers its own this way). */
  purposes?: Purpose[];
}

/** A duration of the config in whole seconds, at least one. */
const seconds = (ms: number) => Math.max(1, Math.round(ms / 1000));

/** Composes the HTTP application from its parts; no I/O happens until a request arrives. */
export function createApp({ config, db, redis, log, identity, conversions, clock = () => new Date(), batchUploads = batchUploadSettings(), purposes = [] }: AppDeps): Koa {
  // What a card is tapped for: one line per purpose, its code in its own feature.
  const tapPurposes = new PurposeRegistry([
    loginPurpose(identity.secret),
    cardProofPurpose('relink', identity.secret),
    cardProofPurpose('counter_relink', identity.secret),
    paymentPurpose(identity.secret),
    cardProofPurpose('home_move', identity.secret),
    serviceLinkPurpose(identity.secret),
    serviceUnlinkPurpose,
    serviceLookupPurpose(identity.secret),
    withFamily(shelterCheckInPurpose),
    shelterCheckOutPurpose,
    eventAttendancePurpose,
    familyOfferPurpose,
    familyAcceptPurpose,
    familyWithdrawPurpose,
    familyWhereaboutsPurpose,
    residentPagePurpose,
    ...purposes,
  ]);
  const taps = cardTapsService({
    db, verifier: identity.verifier, purposes: tapPurposes,
    cardKey: (card) => keyOf(identity.secret, card), noteRevoked: (certKey, now) => noteRevoked(db, certKey, now), log,
  });
  // Behind the one proxy TRUST_PROXY names, only the address it adds (the last of
  // X-Forwarded-For) is believed; what a client writes there itself is not.
  const app = new Koa({ proxy: config.TRUST_PROXY, maxIpsCount: 1 });
  // Koa would print errors to stderr itself; ours are already logged as JSON with a request id.
  app.silent = true;
  app.use(requestContext(log));
  // Outside the problem middleware: a refused request is counted with the status it was answered.
  app.use(httpMetrics());
  app.use(securityHeaders(config.READER_AGENT_ORIGINS));
  app.use(problemMiddleware);
  for (const router of [healthRoutes(db, redis), openApiRoutes(), grantRoutes({ db, clock }), settlementRoutes({ db, clock }), staffRoutes({ db, redis, keyPrefix: config.QUEUE_PREFIX, mykeySecret: identity.secret, config }), deviceRoutes({ db, redis, keyPrefix: config.QUEUE_PREFIX, clock }),
    cardTapRoutes({ db, taps, purposes: tapPurposes, clock }), mykeyRoutes({ db, clock, mykeySecret: identity.secret }), paymentRoutes({ db, clock, mykeySecret: identity.secret }), townServiceRoutes({ db, mykeySecret: identity.secret, clock, allowPlainHttpWebhooks: plainHttpWebhooksAllowed(config.NODE_ENV) }), serviceUsesRoutes({ db }),
    serviceApiRoutes({ db, mykeySecret: identity.secret, clock }), shelterRoutes({ db, clock }), shopRoutes({ db, redis, keyPrefix: config.QUEUE_PREFIX, clock }), eventRoutes({ db, clock }), campaignFiguresRoutes({ db, clock }), familyRoutes({ db, clock }),
    residentRoutes({ db, clock, limits: { idleSeconds: seconds(config.RESIDENT_SESSION_IDLE_MS), limitSeconds: seconds(config.RESIDENT_SESSION_LIMIT_MS) } }),
    campaignRoutes({ db, clock }),
    accountRoutes({ db, redis, keyPrefix: config.QUEUE_PREFIX, scryptCost: config.STAFF_PASSWORD_SCRYPT_N, clock, shopOfTown: shopNamesOfTown }), partnerAgreementRoutes({ db, clock }),
    partnerRoutes({ db, mykeySecret: identity.secret, conversions, clock, uploads: {
      slots: uploadSlots(redis, config.QUEUE_PREFIX, batchUploads.perPartner), spoolDir: batchUploads.spoolDir, spoolMaxBytes: batchUploads.spoolMaxBytes } })]) {
    app.use(router.routes());
    app.use(router.allowedMethods({ throw: true, methodNotAllowed: () => new Problem('method_not_allowed'), notImplemented: () => new Problem('method_not_allowed') }));
  }
  // The built console, when CONSOLE_DIR holds one (`npm run dev` has Vite serve it instead).
  app.use(serveConsole(config.CONSOLE_DIR));
  return app;
}
