// Every partner endpoint starts here: the request must be signed (signature.ts) by an active
// partner, over the exact bytes of its body, within 300 s of our clock. The body is read here,
// by the route's own reader (kept in memory for a single conversion, spooled to a file for a
// batch), because it must be hashed before anything in it is believed.
import type { Context, Middleware, Next } from 'koa';
import type { Db } from '../db.ts';
import { readBody } from '../http/body.ts';
import { Problem } from '../http/problems.ts';
import { partnerCredentials, type PartnerCredentials } from './repository.ts';
import {
  PARTNER_HEADER, SIGNATURE_HEADER, TIMESTAMP_HEADER,
  bodySha256, parseTimestamp, partnerKey, signatureMatches, timestampFresh,
} from './signature.ts';

/** A body as read by a route's reader: its hash, whatever else the route needs, and how to let go of it. */
export interface ReceivedBody { sha256: string; dispose?: () => Promise<void> }

export interface PartnerAuthDeps { db: Db; mykeySecret: Buffer; clock: () => Date }

/** What requirePartner adds to ctx.state. */
export interface PartnerState<B extends ReceivedBody> { partner: PartnerCredentials; partnerBody: B }

/** The body in memory, at most `limit` bytes (body_too_large beyond). */
export function bufferedBody(limit: number) {
  return async (ctx: Context) => {
    const bytes = await readBody(ctx, limit);
    return { sha256: bodySha256(bytes), bytes };
  };
}

/**
 * Sets ctx.state.partner and ctx.state.partnerBody, or refuses: partner_signature_required
 * (a header missing), partner_timestamp_out_of_range, partner_signature_invalid (an unknown
 * partner, one without a secret, or a wrong signature: one answer, so the ids of partners are
 * not given away), partner_suspended (only to a correctly signed request).
 */
export function requirePartner<B extends ReceivedBody>({ db, mykeySecret, clock }: PartnerAuthDeps, receive: (ctx: Context) => Promise<B>): Middleware {
  return async function withPartner(ctx: Context, next: Next): Promise<void> {
    const slug = ctx.get(PARTNER_HEADER);
    const given = ctx.get(SIGNATURE_HEADER);
    const timestampHeader = ctx.get(TIMESTAMP_HEADER);
    if (!slug || !given || !timestampHeader) throw new Problem('partner_signature_required');
    const timestamp = parseTimestamp(timestampHeader);
    const now = clock();
    if (timestamp === undefined || !timestampFresh(timestamp, now)) {
      throw new Problem('partner_timestamp_out_of_range', undefined, { serverTime: Math.floor(now.getTime() / 1000) });
    }
    // Looked up before the body is read, so a stranger cannot make us spool a large body.
    const partner = await partnerCredentials(db, mykeySecret, slug);
    if (!partner) throw new Problem('partner_signature_invalid');
    const body = await receive(ctx);
    try {
      // The path as sent, query included: what the partner signed, before any decoding.
      const parts = { timestamp, method: ctx.method, path: ctx.originalUrl, bodySha256: body.sha256 };
      if (!signatureMatches(partnerKey(partner.apiSecret), parts, given)) throw new Problem('partner_signature_invalid');
      if (partner.status !== 'active') throw new Problem('partner_suspended');
      Object.assign(ctx.state, { partner, partnerBody: body } satisfies PartnerState<B>);
      await next();
    } finally {
      await body.dispose?.();
    }
  };
}

/** The partner and body requirePartner verified, typed. */
export function signedBy<B extends ReceivedBody>(ctx: Context): PartnerState<B> {
  const { partner, partnerBody } = ctx.state as Partial<PartnerState<B>>;
  if (!partner || !partnerBody) throw new Error('signedBy() on a route without requirePartner');
  return { partner, partnerBody };
}
