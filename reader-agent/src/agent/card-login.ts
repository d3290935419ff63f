// Card login: the backend gives this device a challenge, the resident's card signs it after
// the PIN, and the backend answers with the MyKey ID (or, for a relink purpose, keeps the
// signed challenge as a proof of the card). The agent checks the challenge first: whoever
// answers at the backend's address must not get the card to sign anything but a challenge
// for this device and the purpose the clerk asked for, with the terms the purpose's shared
// contract checks (for a payment: the intent the clerk asked for; for a membership link: the
// request the clerk made).
import { createHash } from 'node:crypto';
import { z } from 'zod';
import { canonicalChallenge, CHALLENGE_PURPOSES, PURPOSE_TERMS, type ChallengePurpose, type PurposeTerms } from '@mykey/contracts/challenge-text.ts';
import { checkPinFormat, JpkiSession } from '../jpki/commands.ts';
import { CardError, type Messages } from '../jpki/errors.ts';
import type { PcscService } from '../pcsc/pcsc.ts';
import type { PinRule } from './pin-rule.ts';
import { AgentError } from './errors.ts';
import { BackendError, type BackendClient, type CardSessionAnswer, type ChallengeAnswer } from './backend-client.ts';

export { CHALLENGE_PURPOSES, type ChallengePurpose };

/** The backend as the device `enroll` made this agent. */
export interface EnrolledDevice { backend: BackendClient; deviceId: number }

const challengeAnswer = z.object({
  challengeId: z.string().regex(/^[A-Za-z0-9_-]{43}$/),
  purpose: z.enum(CHALLENGE_PURPOSES),
  expiresAt: z.iso.datetime(),
  challenge: z.string(),
});

/**
 * The lines of the purpose's terms the answer names, checked against the shared contract: a
 * purpose with terms wants them well-formed and of what the request named (for a payment: the
 * intent the clerk asked for); no answer may carry another purpose's terms.
 */
function termLinesOf(answer: Record<string, unknown>, purpose: ChallengePurpose, requested: string | undefined): { lines: string[]; terms?: object } {
  const own: PurposeTerms | null = PURPOSE_TERMS[purpose];
  for (const terms of Object.values(PURPOSE_TERMS)) {
    if (terms && terms !== own && answer[terms.answerField] !== undefined) throw new AgentError('challenge_not_canonical', `${terms.answerField} terms`);
  }
  if (!own) return { lines: [] };
  const terms = own.parse(answer[own.answerField]);
  if (!terms) throw new AgentError('challenge_not_canonical', `${own.answerField} terms`);
  const mismatch = requested === undefined ? 'nothing requested' : own.mismatch(terms, requested);
  if (mismatch) throw new AgentError('challenge_not_canonical', mismatch);
  return { lines: own.lines(terms), terms };
}

/**
 * The bytes to sign, and the purpose's terms, if `answer` is exactly the canonical challenge
 * for this device and `purpose` (and the terms `requested` names): rebuilt from the answer's id,
 * expiry and terms and compared byte for byte, so no extra line, other device, other purpose or
 * other terms get through.
 */
export function challengeToSign(answer: ChallengeAnswer, deviceId: number, purpose: ChallengePurpose, requested?: string): { text: Buffer; terms?: object } {
  const parsed = challengeAnswer.safeParse(answer);
  if (!parsed.success) throw new AgentError('challenge_not_canonical', 'malformed answer');
  const { challengeId, expiresAt, challenge } = parsed.data;
  if (parsed.data.purpose !== purpose) throw new AgentError('challenge_not_canonical', `purpose ${parsed.data.purpose}`);
  const { lines, terms } = termLinesOf(answer as unknown as Record<string, unknown>, purpose, requested);
  const expected = canonicalChallenge({ id: challengeId, deviceId, purpose, expiresAt: new Date(expiresAt) }, lines);
  if (challenge !== expected.toString('base64')) throw new AgentError('challenge_not_canonical', 'text differs');
  return { text: expected, ...(terms ? { terms } : {}) };
}

/**
 * Reads the user-authentication certificate and signs the challenge `text` after the PIN, in one
 * exclusive card connection that ends with a reset (no verified PIN outlives it), if `pinRule`
 * lets the PIN go to the card.
 */
