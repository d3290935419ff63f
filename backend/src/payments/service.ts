// Counter redemption. A shop's register opens a payment intent; a device of the same shop gets
// a challenge bound to it (the card signs the intent id, the amount and the shop); the signed
// challenge pays the intent in one transaction with the ledger entry. Refunds and same-day
// voids are ledger entries of their own, recorded against the intent. The shop knows the payer
// only by its own pseudonym of them (`customer`), never by the MyKey ID: docs/payments.md,
// docs/pseudonyms.md.
import { createHash, randomBytes } from 'node:crypto';
import type { Knex } from 'knex';
import { appendAudit } from '../audit/chain.ts';
import type { Db } from '../db.ts';
import type { EnrolledDevice } from '../devices/repository.ts';
import { Problem } from '../http/problems.ts';
import type { PaymentTerms } from '@mykey/contracts/challenge-text.ts';
import type { IntentView, MerchantView, PaymentReceipt, PaymentsOfDay, ReversalReceipt } from '@mykey/contracts/payments.ts';
import { payMerchant, refundPayment, voidPayment as postVoid, type Posted } from '../ledger/ledger.ts';
import { ledgerRepository } from '../ledger/repository.ts';
import { endOfTokyoDay } from '../ledger/rules.ts';
import { customerOf } from '../mykey/pseudonym.ts';
import { usableMykeyOf } from '../mykey/service.ts';
import type { SignedInStaff } from '../staff/repository.ts';
import { organizationLabel } from '../staff/organization.ts';
import { shopsRepository, type Merchant } from '../shops/repository.ts';
import { servingShop } from '../shops/service.ts';
import { paymentsRepository as repo, type Intent, type Reversal } from './repository.ts';

/** How long a register's intent can be paid: long enough for a PIN and a second try, short enough not to linger. */
const INTENT_SECONDS = 300;

type Conn = Db | Knex.Transaction;

const merchantView = (m: Merchant): MerchantView => ({ id: m.id, nameJa: m.nameJa, nameEn: m.nameEn });

const statusAt = (intent: Intent, now: Date): IntentView['status'] => (intent.status === 'open' && intent.expiresAt <= now ? 'expired' : intent.status);

function receiptOf(secret: Buffer, intent: Intent, merchant: Merchant): PaymentReceipt | null {
  if (!intent.paid) return null;
  return {
    purpose: 'payment', receiptNo: intent.paid.entryId, intentId: intent.id, amount: intent.amount, merchant: merchantView(merchant),
    customer: customerOf(secret, intent.merchantId, intent.paid.mykeyId), paidAt: intent.paid.at.toISOString(), balanceAfter: intent.paid.balanceAfter,
  };
}

/** What the register sees of an intent; `receipt` once it is paid. */
function view(intent: Intent, merchant: Merchant, now: Date, receipt: PaymentReceipt | null): IntentView {
  return {
    intentId: intent.id, amount: intent.amount, merchant: merchantView(merchant), status: statusAt(intent, now),
    createdAt: intent.createdAt.toISOString(), expiresAt: intent.expiresAt.toISOString(), receipt,
  };
}

/** Refused because the intent is paid, cancelled or expired; a paid one names its receipt. */
function notOpen(intent: Intent, now: Date): Problem {
  const status = statusAt(intent, now);
  return new Problem('payment_intent_not_open', `payment intent ${intent.id} is ${status}`, { intentStatus: status, receiptNo: intent.paid?.entryId ?? null });
}

const merchantOf = (staff: SignedInStaff): number => Number(staff.organization.id);

function approved(merchant: Merchant | undefined): Merchant {
  if (!merchant) throw new Problem('merchant_not_found');
  servingShop(merchant.status);
  return merchant;
}

/** A Japanese calendar date's instants: [its midnight, the next midnight). */
function tokyoDay(date: string): { from: Date; to: Date } {
  const to = endOfTokyoDay(date);
  return { from: new Date(to.getTime() - 86_400_000), to };
}

/** A reference part that is the same for a retried request and differs for another: the caller's key, hashed. */
const keyHash = (staff: SignedInStaff, key: string) => createHash('sha256').update(`staff:${staff.id}\n${key}`).digest('hex').slice(0, 32);

async function approvedMerchant(conn: Conn, merchantId: number): Promise<Merchant> {
  return approved(await shopsRepository.merchant(conn, merchantId));
}

