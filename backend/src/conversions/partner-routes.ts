// The partner API (docs/partner-api.md): conversions one at a time and as batch files. Every
// route is signed (requirePartner) and sees only the signing partner's own conversions.
// No Idempotency-Key here: the partner's own partnerTxId and batch id are the keys.
import { Readable } from 'node:stream';
import Router from '@koa/router';
import type { Context, Next } from 'koa';
import type { Db } from '../db.ts';
import { Problem } from '../http/problems.ts';
import type { SpooledFile } from '../http/spool.ts';
import type { Logger } from '../log.ts';
import { bufferedBody, requirePartner, signedBy, type PartnerAuthDeps } from '../partners/middleware.ts';
import type { Queue } from '../queue.ts';
import { BATCH_ID, batchResults, batchSummary, findBatch, spoolBody, takeBatch } from './batches.ts';
import { acceptConversions, checkConversion, conversionAnswer, enqueueAccepted, findConversion } from './intake.ts';
import type { ConversionJob } from './queue.ts';

/** A single conversion's body, and what a GET may carry. */
export const CONVERSION_BODY_LIMIT = 16 * 1024;

export interface PartnerRoutesDeps { db: Db; mykeySecret: Buffer; conversions: Queue<ConversionJob>; clock: () => Date }

/** Refuses another media type before the body is read (415). */
function requireMediaType(type: string) {
  return async (ctx: Context, next: Next) => {
    if (!ctx.is(type)) throw new Problem('unsupported_media_type', `Send the body as ${type}.`);
    await next();
  };
}

export function partnerRoutes({ db, mykeySecret, conversions, clock }: PartnerRoutesDeps): Router {
  const router = new Router({ prefix: '/api/v1/partner' });
  const auth: PartnerAuthDeps = { db, mykeySecret, clock };
  const small = requirePartner(auth, bufferedBody(CONVERSION_BODY_LIMIT));
  const log = (ctx: Context): Logger => ctx.state.log;

  router.post('/conversions', requireMediaType('application/json'), small, async (ctx) => {
    const { partner, partnerBody } = signedBy<{ sha256: string; bytes: Buffer }>(ctx);
    const [outcome] = await acceptConversions(db, partner, [checkConversion(partnerBody.bytes.toString('utf8'))], { now: clock() });
    if (!outcome!.ok) throw outcome!.problem;
    await enqueueAccepted(conversions, db, [outcome!], log(ctx));
    ctx.status = 202;
    ctx.body = conversionAnswer(outcome!.conversion);
  });

  router.get('/conversions/:partnerTxId', small, async (ctx) => {
    const conversion = await findConversion(db, signedBy(ctx).partner.id, ctx.params.partnerTxId!);
    if (!conversion) throw new Problem('conversion_not_found');
    ctx.body = conversionAnswer(conversion);
  });

  const batchIdValid = async (ctx: Context, next: Next) => {
    if (!BATCH_ID.test(ctx.params.batchId ?? '')) throw new Problem('request_invalid', 'A batch id is 1-64 characters of A-Z a-z 0-9 _ . : -');
    await next();
  };

  router.put('/conversion-batches/:batchId', batchIdValid, requireMediaType('application/x-ndjson'), requirePartner(auth, spoolBody), async (ctx) => {
    const { partner, partnerBody } = signedBy<SpooledFile>(ctx);
    ctx.body = await takeBatch({ db, conversions, log: log(ctx), clock }, partner, ctx.params.batchId!, partnerBody);
  });

  router.get('/conversion-batches/:batchId', small, async (ctx) => {
    const batch = await findBatch(db, signedBy(ctx).partner.id, ctx.params.batchId!);
    if (!batch) throw new Problem('batch_not_found');
    ctx.body = batchSummary(batch);
  });

  router.get('/conversion-batches/:batchId/results', small, async (ctx) => {
    const batch = await findBatch(db, signedBy(ctx).partner.id, ctx.params.batchId!);
    if (!batch) throw new Problem('batch_not_found');
    if (batch.state !== 'done') throw new Problem('batch_processing');
    ctx.type = 'application/x-ndjson; charset=utf-8';
    ctx.body = Readable.from(batchResults(db, batch));
  });

  return router;
}
