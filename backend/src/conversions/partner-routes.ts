// The partner API (docs/partner-api.md): conversions one at a time and as batch files. Every
// route is signed (requirePartner; a batch upload requireSignedUpload, over its declared
// length and hash) and sees only the signing partner's own conversions.
// No Idempotency-Key here: the partner's own partnerTxId and batch id are the keys.
import { Readable } from 'node:stream';
import Router from '@koa/router';
import type { Context, Next } from 'koa';
import type { Db } from '../db.ts';
import { Problem } from '../http/problems.ts';
import type { Logger } from '../log.ts';
import { bufferedBody, requirePartner, requireSignedUpload, signedBy, signedUpload, type PartnerAuthDeps } from '../partners/middleware.ts';
import type { Queue } from '../queue.ts';
import { BATCH_ID, auditResultsDownload, batchResults, batchSummary, findBatch, spoolBatch, takeBatch } from './batches.ts';
import type { UploadSlots } from './upload-slots.ts';
import { z } from 'zod';
import { CONTENT_SHA256_HEADER } from '@mykey/contracts/partner-signature.ts';
import { acceptConversions, checkConversion, conversionAnswer, conversionSchema, enqueueAccepted, findConversion } from './intake.ts';
import type { ConversionJob } from './queue.ts';
import { described } from '../http/described.ts';

/** A single conversion's body, and what a GET may carry. */
const CONVERSION_BODY_LIMIT = 16 * 1024;

export interface PartnerRoutesDeps {
  db: Db;
  mykeySecret: Buffer;
  conversions: Queue<ConversionJob>;
  clock: () => Date;
  /** Batch uploads: the partner's slots (Redis) and the spool folder with its cap. */
  uploads: { slots: UploadSlots; spoolDir: string; spoolMaxBytes: number };
}

/** When a partner with every upload slot taken should try again. */
const BUSY_RETRY_S = 30;

/**
 * A refused upload closes its connection: the rest of a large body is then never read, not
 * even to be thrown away.
 */
async function closeOnRefusal(ctx: Context, next: Next) {
  try {
    await next();
  } catch (error) {
    ctx.set('Connection', 'close');
    throw error;
  }
}

/** Refuses another media type before the body is read (415). */
function requireMediaType(type: string) {
  return async (ctx: Context, next: Next) => {
    if (!ctx.is(type)) throw new Problem('unsupported_media_type', `Send the body as ${type}.`);
    await next();
  };
}

