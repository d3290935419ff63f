// A settlement statement as the API returns it (backend/src/settlement/statement.ts computes
// it) and the console reads it.

export interface Figure { count: number; points: number }
export interface Named { id: number; slug: string; name: { ja: string; en: string } }

export interface MerchantLine extends Named { payments: Figure; refunds: Figure; voids: Figure; netPoints: number }
export interface PartnerLine extends Named { conversions: Figure }
export interface CampaignLine extends Named { premiums: Figure; grants: Figure; totalPoints: number }

export interface Statement {
  municipality: { code: string; name: { ja: string; en: string } };
  period: { from: string; to: string; timeZone: 'Asia/Tokyo'; startsAt: string; endsBefore: string };
  /** Owed by the municipality to each shop: payments − refunds − voids. */
  merchants: MerchantLine[];
  merchantTotals: Omit<MerchantLine, keyof Named>;
  /** Owed by each partner to the municipality: the base points its conversions credited. */
  partners: PartnerLine[];
  partnerTotals: Omit<PartnerLine, keyof Named>;
  /** The municipality's own cost: premiums on conversions and grants, per campaign. */
  campaigns: CampaignLine[];
  campaignTotals: Omit<CampaignLine, keyof Named>;
}

export const STATEMENT_KINDS = ['merchants', 'partners', 'campaigns'] as const;
export type StatementKind = (typeof STATEMENT_KINDS)[number];
