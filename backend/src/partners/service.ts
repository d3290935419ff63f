// Issuing and rotating a partner's API secret (npm run partner-secret).
import { appendAudit } from '../audit/chain.ts';
import type { Db } from '../db.ts';
import { sealPartnerSecret } from './credentials.ts';
import { PARTNER_SLUG, partnerRepository as repo } from './repository.ts';

export class PartnerNotFound extends Error {}

/**
 * Stores a partner's API secret, sealed, and (unless `webhookUrl` is undefined) its webhook
 * URL; null removes the webhook. The old secret stops working at once. Audited in the same
 * transaction (ids only, never the secret). Answers the webhook URL now stored.
 */
export async function setPartnerCredentials(db: Db, mykeySecret: Buffer, partnerSlug: string, change: { apiSecret: string; webhookUrl?: string | null }): Promise<{ webhookUrl: string | null }> {
  if (!PARTNER_SLUG.test(partnerSlug)) throw new PartnerNotFound(`no partner ${JSON.stringify(partnerSlug)}`);
  return db.transaction(async (trx) => {
    const partner = await repo.lockBySlug(trx, partnerSlug);
    if (!partner) throw new PartnerNotFound(`no partner ${JSON.stringify(partnerSlug)}`);
    const webhookUrl = change.webhookUrl === undefined ? partner.webhookUrl : change.webhookUrl;
    await repo.storeSecret(trx, partner.id, sealPartnerSecret(mykeySecret, partner.id, change.apiSecret), webhookUrl);
    await appendAudit(trx, {
      action: partner.hasSecret ? 'partner.secret_rotated' : 'partner.secret_issued',
      actor: { kind: 'system', id: 'partner-secret' }, subject: `partner:${partner.id}`,
      details: { webhookChanged: webhookUrl !== partner.webhookUrl },
    });
    return { webhookUrl };
  });
}
