// Every partner endpoint starts here: the request must be signed (@mykey/contracts/partner-signature.ts) by an active
// partner within 300 s of our clock. The same check serves any caller with an API secret of
// the partner scheme (requireSigned with its own lookup): a town service's system is one. A request of the usual kind is signed over the exact
// bytes of its body, so its body is read (in memory, at most its route's limit) and hashed
// before the signature is checked. A batch upload is signed over its declared length and hash
// instead (requireSignedUpload): its signature is checked on the headers alone, before a byte
// of the body is read, and the route checks the body it streams against what was signed.
import type { Context, Middleware, Next } from 'koa';
import type { Db } from '../db.ts';
import { readBody } from '../http/body.ts';
import { Problem } from '../http/problems.ts';
import { partnerRepository, type PartnerCredentials } from './repository.ts';
import {
  CONTENT_SHA256_HEADER, PARTNER_HEADER, SIGNATURE_HEADER, TIMESTAMP_HEADER,
  bodySha256, parseTimestamp, partnerKey, signatureMatches, timestampFresh, type SignedParts,
} from '@mykey/contracts/partner-signature.ts';

/** A body as read by a route's reader: its hash, whatever else the route needs, and how to let go of it. */
export interface ReceivedBody { sha256: string; dispose?: () => Promise<void> }

export interface PartnerAuthDeps { db: Db; mykeySecret: Buffer; clock: () => Date }

/** What requireSigned adds to ctx.state: who signed, and the body as read. */
interface SignedState<S, B extends ReceivedBody> { signer: S; signedBody: B }

/** What a batch upload declared and signed: its body's hex SHA-256 and length. */
export interface DeclaredBody { sha256: string; length: number }

/** What requireSignedUpload adds to ctx.state. */
export interface UploadState { partner: PartnerCredentials; declaredBody: DeclaredBody }

/** The body in memory, at most `limit` bytes (body_too_large beyond). */
export function bufferedBody(limit: number) {
  return async (ctx: Context) => {
    const bytes = await readBody(ctx, limit);
    return { sha256: bodySha256(bytes), bytes };
  };
}

/**
 * Who a key id in X-MyKey-Partner names: the signer, its API secret and whether it may call
 * now; undefined when there is no such signer or it has no secret. Partners are one kind of
 * signer, a town service's own system another (town-services/service-api-routes.ts).
 */
export type SignerLookup<S> = (keyId: string) => Promise<{ signer: S; apiSecret: string; active: boolean } | undefined>;

/**
 * The signing headers' signer and timestamp, or a refusal: partner_signature_required (a
 * header missing), partner_timestamp_out_of_range, partner_signature_invalid (an unknown
 * signer or one without a secret, answered like a wrong signature so that the ids of
 * partners are not given away). Looked up before any body is read.
 */
async function claimedSigner<S>(lookup: SignerLookup<S>, clock: () => Date, ctx: Context) {
  const keyId = ctx.get(PARTNER_HEADER);
  const given = ctx.get(SIGNATURE_HEADER);
  const timestampHeader = ctx.get(TIMESTAMP_HEADER);
  if (!keyId || !given || !timestampHeader) throw new Problem('partner_signature_required');
  const timestamp = parseTimestamp(timestampHeader);
  const now = clock();
  if (timestamp === undefined || !timestampFresh(timestamp, now)) {
    throw new Problem('partner_timestamp_out_of_range', undefined, { serverTime: Math.floor(now.getTime() / 1000) });
  }
  const found = await lookup(keyId);
  if (!found) throw new Problem('partner_signature_invalid');
  return { found, given, timestamp };
}

/** Refuses a wrong signature (partner_signature_invalid), then a suspended signer (partner_suspended, only to a correctly signed request). */
function checkSignature(found: { apiSecret: string; active: boolean }, parts: SignedParts, given: string): void {
  if (!signatureMatches(partnerKey(found.apiSecret), parts, given)) throw new Problem('partner_signature_invalid');
  if (!found.active) throw new Problem('partner_suspended');
}

