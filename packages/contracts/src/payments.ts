// What the backend answers about counter payments (backend/src/payments/), as the register
// reads it: payment intents, the receipt of a card payment, refunds and voids, a day's payments.
// A shop never sees the resident's MyKey ID: it sees `customer`, the pseudonym of the resident
// derived for that shop alone (docs/pseudonyms.md).

export interface MerchantView { id: number; nameJa: string; nameEn: string }

/** `expired`: still open in the table, but past expiresAt, so it can no longer be paid. */
export const INTENT_STATUSES = ['open', 'paid', 'cancelled', 'expired'] as const;
export type IntentStatus = (typeof INTENT_STATUSES)[number];

/** What the resident and the clerk get when the card has paid. */
export interface PaymentReceipt {
  purpose: 'payment';
  /** The ledger entry's number: one per payment, refund or void. */
  receiptNo: number;
  intentId: string;
  amount: number;
  merchant: MerchantView;
  /** The resident as this shop alone knows them: their pseudonym for the shop (e.g. `7KQ2-M9XD-3FRA`), never the MyKey ID. */
  customer: string;
  paidAt: string;
  /** The resident's spendable points right after paying. */
  balanceAfter: number;
}

export interface IntentView {
  intentId: string;
  amount: number;
  merchant: MerchantView;
  status: IntentStatus;
  createdAt: string;
  expiresAt: string;
  receipt: PaymentReceipt | null;
}

export type ReversalKind = 'refund' | 'void';

export interface ReversalReceipt {
  kind: ReversalKind;
  receiptNo: number;
  intentId: string;
  points: number;
  merchant: MerchantView;
  /** The payer's pseudonym for this shop, as on the payment's receipt. */
  customer: string;
  at: string;
  /** Of the payment: everything refunded or voided so far, and what can still be refunded. */
  paymentAmount: number;
  reversedPoints: number;
  refundablePoints: number;
}

/** One of a day's payments, with its refunds and voids (whenever made). */
export interface DayPayment {
  receiptNo: number;
  intentId: string;
  amount: number;
  /** The payer's pseudonym for this shop, as on the receipt. */
  customer: string;
  paidAt: string;
  reversals: Array<{ kind: ReversalKind; receiptNo: number; points: number; at: string; staffId: number }>;
  reversedPoints: number;
  netPoints: number;
}

/** A shop's payments paid on a Japanese calendar date. */
export interface PaymentsOfDay {
  date: string;
  payments: DayPayment[];
  totals: { count: number; paidPoints: number; reversedPoints: number; netPoints: number };
}
