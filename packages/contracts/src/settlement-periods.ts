// Closed settlement periods as the API returns them (backend/src/settlement/periods.ts) and the
// console reads them: the period, what it pays each shop, what each partner owes, the payer.
import type { Figure, MerchantLine, Named, Statement } from './statement-shape.ts';
import type { AccountType } from './zengin.ts';

export interface ClosedPeriod {
  id: number;
  /** Japan dates, both included. */
  from: string;
  to: string;
  /** 振込指定日: the day the transfer file pays the shops. */
  payOn: string;
  closedAt: string;
  /** The staff member who closed it, by display name. */
  closedBy: string;
  /** The sum of what the transfer file pays, and to how many shops. */
  transfers: Figure;
}

/** What a closed period pays one shop (docs/settlement.md#what-a-shop-is-paid). */
export interface Payout {
  merchantId: number;
  netPoints: number;
  /** What the shop still owed from earlier periods: 0 or negative. */
  carriedPoints: number;
  /** net + carried, at least 0: the amount of its transfer. */
  transferPoints: number;
}

export interface ClosedPeriodDetail { period: ClosedPeriod; statement: Statement; payouts: Payout[] }

/** A shop's own view of a closed period. */
export interface MerchantClosedPeriod { period: Omit<ClosedPeriod, 'closedBy' | 'transfers'>; line: MerchantLine; payout: Payout }

/** What one partner owes the municipality for a closed period: its conversions' base points, 1 point = 1 yen. */
export interface PartnerInvoice { partner: Named; conversions: Figure; amountYen: number }

export interface PartnerInvoices { municipality: Statement['municipality']; period: Pick<ClosedPeriod, 'id' | 'from' | 'to'>; invoices: PartnerInvoice[]; totalYen: number }

/** The municipality as the payer in the transfer file's header (振込依頼人). */
export interface Payer {
  requesterCode: string;
  requesterNameKana: string;
  bankCode: string;
  bankNameKana: string;
  branchCode: string;
  branchNameKana: string;
  accountType: Exclude<AccountType, 'savings'>;
  accountNumber: string;
}
