// The demo's two towns, みらい市 and あおば町, and the partner they work with: what the seeds
// (seeds/) put in the database, and what the tests of every workspace sign in with and look for.
// The demo and the tests always show two towns side by side, so what one town's staff, shops
// and devices may do to the other's residents and records is visible, not assumed.

export const DEMO_MUNICIPALITY = { code: '139998', name_ja: 'みらい市（デモ）', name_en: 'Mirai City (demo)' };

export const DEMO_MERCHANTS = [
  { slug: 'demo-bakery', name_ja: 'みらいベーカリー', name_en: 'Mirai Bakery' },
  { slug: 'demo-greengrocer', name_ja: '駅前青果店', name_en: 'Ekimae Greengrocer' },
  { slug: 'demo-bookshop', name_ja: 'ひかり書店', name_en: 'Hikari Bookshop' },
];

export const DEMO_PARTNER = {
  slug: 'demo-card', name_ja: 'デモカード株式会社', name_en: 'Demo Card Co., Ltd.',
  kind: 'card_points', rate_units: 100, rate_points: 80,
};

/** The demo partner's agreement with each demo town (`npm run mykey -- partner-agreement list`). */
export const DEMO_AGREEMENT = { starts_on: '2026-04-01' };

export const DEMO_CAMPAIGN = {
  slug: 'demo-shopping-2026', name_ja: 'みらい市 地域応援ポイント 2026', name_en: 'Mirai City local support points 2026',
  premium_percent: 20, budget_points: 10_000_000, cap_per_resident_points: 5_000,
  starts_on: '2026-04-01', ends_on: '2027-03-31',
};

/** Demo staff accounts; their password is printed by `npm start`. Never used outside a demo. */
export const DEMO_PASSWORD = 'mirai-demo-counter';
export const DEMO_STAFF = [
  { login_id: 'demo-shop', display_name: '店員 花子', organization_kind: 'merchant', roles: 'owner', merchant: 'demo-bakery' },
  { login_id: 'demo-city', display_name: '市職員 太郎', organization_kind: 'municipality', roles: 'administrator,operator', merchant: null },
  { login_id: 'demo-auditor', display_name: '監査委員 三郎', organization_kind: 'municipality', roles: 'auditor', merchant: null },
] as const;

/** A demo town's rows: the municipality, its shops, a funded campaign, its staff accounts and the demo partner's agreement with it. */
/** The event categories every demo town starts with (docs/events.md); its staff add and rename their own. */
export const DEMO_EVENT_CATEGORIES = [
  { name_ja: 'ボランティア', name_en: 'Volunteering' },
  { name_ja: '健康診断', name_en: 'Health check-up' },
  { name_ja: '生涯学習', name_en: 'Lifelong learning' },
  { name_ja: '子育て教室', name_en: 'Child-rearing class' },
  { name_ja: '地域行事', name_en: 'Community event' },
] as const;

/**
 * The town as the payer of its Zengin transfer file (municipality_payers; docs/settlement.md):
 * a made-up requester code at a made-up demo bank, names already in Zengin text.
 */
export const DEMO_PAYER = {
  requester_code: '1399980001', requester_name_kana: 'ﾐﾗｲｼ(ﾃﾞﾓ) ｶｲｹｲｶﾝﾘｼﾔ', bank_code: '0999', bank_name_kana: 'ﾃﾞﾓｷﾞﾝｺｳ',
  branch_code: '001', branch_name_kana: 'ｼﾔｸｼﾖﾏｴ', account_type: 'current', account_number: '1399980',
} as const;

export interface DemoTown {
  municipality: { code: string; name_ja: string; name_en: string };
  merchants: ReadonlyArray<{ slug: string; name_ja: string; name_en: string }>;
  campaign: typeof DEMO_CAMPAIGN;
  /** `roles`: the staff_accounts SET, its members joined by commas (docs/security/staff.md#roles). */
  staff: ReadonlyArray<{ login_id: string; display_name: string; organization_kind: 'merchant' | 'municipality'; roles: string; merchant: string | null }>;
  payer: Record<keyof typeof DEMO_PAYER, string>;
}

// The second town, あおば町.

/** 13997 with its check digit 1: a made-up code that belongs to no real local government. */
export const DEMO_SECOND_MUNICIPALITY = { code: '139971', name_ja: 'あおば町（デモ）', name_en: 'Aoba Town (demo)' };

export const DEMO_SECOND_MERCHANTS = [
  { slug: 'demo-aoba-cafe', name_ja: 'あおば珈琲店', name_en: 'Aoba Coffee' },
];

export const DEMO_SECOND_CAMPAIGN = {
  slug: 'demo-aoba-2026', name_ja: 'あおば町 くらし応援ポイント 2026', name_en: 'Aoba Town living support points 2026',
  premium_percent: 10, budget_points: 2_000_000, cap_per_resident_points: 3_000,
  starts_on: '2026-04-01', ends_on: '2027-03-31',
};

/** Its staff, with the same demo password as the first town's. */
export const DEMO_SECOND_STAFF = [
  { login_id: 'demo-aoba-shop', display_name: '店員 桜', organization_kind: 'merchant', roles: 'owner', merchant: 'demo-aoba-cafe' },
  { login_id: 'demo-aoba-city', display_name: '町職員 次郎', organization_kind: 'municipality', roles: 'administrator,operator', merchant: null },
] as const;

export const DEMO_SECOND_PAYER = {
  requester_code: '1399710001', requester_name_kana: 'ｱｵﾊﾞﾁﾖｳ(ﾃﾞﾓ) ｶｲｹｲｶﾝﾘｼﾔ', bank_code: '0999', bank_name_kana: 'ﾃﾞﾓｷﾞﾝｺｳ',
  branch_code: '002', branch_name_kana: 'ｱｵﾊﾞ', account_type: 'current', account_number: '1399710',
} as const;
