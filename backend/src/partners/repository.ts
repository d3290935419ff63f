// Partners as API clients: their sealed secret, webhook URL, status and rate. Every SQL
// statement on the partners table for the partner API lives here.
import { appendAudit } from '../audit/chain.ts';
import type { Db } from '../db.ts';
import { sealPartnerSecret, unsealPartnerSecret } from './credentials.ts';

export interface PartnerCredentials {
  id: number;
  slug: string;
  status: 'active' | 'suspended';
  /** The rate as an exact fraction: ratePoints municipal points per rateUnits partner units. */
  rateUnits: number;
  ratePoints: number;
  /** The HMAC secret in clear (64 hex characters as issued). */
  apiSecret: string;
  webhookUrl: string | null;
}

const SLUG = /^[A-Za-z0-9_-]{1,64}$/;

/**
 * A partner with API access, or undefined when there is no such partner or it has no secret.
 * Not cached: it is one lookup on a unique key and an AES-GCM open of 64 bytes, and reading
 * it every time means a new secret, webhook URL or suspension counts from the next request.
 */
export async function partnerCredentials(db: Db, mykeySecret: Buffer, partnerSlug: string): Promise<PartnerCredentials | undefined> {
  if (!SLUG.test(partnerSlug)) return undefined;
  const row = await db('partners').where({ slug: partnerSlug })
    .first('id', 'slug', 'status', 'rate_units', 'rate_points', 'api_secret_sealed', 'webhook_url');
  if (!row?.api_secret_sealed) return undefined;
  const id = Number(row.id);
  return {
    id, slug: row.slug, status: row.status, rateUnits: row.rate_units, ratePoints: row.rate_points,
    apiSecret: unsealPartnerSecret(mykeySecret, id, Buffer.from(row.api_secret_sealed)),
    webhookUrl: row.webhook_url,
  };
}

export class PartnerNotFound extends Error {}

/**
 * Stores a partner's API secret, sealed, and (unless `webhookUrl` is undefined) its webhook
 * URL; null removes the webhook. The old secret stops working at once. Audited in the same
 * transaction (ids only, never the secret). Answers the webhook URL now stored.
 */
export async function setPartnerCredentials(db: Db, mykeySecret: Buffer, partnerSlug: string, change: { apiSecret: string; webhookUrl?: string | null }): Promise<{ webhookUrl: string | null }> {
  if (!SLUG.test(partnerSlug)) throw new PartnerNotFound(`no partner ${JSON.stringify(partnerSlug)}`);
  return db.transaction(async (trx) => {
    const row = await trx('partners').where({ slug: partnerSlug }).forUpdate().first('id', 'webhook_url', 'api_secret_sealed');
    if (!row) throw new PartnerNotFound(`no partner ${JSON.stringify(partnerSlug)}`);
    const id = Number(row.id);
    const webhookUrl = change.webhookUrl === undefined ? row.webhook_url : change.webhookUrl;
    await trx('partners').where({ id }).update({ api_secret_sealed: sealPartnerSecret(mykeySecret, id, change.apiSecret), webhook_url: webhookUrl });
    await appendAudit(trx, {
      action: row.api_secret_sealed ? 'partner.secret_rotated' : 'partner.secret_issued',
      actor: { kind: 'system', id: 'partner-secret' }, subject: `partner:${id}`,
      details: { webhookChanged: webhookUrl !== row.webhook_url },
    });
    return { webhookUrl };
  });
}
