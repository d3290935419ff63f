// The register's calls to the backend: payment intents, today's payments, refunds and voids.
// The card's part of a payment goes through the reader agent (reader-agent.svelte.ts), never here.
import { MAX_POINTS } from '@mykey/contracts/limits.ts';
import { INTENT_STATUSES, type DayPayment, type IntentStatus, type IntentView, type MerchantView, type PaymentReceipt } from '@mykey/contracts/payments.ts';
import { isRecord, request } from './api.ts';

/** What the register uses of an intent. */
export type PaymentIntent = Pick<IntentView, 'intentId' | 'amount' | 'merchant' | 'status' | 'expiresAt'>;

/** The receipt number is the payment's ledger entry: one per payment, refund or void. */
export type Receipt = Omit<PaymentReceipt, 'purpose'>;

/** One of a day's payments, with what its refunds and voids gave back. */
export type Payment = Pick<DayPayment, 'receiptNo' | 'intentId' | 'amount' | 'customer' | 'paidAt' | 'reversedPoints'> & { voided: boolean };


const isCount = (value: unknown): value is number => typeof value === 'number' && Number.isSafeInteger(value) && value >= 0;

const isIntentStatus = (value: unknown): value is IntentStatus => INTENT_STATUSES.some((status) => status === value);

function isMerchant(value: unknown): value is MerchantView {
  return isRecord(value) && typeof value.id === 'number' && typeof value.nameJa === 'string' && typeof value.nameEn === 'string';
}

function parseIntent(body: unknown): PaymentIntent | null {
  if (!isRecord(body) || typeof body.intentId !== 'string' || !isCount(body.amount) || !isMerchant(body.merchant)) return null;
  if (!isIntentStatus(body.status) || typeof body.expiresAt !== 'string') return null;
  return { intentId: body.intentId, amount: body.amount, merchant: body.merchant, status: body.status, expiresAt: body.expiresAt };
}

/** The receipt the agent passes on from the backend after the card paid; null for anything else. */
export function parseReceipt(body: unknown): Receipt | null {
  const receipt = isRecord(body) && isRecord(body.receipt) ? body.receipt : body;
  if (!isRecord(receipt) || typeof receipt.intentId !== 'string' || !isCount(receipt.amount) || !isMerchant(receipt.merchant)) return null;
  if (!isCount(receipt.receiptNo) || typeof receipt.customer !== 'string' || typeof receipt.paidAt !== 'string' || !isCount(receipt.balanceAfter)) return null;
  const { receiptNo, intentId, amount, merchant, customer, paidAt, balanceAfter } = receipt;
  return { receiptNo, intentId, amount, merchant, customer, paidAt, balanceAfter };
}

function parsePayment(value: unknown): Payment | null {
  if (!isRecord(value) || !isCount(value.receiptNo) || typeof value.intentId !== 'string' || !isCount(value.amount) || typeof value.paidAt !== 'string') return null;
  if (typeof value.customer !== 'string' || !isCount(value.reversedPoints) || !Array.isArray(value.reversals)) return null;
  const voided = value.reversals.some((r) => isRecord(r) && r.kind === 'void');
  return { receiptNo: value.receiptNo, intentId: value.intentId, amount: value.amount, customer: value.customer, paidAt: value.paidAt, reversedPoints: value.reversedPoints, voided };
}

function parsePayments(body: unknown): Payment[] | null {
  if (!isRecord(body) || !Array.isArray(body.payments)) return null;
  const payments = body.payments.map(parsePayment);
  return payments.every((p) => p !== null) ? payments : null;
}

/** `key` is made once per attempt by the caller and sent again on a retry, so a lost answer never opens a second intent. */
export function createIntent(amount: number, key: string): Promise<PaymentIntent> {
  return request('/api/v1/merchant/payment-intents', parseIntent, { method: 'POST', body: { amount }, idempotencyKey: key });
}

/** The receipt of an intent that was paid, or null while it is not. */
export function intentReceipt(intentId: string): Promise<Receipt | null> {
  return request(`/api/v1/merchant/payment-intents/${encodeURIComponent(intentId)}`, (body) => ({ receipt: parseReceipt(body) })).then((view) => view.receipt);
}

export function cancelIntent(intentId: string, key: string): Promise<unknown> {
  return request(`/api/v1/merchant/payment-intents/${encodeURIComponent(intentId)}/cancellation`, (body) => body ?? {}, { method: 'POST', idempotencyKey: key });
}

export function listPayments(date: string): Promise<Payment[]> {
  return request(`/api/v1/merchant/payments?date=${encodeURIComponent(date)}`, parsePayments);
}

export function refundPayment(intentId: string, points: number, key: string): Promise<unknown> {
  return request(`/api/v1/merchant/payments/${encodeURIComponent(intentId)}/refunds`, (body) => body ?? {}, { method: 'POST', body: { points }, idempotencyKey: key });
}

export function voidPayment(intentId: string, key: string): Promise<unknown> {
  return request(`/api/v1/merchant/payments/${encodeURIComponent(intentId)}/void`, (body) => body ?? {}, { method: 'POST', idempotencyKey: key });
}

/** Today in Japan, where the shops are, as YYYY-MM-DD. */
export function todayInJapan(now = new Date()): string {
  return new Intl.DateTimeFormat('en-CA', { timeZone: 'Asia/Tokyo', year: 'numeric', month: '2-digit', day: '2-digit' }).format(now);
}

/** A whole amount typed at the register: full-width digits, commas and 円 are fine. */
export function parseAmount(text: string, max = MAX_POINTS): number | null {
  const digits = text.normalize('NFKC').replace(/[,\s円]/g, '');
  if (!/^\d{1,9}$/.test(digits)) return null;
  const amount = Number(digits);
  return amount >= 1 && amount <= max ? amount : null;
}