/** The shop's own intent; another shop's is as good as unknown. */
async function ownIntent(conn: Conn, merchantId: number, id: string, options: { lock?: boolean } = {}): Promise<Intent> {
  const intent = await repo.intent(conn, id, options);
  if (!intent || intent.merchantId !== merchantId) throw new Problem('payment_intent_not_found');
  return intent;
}

/** Shared by refunds and voids: the paid intent locked, the ledger entry posted, recorded and audited. */
async function reverse(trx: Knex.Transaction, secret: Buffer, staff: SignedInStaff, intentId: string, kind: Reversal['kind'], key: string, now: Date,
  post: (paymentReference: string, reference: string) => Promise<Posted>): Promise<ReversalReceipt> {
  const intent = await ownIntent(trx, merchantOf(staff), intentId, { lock: true });
  if (!intent.paid) throw new Problem('payment_not_found', `payment intent ${intentId} is ${statusAt(intent, now)}, not paid`);
  const posted = await post(`payment:${intent.id}`, `${kind}:${intent.id}:${keyHash(staff, key)}`);
  // The resident's posting: what went back.
  const points = Math.max(...posted.postings.map((p) => p.amount));
  await repo.insertReversal(trx, { intentId, kind, points, entryId: posted.entryId, staffId: staff.id, at: now });
  const reversed = (await repo.reversalsOf(trx, [intentId])).reduce((sum, r) => sum + r.points, 0);
  const merchant = (await shopsRepository.merchant(trx, intent.merchantId))!;
  // The audit log is the platform's and the town's record (never shown to the shop): it keeps the MyKey ID.
  await appendAudit(trx, {
    action: kind === 'refund' ? 'payment.refunded' : 'payment.voided', actor: { kind: 'staff', id: String(staff.id) }, subject: `payment:${intentId}`,
    details: { receiptNo: posted.entryId, points, mykeyId: intent.paid.mykeyId, organization: organizationLabel(staff.organization) },
  });
  return {
    kind, receiptNo: posted.entryId, intentId, points, merchant: merchantView(merchant), customer: customerOf(secret, intent.merchantId, intent.paid.mykeyId), at: now.toISOString(),
    paymentAmount: intent.amount, reversedPoints: reversed, refundablePoints: intent.amount - reversed,
  };
}

/** A register's new intent: `amount` points (= yen) to pay at the clerk's shop within INTENT_SECONDS. */
export async function createIntent(trx: Knex.Transaction, staff: SignedInStaff, amount: number, now: Date): Promise<IntentView> {
  const merchant = await approvedMerchant(trx, merchantOf(staff));
  const intent: Intent = {
    id: `pi_${randomBytes(16).toString('base64url')}`, merchantId: merchant.id, amount, status: 'open',
    createdAt: now, expiresAt: new Date(now.getTime() + INTENT_SECONDS * 1000), paid: null,
  };
  await repo.insertIntent(trx, { id: intent.id, merchantId: merchant.id, amount, staffId: staff.id, createdAt: now, expiresAt: intent.expiresAt });
  return view(intent, merchant, now, null);
}

export async function intentView(db: Db, secret: Buffer, staff: SignedInStaff, id: string, now: Date): Promise<IntentView> {
  const intent = await ownIntent(db, merchantOf(staff), id);
  const merchant = (await shopsRepository.merchant(db, intent.merchantId))!;
  return view(intent, merchant, now, receiptOf(secret, intent, merchant));
}

/** The register gives up on an open intent; a paid, cancelled or expired one is refused. */
export async function cancel(trx: Knex.Transaction, staff: SignedInStaff, id: string, now: Date): Promise<IntentView> {
  const intent = await ownIntent(trx, merchantOf(staff), id, { lock: true });
  if (statusAt(intent, now) !== 'open') throw notOpen(intent, now);
  await repo.markCancelled(trx, id, staff.id, now);
  return view({ ...intent, status: 'cancelled' }, (await shopsRepository.merchant(trx, intent.merchantId))!, now, null);
}

/**
 * The terms a payment challenge binds: only a device of the intent's own shop gets them
 * (another shop's device, or a municipality's, is told the intent does not exist), and only
 * while the intent is open and the shop approved.
 */
