// Shops (加盟店): a shop's application, as the public form sends it and the backend checks it,
// and a shop as the town's administrator sees it (docs/shops.md).
import type { BankAccount } from './zengin.ts';

/** What a shop sells, as a town groups its shops: a fixed list, so the figures add up across towns. */
export const SHOP_CATEGORIES = ['grocery', 'restaurant', 'retail', 'services', 'health', 'lodging', 'other'] as const;
export type ShopCategory = (typeof SHOP_CATEGORIES)[number];

export const SHOP_CATEGORY_NAMES: Readonly<Record<ShopCategory, { ja: string; en: string }>> = {
  grocery: { ja: '食料品', en: 'Groceries' },
  restaurant: { ja: '飲食店', en: 'Restaurant' },
  retail: { ja: '小売（食料品以外）', en: 'Retail (other than food)' },
  services: { ja: 'サービス（理美容・クリーニングなど）', en: 'Services (hair, cleaning …)' },
  health: { ja: '医療・薬局', en: 'Health and pharmacy' },
  lodging: { ja: '宿泊', en: 'Lodging' },
  other: { ja: 'その他', en: 'Other' },
};

/** The longest name (either language), address, person's name and e-mail address (RFC 5321's path). */
export const SHOP_NAME_MAX = 100;
export const SHOP_ADDRESS_MAX = 200;
export const SHOP_PERSON_MAX = 100;
export const SHOP_EMAIL_MAX = 254;
/** A Japanese telephone number as people write it: digits, optionally with hyphens, 10 or 11 digits. */
export const SHOP_PHONE = /^0\d{1,4}-?\d{1,4}-?\d{3,4}$/;

export type ShopStatus = 'pending' | 'approved' | 'rejected' | 'suspended';

/** What a shop applies with; the bank names as the applicant typed them (the backend normalises). */
export interface ShopApplication {
  municipalityCode: string;
  nameJa: string;
  nameEn: string;
  address: string;
  category: ShopCategory;
  representative: string;
  phone: string;
  email: string;
  bankAccount: BankAccount;
}

/** The applicant's receipt: the application's number and the bank account as the transfer will write it. */
export interface ShopApplicationReceipt { applicationId: number; status: 'pending'; municipality: { code: string; nameJa: string; nameEn: string }; bankAccount: BankAccount }

/** A town the public form offers. */
export interface ApplicationTown { code: string; nameJa: string; nameEn: string }

/** A shop in the administrator's list. */
export interface ShopSummary {
  id: number;
  slug: string;
  nameJa: string;
  nameEn: string;
  status: ShopStatus;
  /** Null for shops that came before applications (the demo's seeds). */
  category: ShopCategory | null;
  appliedAt: string | null;
}

/** A shop, or an application, in full: what the administrator reviews. */
export interface ShopView extends ShopSummary {
  address: string | null;
  representative: string | null;
  phone: string | null;
  email: string | null;
  bankAccount: BankAccount | null;
  /** Why it was last rejected or suspended; null once approved or reinstated. */
  statusReason: string | null;
  /** When its status last changed by staff. */
  decidedAt: string | null;
}
