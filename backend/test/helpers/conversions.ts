// Conversion requests as the partner API leaves them (accepted, points at the partner's rate),
// inserted directly, and partners given a webhook: for tests of processing and webhooks.
import { randomBytes } from 'node:crypto';
import type { Db } from '../../src/db.ts';
import { mykeySecret } from '../../src/config.ts';
import { newPartnerSecret, sealPartnerSecret } from '../../src/partners/credentials.ts';

/** The MyKey secret a worker started without MYKEY_SECRET uses (the development one). */
export const workerMykeySecret = mykeySecret({ NODE_ENV: 'development' });

export interface Accepted { partnerId: number; municipalityCode: string; mykeyId: string; points: number; partnerPoints?: number }

/** An accepted conversion request; answers its id. */
export async function acceptedConversion(db: Db, r: Accepted): Promise<number> {
  const mykey = await db('mykeys').where({ mykey_id: r.mykeyId }).first('id');
  const [id] = await db('conversion_requests').insert({
    partner_id: r.partnerId, partner_tx_id: `tx-${randomBytes(6).toString('hex')}`, request_hash: randomBytes(32),
    municipality_code: r.municipalityCode, mykey_pk: mykey.id, partner_points: r.partnerPoints ?? r.points, points: r.points,
    accepted_at: new Date(),
  });
  return Number(id);
}

export async function conversionRow(db: Db, id: number) {
  return db('conversion_requests').where({ id }).first();
}

/** Gives the partner an API secret and a webhook URL; answers the secret. */
export async function partnerWebhook(db: Db, partnerId: number, webhookUrl: string | null): Promise<string> {
  const secret = newPartnerSecret();
  await db('partners').where({ id: partnerId }).update({ api_secret_sealed: sealPartnerSecret(workerMykeySecret, partnerId, secret), webhook_url: webhookUrl });
  return secret;
}