const partnerLookup = ({ db, mykeySecret }: PartnerAuthDeps): SignerLookup<PartnerCredentials> => async (slug) => {
  const partner = await partnerRepository.credentials(db, mykeySecret, slug);
  return partner && { signer: partner, apiSecret: partner.apiSecret, active: partner.status === 'active' };
};

/** Sets ctx.state's signer and signed body, or refuses (claimedSigner, checkSignature). */
export function requireSigned<S, B extends ReceivedBody>(lookup: SignerLookup<S>, clock: () => Date, receive: (ctx: Context) => Promise<B>): Middleware {
  return async function withSigner(ctx: Context, next: Next): Promise<void> {
    const { found, given, timestamp } = await claimedSigner(lookup, clock, ctx);
    const body = await receive(ctx);
    try {
      // The path as sent, query included: what the signer signed, before any decoding.
      checkSignature(found, { timestamp, method: ctx.method, path: ctx.originalUrl, bodySha256: body.sha256 }, given);
      Object.assign(ctx.state, { signer: found.signer, signedBody: body } satisfies SignedState<S, B>);
      await next();
    } finally {
      await body.dispose?.();
    }
  };
}

/** A partner's request: signedBy() then names the partner and the body. */
export function requirePartner<B extends ReceivedBody>(deps: PartnerAuthDeps, receive: (ctx: Context) => Promise<B>): Middleware {
  return requireSigned(partnerLookup(deps), deps.clock, receive);
}

/** Who signed and the body requireSigned verified, typed. */
export function signedRequest<S, B extends ReceivedBody>(ctx: Context): SignedState<S, B> {
  const { signer, signedBody } = ctx.state as Partial<SignedState<S, B>>;
  if (!signer || !signedBody) throw new Error('signedRequest() on a route without requireSigned');
  return { signer, signedBody };
}

const SHA256_HEX = /^[0-9a-f]{64}$/;

/**
 * For a batch upload: sets ctx.state.partner and ctx.state.declaredBody from the headers
 * alone, reading nothing of the body. batch_headers_required (411) without a Content-Length
 * (a chunked body) or a well-formed X-MyKey-Content-SHA256, then the refusals of requirePartner.
 */
export function requireSignedUpload(deps: PartnerAuthDeps): Middleware {
  return async function withSignedUpload(ctx: Context, next: Next): Promise<void> {
    const lengthHeader = ctx.get('Content-Length');
    const sha256 = ctx.get(CONTENT_SHA256_HEADER);
    if (!/^[0-9]{1,15}$/.test(lengthHeader) || !SHA256_HEX.test(sha256)) throw new Problem('batch_headers_required');
    const { found, given, timestamp } = await claimedSigner(partnerLookup(deps), deps.clock, ctx);
    const declaredBody = { sha256, length: Number(lengthHeader) };
    checkSignature(found, { timestamp, method: ctx.method, path: ctx.originalUrl, bodySha256: sha256, contentLength: declaredBody.length }, given);
    Object.assign(ctx.state, { partner: found.signer, declaredBody } satisfies UploadState);
    await next();
  };
}

/** The partner and body requirePartner verified, typed. */
export function signedBy<B extends ReceivedBody>(ctx: Context): { partner: PartnerCredentials; partnerBody: B } {
  const { signer, signedBody } = signedRequest<PartnerCredentials, B>(ctx);
  return { partner: signer, partnerBody: signedBody };
}

/** The partner and declared body requireSignedUpload verified, typed. */
export function signedUpload(ctx: Context): UploadState {
  const { partner, declaredBody } = ctx.state as Partial<UploadState>;
  if (!partner || !declaredBody) throw new Error('signedUpload() on a route without requireSignedUpload');
  return { partner, declaredBody };
}