function signChallenge(pcsc: PcscService, pinRule: PinRule, reader: string | undefined, pin: string, text: Buffer): Promise<{ certificate: Buffer; signature: Buffer }> {
  const digest = createHash('sha256').update(text).digest();
  return pcsc.withCard(reader, 'reset', async (transmit, name) => {
    const card = new JpkiSession(transmit);
    const certificate = await card.readAuthCertificate();
    try {
      return { certificate, signature: await card.signDigest(pin, digest, (triesLeft) => pinRule.checkTries(name, triesLeft)) };
    } catch (error) {
      if (error instanceof CardError && (error.code === 'pin_wrong' || error.code === 'pin_last_try')) pinRule.wrongPin(name);
      throw error;
    }
  });
}

/** A payment's refusals in words a clerk can read out, with the numbers in them. */
export function paymentRefusal(error: BackendError): BackendError {
  const points = (value: unknown) => (typeof value === 'number' ? value.toLocaleString('ja-JP') : '?');
  const { availablePoints, requestedPoints, intentStatus, receiptNo } = error.extra;
  let messages: Messages | undefined;
  if (error.code === 'insufficient_points') {
    messages = {
      ja: `ポイントが足りません。お支払い ${points(requestedPoints)} ポイントに対し、使えるポイントは ${points(availablePoints)} ポイントです。金額を減らすか、残りを別の方法でお支払いください。`,
      en: `Not enough points: the payment is ${points(requestedPoints)} points, and ${points(availablePoints)} points can be used. Lower the amount, or pay the rest another way.`,
    };
  } else if (error.code === 'payment_intent_not_open') {
    const byStatus: Record<string, Messages> = {
      paid: { ja: `この支払いはすでに済んでいます（レシート番号 ${receiptNo}）。二重には支払われていません。`, en: `This payment has already been made (receipt no. ${receiptNo}); nothing was charged twice.` },
      cancelled: { ja: 'この支払いはレジで取り消されました。レジで金額を入力し直してください。', en: 'This payment was cancelled at the register. Please enter the amount at the register again.' },
      expired: { ja: 'この支払いの有効時間（5分）が過ぎました。レジで金額を入力し直してください。', en: 'This payment request expired (it lasts 5 minutes). Please enter the amount at the register again.' },
    };
    messages = byStatus[String(intentStatus)];
  }
  return messages ? new BackendError(error.code, messages, error.status, error.requestId, error.extra) : error;
}

/** `requested`: for a purpose with terms, the value of their request field (payment: the intent's id). */
export interface CardLoginRequest { pin: string; purpose: ChallengePurpose; reader?: string; requested?: string }

/**
 * The whole card login (or payment, or any other purpose's card session). Throws AgentError
 * (not enrolled, a challenge not to be signed), CardError (PIN, card, reader) or BackendError
 * (the backend's own code and words). `log` hears the terms before the card signs them
 * (payment: intent, amount and shop).
 */
export async function cardLogin(pcsc: PcscService, pinRule: PinRule, device: EnrolledDevice | null, request: CardLoginRequest,
  log: (entry: Record<string, unknown>) => void = () => {}): Promise<CardSessionAnswer> {
  if (!device) throw new AgentError('not_enrolled');
  // Before asking for a challenge: a PIN that cannot be right, or may not go to the card yet, should not cost one.
  checkPinFormat(request.pin);
  pinRule.checkReader(pcsc.readerWithCard(request.reader));
  try {
    const answer = await device.backend.challenge(request.purpose, request.requested);
    const { text, terms } = challengeToSign(answer, device.deviceId, request.purpose, request.requested);
    if (terms) log({ level: 'info', msg: `${request.purpose} to sign`, ...terms });
    const { certificate, signature } = await signChallenge(pcsc, pinRule, request.reader, request.pin, text);
    return await device.backend.cardSession({ challengeId: answer.challengeId, certificate: certificate.toString('base64'), signature: signature.toString('base64') });
  } catch (error) {
    // Only a payment meets these codes.
    throw error instanceof BackendError ? paymentRefusal(error) : error;
  }
}
