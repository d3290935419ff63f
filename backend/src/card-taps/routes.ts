// The device's side of a card tap. With the PIN: the device asks for a challenge for a
// purpose, the resident's card signs it after the PIN, and the device sends certificate and
// signature back (card-sessions). Without it, for a purpose that takes a tap: the device sends
// the certificate it read (card-taps). Either way the purpose's handler answers (purposes.ts).
import Router from '@koa/router';
import { z } from 'zod';
import { termsFieldProblem } from '@mykey/contracts/challenge-text.ts';
import { JOURNAL_ENTRY_ID } from '@mykey/contracts/tap-journal.ts';
import type { Db } from '../db.ts';
import { readJson } from '../http/body.ts';
import { idempotencyKey, respond } from '../http/idempotency.ts';
import { enrolledDevice, requireDevice } from '../devices/middleware.ts';
import type { PurposeRegistry } from './purposes.ts';
import type { CardTapsService } from './service.ts';
import { described } from '../http/described.ts';

const base64 = (min: number, max: number) => z.string().max(Math.ceil(max / 3) * 4 + 4)
  .regex(/^[A-Za-z0-9+/]*={0,2}$/, { error: 'must be base64' })
  .transform((value) => Buffer.from(value, 'base64'))
  .refine((bytes) => bytes.length >= min && bytes.length <= max, { error: `must be ${min} to ${max} bytes` });

// The certificate's own checks give the precise reason for bad bytes; this only bounds the size.
const certificate = base64(1, 16 * 1024);

/** A tap sent late from the device's journal: its entry's id, when the card was tapped, the device's Ed25519 signature. */
const journalEntry = z.object({
  id: z.string().regex(JOURNAL_ENTRY_ID, { error: 'must be the journal entry\'s id (a UUID)' }),
  tappedAt: z.iso.datetime({ error: 'must be an ISO 8601 UTC time' }),
  signature: base64(64, 64),
}).strict();

const cardSessionBody = z.object({
  challengeId: z.string().regex(/^[A-Za-z0-9_-]{43}$/, { error: 'must be a challengeId from POST /api/v1/auth/challenges' }),
  certificate,
  signature: base64(1, 1024),
});

/**
 * A request naming a registered purpose, and the terms field of the purposes that have one (a
 * payment challenge is bound to the register's intent: its id, amount and shop go into the text).
 */
function purposeBody<Extra extends z.ZodRawShape>(purposes: PurposeRegistry, extra: Extra) {
  const termsFields = Object.fromEntries(purposes.texts.flatMap(([, terms]) => (terms
    ? [[terms.requestField, z.string().regex(terms.requestPattern, { error: terms.requestError }).optional()]] : [])));
  return z.object({ purpose: z.enum(purposes.names as [string, ...string[]]), ...termsFields, ...extra }).superRefine((body, ctx) => {
    const fields = body as Record<string, unknown> & { purpose: string };
    const problem = termsFieldProblem(purposes.texts, fields.purpose, fields);
    if (problem) ctx.addIssue({ code: 'custom', message: problem.message, path: [problem.path] });
  });
}

export interface CardTapRoutesDeps { db: Db; taps: CardTapsService; purposes: PurposeRegistry; clock: () => Date }

export function cardTapRoutes({ db, taps, purposes, clock }: CardTapRoutesDeps): Router {
  const router = new Router({ prefix: '/api/v1/auth' });
  const challengeBody = purposeBody(purposes, {});
  const tapBody = purposeBody(purposes, { certificate, journal: journalEntry.optional() });
  /** The value of the purpose's terms field in the request, if it has terms. */
  const requested = (body: Record<string, unknown>): string | undefined => {
    const field = purposes.texts.find(([name]) => name === body.purpose)?.[1]?.requestField;
    return field === undefined ? undefined : body[field] as string;
  };

  router.post('/challenges', described({
    summary: 'A challenge for the card to sign after the PIN, for a purpose', caller: 'device', body: challengeBody, idempotent: true,
    description: 'The text to sign is rebuilt by the agent from the answer, byte for byte (docs/architecture.md, "How a tap flows"). A purpose with terms takes its terms field (payment: intentId).',
    example: { purpose: 'login' },
    responses: { 201: 'The challenge: id, expiry, canonical text and terms.' }, problems: ['purpose_not_for_device', 'payment_intent_not_found', 'payment_intent_not_open'],
  }), requireDevice(db), async (ctx) => {
    const key = idempotencyKey(ctx);
    const body = await readJson(ctx, challengeBody);
    const device = enrolledDevice(ctx);
    respond(ctx, await taps.challenge({ scope: `device:${device.id}`, key, request: body }, device, body.purpose, requested(body), clock()));
  });

  router.post('/card-sessions', described({
    summary: 'The card\'s signature over a challenge, with its certificate: the purpose\'s handler answers', caller: 'device', body: cardSessionBody, idempotent: true,
    responses: { 201: 'challengeId, purpose, revocationChecked and what the purpose answers.' },
    problems: ['challenge_unknown', 'challenge_expired', 'certificate_untrusted', 'certificate_revoked', 'certificate_revocation_unknown', 'signature_invalid'],
  }), requireDevice(db), async (ctx) => {
    const key = idempotencyKey(ctx);
    const body = await readJson(ctx, cardSessionBody);
    const device = enrolledDevice(ctx);
    const now = clock();
    const verified = await taps.verifyProof(device, body, now);
    const request = { challengeId: body.challengeId, certificate: body.certificate.toString('base64'), signature: body.signature.toString('base64') };
    respond(ctx, await taps.settleProof({ scope: `device:${device.id}`, key, request }, device, verified, now));
  });

  router.post('/card-taps', described({
    summary: 'A PIN-less tap: the certificate the device read, for a purpose that takes a tap', caller: 'device', body: tapBody, idempotent: true,
    description: 'Only for purposes that allow a tap; a journaled purpose also takes taps sent late from the device\'s signed journal (docs/tap-journal.md).',
    responses: { 201: 'What the purpose answers, and revocationChecked.' },
    problems: ['card_tap_not_allowed', 'certificate_untrusted', 'certificate_revoked', 'certificate_revocation_unknown', 'journal_not_allowed', 'journal_key_missing', 'journal_signature_invalid', 'journal_entry_out_of_time'],
  }), requireDevice(db), async (ctx) => {
    const key = idempotencyKey(ctx);
    const body = await readJson(ctx, tapBody);
    const device = enrolledDevice(ctx);
    const now = clock();
    // A journal entry is recorded at the time the card was tapped; the card is checked as it stands now.
    const tappedAt = body.journal ? await taps.journaledAt(device, body.purpose, body.certificate, body.journal, now) : now;
    const verified = await taps.verifyTap(device, body.purpose, body.certificate, now);
    const request = { op: 'card-tap', ...body, certificate: body.certificate.toString('base64'), ...(body.journal && { journal: { ...body.journal, signature: body.journal.signature.toString('base64') } }) };
    respond(ctx, await taps.settleTap({ scope: `device:${device.id}`, key, request }, device, verified, requested(body), tappedAt));
  });

  return router;
}
