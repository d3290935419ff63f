// Adding a partner to the platform (npm run mykey -- partner-add), and issuing and rotating its
// API secret (npm run mykey -- partner-secret).
import { appendAudit } from '../audit/chain.ts';
import type { Db } from '../db.ts';
import { sealPartnerSecret } from './credentials.ts';
import { PARTNER_SLUG, partnerRepository as repo, type NewPartner } from './repository.ts';

export class PartnerNotFound extends Error {}
export class PartnerExists extends Error {}

/** Adds a partner company (audited); PartnerExists when its slug is taken. It credits nothing until it has a secret and an agreement. */
export async function addPartner(db: Db, partner: NewPartner): Promise<{ id: number; slug: string }> {
  return db.transaction(async (trx) => {
    const id = await repo.insertPartner(trx, partner);
    if (id === undefined) throw new PartnerExists(`a partner ${JSON.stringify(partner.slug)} exists already`);
    await appendAudit(trx, {
      action: 'partner.added', actor: { kind: 'system', id: 'partner-add' }, subject: `partner:${id}`,
      details: { slug: partner.slug, kind: partner.kind, rateUnits: partner.rateUnits, ratePoints: partner.ratePoints },
    });
    return { id, slug: partner.slug };
  });
}

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
