// Card login: a device asks for a challenge, the resident's card signs it after the PIN, and
// the device sends certificate and signature back. For a login the answer is the MyKey ID
// (issued on the card's first login); for other purposes the signed challenge becomes a
// proof of the card that a relink then consumes.
import Router from '@koa/router';
import { z } from 'zod';
import { retryTransient, type Db } from '../db.ts';
import { readJson } from '../http/body.ts';
import { idempotencyKey, respond, runIdempotent } from '../http/idempotency.ts';
import { CHALLENGE_PURPOSES, PAYMENT_INTENT_ID, challengeAnswer, challengeRepository } from '../jpki/challenges.ts';
import { RevokedCard, verifyCardProof } from '../jpki/card-proof.ts';
import type { CertificateVerifier } from '../jpki/verifier.ts';
import type { MykeyService } from './service.ts';
import type { PaymentsService } from '../payments/service.ts';
import { enrolledDevice, requireDevice } from '../devices/middleware.ts';

const base64 = (min: number, max: number) => z.string().max(Math.ceil(max / 3) * 4 + 4)
  .regex(/^[A-Za-z0-9+/]*={0,2}$/, { error: 'must be base64' })
  .transform((value) => Buffer.from(value, 'base64'))
  .refine((bytes) => bytes.length >= min && bytes.length <= max, { error: `must be ${min} to ${max} bytes` });

const challengeBody = z.object({
  purpose: z.enum(CHALLENGE_PURPOSES),
  // A payment challenge is bound to the register's intent: its id, amount and shop go into the text the card signs.
  paymentIntentId: z.string().regex(PAYMENT_INTENT_ID, { error: 'must be a payment intent id (pi_…)' }).optional(),
}).refine((body) => (body.purpose === 'payment') === (body.paymentIntentId !== undefined), {
  error: 'paymentIntentId is required for the purpose payment, and only for it', path: ['paymentIntentId'],
});

const cardSessionBody = z.object({
  challengeId: z.string().regex(/^[A-Za-z0-9_-]{43}$/, { error: 'must be a challengeId from POST /api/v1/auth/challenges' }),
  // The certificate's own checks give the precise reason for bad bytes; this only bounds the size.
  certificate: base64(1, 16 * 1024),
  signature: base64(1, 1024),
});

export interface AuthDeps { db: Db; verifier: CertificateVerifier; mykeys: MykeyService; payments: PaymentsService; clock: () => Date }

export function authRoutes({ db, verifier, mykeys, payments, clock }: AuthDeps): Router {
  const router = new Router({ prefix: '/api/v1/auth' });
  const challenges = challengeRepository(db);

  router.post('/challenges', requireDevice(db), async (ctx) => {
    const key = idempotencyKey(ctx);
    const { purpose, paymentIntentId } = await readJson(ctx, challengeBody);
    const device = enrolledDevice(ctx);
    const { id } = device;
    respond(ctx, await runIdempotent(db, { scope: `device:${id}`, key, request: { purpose, paymentIntentId } }, async (trx) => {
      const now = clock();
      const payment = paymentIntentId === undefined ? undefined : await payments.challengeTerms(trx, device, paymentIntentId, now);
      const challenge = await challenges.create(trx, id, purpose, now, payment);
      return { status: 201, body: challengeAnswer(challenge) };
    }));
  });

  router.post('/card-sessions', requireDevice(db), async (ctx) => {
    const key = idempotencyKey(ctx);
    const body = await readJson(ctx, cardSessionBody);
    const device = enrolledDevice(ctx);
    const { id } = device;
    const now = clock();
    const challenge = await challenges.find(body.challengeId, id);
    const accepted = await verifyCardProof(verifier, challenge, body.certificate, body.signature, now).catch(async (error: unknown) => {
      if (error instanceof RevokedCard) await mykeys.noteRevoked(error, now);
      throw error;
    });
    const card = { issuerDer: accepted.issuerDer, serialHex: accepted.serialHex };
    const certKey = mykeys.keyOf(card);
    const request = { challengeId: body.challengeId, certificate: body.certificate.toString('base64'), signature: body.signature.toString('base64') };
    respond(ctx, await retryTransient(() => runIdempotent(db, { scope: `device:${id}`, key, request }, async (trx) => {
      // A payment uses its signature at once, so the challenge is consumed as it is signed.
      await challenges.markSigned(trx, challenge, certKey, now, { consume: challenge.purpose === 'payment' });
      const common = { challengeId: challenge.id, purpose: challenge.purpose, revocationChecked: accepted.revocationChecked };
      if (challenge.purpose === 'payment') {
        return { status: 201, body: { ...common, ...(await payments.pay(trx, { challenge, certKey, device, now })) } };
      }
      // A town's block refuses the ID at its devices, whatever the card signs there for.
      if (challenge.purpose !== 'login') {
        return { status: 201, body: { ...common, mykeyId: (await mykeys.usableMykeyOf(trx, certKey, device.municipalityCode)) ?? null } };
      }
      const { mykeyId, issued } = await mykeys.loginOrIssue(trx, card, device);
      return { status: 201, body: { ...common, mykeyId, issued } };
    })));
  });

  return router;
}