export async function challengeTerms(conn: Conn, device: EnrolledDevice, intentId: string, now: Date): Promise<PaymentTerms> {
  if (device.organization.kind !== 'merchant') throw new Problem('payment_intent_not_found');
  const found = await repo.intentWithMerchant(conn, intentId);
  if (!found || found.intent.merchantId !== Number(device.organization.id)) throw new Problem('payment_intent_not_found');
  const { intent, merchant } = found;
  if (statusAt(intent, now) !== 'open') throw notOpen(intent, now);
  approved(merchant);
  return { intentId: intent.id, amount: intent.amount, merchantId: intent.merchantId };
}

/**
 * Pays the intent whose terms the card signed, in the caller's transaction (the one that
 * marked the challenge signed): the intent must still be open, the shop approved,
 * the card's MyKey ID usable. Insufficient points roll everything back: the intent stays
 * open, for a lower amount or another way to pay the rest.
 */
export async function pay(trx: Knex.Transaction, secret: Buffer, r: { terms: PaymentTerms; certKey: Buffer; device: EnrolledDevice; now: Date }): Promise<PaymentReceipt> {
  const { intent, merchant } = (await repo.lockIntentWithMerchant(trx, r.terms.intentId))!;
  if (statusAt(intent, r.now) !== 'open') throw notOpen(intent, r.now);
  approved(merchant);
  // The shop's device serves the shop's town: a MyKey ID that town blocked cannot pay there.
  const mykeyId = await usableMykeyOf(trx, r.certKey, r.device.municipalityCode, { lock: true });
  if (!mykeyId) throw new Problem('card_not_registered');
  const posted = await payMerchant(trx, { reference: `payment:${intent.id}`, merchantId: intent.merchantId, mykeyId, points: intent.amount, now: r.now });
  const residentAccount = posted.postings.find((p) => p.amount < 0)!.accountId;
  const balanceAfter = posted.spendableAfter ?? await ledgerRepository.spendablePoints(trx, residentAccount, r.now);
  const paid = { at: r.now, mykeyId, entryId: posted.entryId, deviceId: r.device.id, balanceAfter };
  await repo.markPaid(trx, intent.id, paid);
  return receiptOf(secret, { ...intent, status: 'paid', paid }, merchant)!;
}

export function refund(trx: Knex.Transaction, secret: Buffer, staff: SignedInStaff, intentId: string, points: number, key: string, now: Date): Promise<ReversalReceipt> {
  return reverse(trx, secret, staff, intentId, 'refund', key, now, (paymentReference, reference) => refundPayment(trx, { reference, paymentReference, points, now }));
}

export function voidPayment(trx: Knex.Transaction, secret: Buffer, staff: SignedInStaff, intentId: string, key: string, now: Date): Promise<ReversalReceipt> {
  return reverse(trx, secret, staff, intentId, 'void', key, now, (paymentReference, reference) => postVoid(trx, { reference, paymentReference, now }));
}

/** The shop's payments paid on a Japanese calendar date, each with its refunds and voids (whenever made). */
export async function day(db: Db, secret: Buffer, staff: SignedInStaff, date: string): Promise<PaymentsOfDay> {
  const { from, to } = tokyoDay(date);
  const merchantId = merchantOf(staff);
  const paid = await repo.paidBetween(db, merchantId, from, to);
  const reversals = await repo.reversalsOf(db, paid.map((p) => p.id));
  const payments = paid.map((intent) => {
    const own = reversals.filter((r) => r.intentId === intent.id);
    const reversed = own.reduce((sum, r) => sum + r.points, 0);
    return {
      receiptNo: intent.paid!.entryId, intentId: intent.id, amount: intent.amount, customer: customerOf(secret, intent.merchantId, intent.paid!.mykeyId), paidAt: intent.paid!.at.toISOString(),
      reversals: own.map((r) => ({ kind: r.kind, receiptNo: r.entryId, points: r.points, at: r.at.toISOString(), staffId: r.staffId })),
      reversedPoints: reversed, netPoints: intent.amount - reversed,
    };
  });
  const sum = (pick: (p: (typeof payments)[number]) => number) => payments.reduce((total, p) => total + pick(p), 0);
  return { date, payments, totals: { count: payments.length, paidPoints: sum((p) => p.amount), reversedPoints: sum((p) => p.reversedPoints), netPoints: sum((p) => p.netPoints) } };
}