export function partnerRoutes({ db, mykeySecret, conversions, clock, uploads }: PartnerRoutesDeps): Router {
  const router = new Router({ prefix: '/api/v1/partner' });
  const auth: PartnerAuthDeps = { db, mykeySecret, clock };
  const small = requirePartner(auth, bufferedBody(CONVERSION_BODY_LIMIT));
  const log = (ctx: Context): Logger => ctx.state.log;

  router.post('/conversions', described({
    summary: 'Convert a partner\'s points into municipal points for a resident', caller: 'partner',
    body: conversionSchema, example: { partnerTxId: 'tx-20260510-0001', mykeyId: 'C5T9-3LYW', municipality: '131016', partnerPoints: 1200 },
    description: 'No Idempotency-Key: the partner\'s own partnerTxId is the key; the same one again answers the first conversion.',
    responses: { 202: 'Accepted; processed in the background. GET /conversions/{partnerTxId} tells how it went.' },
    problems: ['unsupported_media_type', 'body_too_large', 'request_invalid', 'conversion_conflict', 'conversion_below_minimum', 'mykey_not_found', 'mykey_suspended', 'partner_agreement_missing', 'points_out_of_range', 'municipality_not_found'],
  }), requireMediaType('application/json'), small, async (ctx) => {
    const { partner, partnerBody } = signedBy<{ sha256: string; bytes: Buffer }>(ctx);
    const [outcome] = await acceptConversions(db, partner, [checkConversion(partnerBody.bytes.toString('utf8'))], { now: clock() });
    if (!outcome!.ok) throw outcome!.problem;
    await enqueueAccepted(conversions, [outcome!], log(ctx));
    ctx.status = 202;
    ctx.body = conversionAnswer(outcome!.conversion);
  });

  router.get('/conversions/:partnerTxId', described({ summary: 'How a conversion went', caller: 'partner', responses: { 200: 'The conversion and its state.' }, problems: ['conversion_not_found'] }), small, async (ctx) => {
    const conversion = await findConversion(db, signedBy(ctx).partner.id, ctx.params.partnerTxId!);
    if (!conversion) throw new Problem('conversion_not_found');
    ctx.body = conversionAnswer(conversion);
  });

  const batchIdValid = async (ctx: Context, next: Next) => {
    if (!BATCH_ID.test(ctx.params.batchId ?? '')) throw new Problem('request_invalid', 'A batch id is 1-64 characters of A-Z a-z 0-9 _ . : -');
    await next();
  };

  // Signed over the declared length and hash: checked before the body is read, then the body
  // streamed into the spool folder and checked against them (docs/partner-api.md#batches).
  router.put('/conversion-batches/:batchId', described({
    summary: 'Upload a batch of conversions as NDJSON, one per line', caller: 'partner',
    upload: { mediaType: 'application/x-ndjson', description: 'One conversion per line. Signed over its declared Content-Length and X-MyKey-Content-SHA256, checked before a byte is read (docs/partner-api.md#batches).' },
    params: z.object({ batchId: z.string().regex(BATCH_ID) }),
    headers: z.object({ [CONTENT_SHA256_HEADER]: z.string().regex(/^[0-9a-f]{64}$/).meta({ description: 'The batch\'s hex SHA-256, signed with its Content-Length.' }) }),
    responses: { 200: 'The batch\'s summary; the same batch again answers the same.' },
    problems: ['request_invalid', 'unsupported_media_type', 'batch_headers_required', 'batch_upload_unavailable', 'batch_uploads_busy', 'batch_body_mismatch', 'batch_conflict', 'batch_too_many_lines', 'body_too_large'],
  }), closeOnRefusal, batchIdValid, requireMediaType('application/x-ndjson'), requireSignedUpload(auth), async (ctx) => {
    const { partner, declaredBody } = signedUpload(ctx);
    const slot = await uploads.slots.acquire(partner.id).catch((error: unknown) => {
      // Without the count no upload is taken: the cap holds even while Redis is away.
      log(ctx).warn({ err: error }, 'batch upload slots cannot be counted');
      ctx.set('Retry-After', String(BUSY_RETRY_S));
      throw new Problem('batch_upload_unavailable', 'Uploads in progress cannot be counted now.');
    });
    if (!slot) {
      ctx.set('Retry-After', String(BUSY_RETRY_S));
      throw new Problem('batch_uploads_busy');
    }
    try {
      const body = await spoolBatch(ctx, declaredBody, { dir: uploads.spoolDir, maxBytes: uploads.spoolMaxBytes });
      try {
        ctx.body = await takeBatch({ db, conversions, log: log(ctx), clock }, partner, ctx.params.batchId!, body);
      } finally {
        await body.dispose();
      }
    } finally {
      await slot.release();
    }
  });

  router.get('/conversion-batches/:batchId', described({ summary: 'A batch\'s summary and state', caller: 'partner', responses: { 200: 'The batch\'s summary.' }, problems: ['batch_not_found'] }), small, async (ctx) => {
    const batch = await findBatch(db, signedBy(ctx).partner.id, ctx.params.batchId!);
    if (!batch) throw new Problem('batch_not_found');
    ctx.body = batchSummary(batch);
  });

  router.get('/conversion-batches/:batchId/results', described({ summary: 'A finished batch\'s results, one line per conversion', caller: 'partner', responses: { 200: { description: 'The results.', mediaType: 'application/x-ndjson' } }, problems: ['batch_not_found', 'batch_processing'] }), small, async (ctx) => {
    const batch = await findBatch(db, signedBy(ctx).partner.id, ctx.params.batchId!);
    if (!batch) throw new Problem('batch_not_found');
    if (batch.state !== 'done') throw new Problem('batch_processing');
    await auditResultsDownload(db, signedBy(ctx).partner.id, batch);
    ctx.type = 'application/x-ndjson; charset=utf-8';
    ctx.body = Readable.from(batchResults(db, batch));
  });

  return router;
}
