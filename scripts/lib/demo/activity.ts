// The demo towns' recent activity (docs/operations.md#what-the-demo-holds): about sixty days of
// what a town, its residents and its shops do — MyKey IDs issued at the town's counter, partner
// conversions with their premiums, grants by category, points earned at events, payments at every
// shop with refunds and voids, points that expired, a campaign from its start to its end, and one
// closed settlement period with its transfer file — so that a newcomer's first look at every
// screen and chart shows something real.
//
// Everything is made by the platform's own operations, the functions the routes and the worker
// call, each given its moment in the past as `now`; nothing writes a balance or a ledger row.
// What happens is planned first, as plain data from a seeded sequence (planTown: no database, no
// clock), so the demo is the same every time and a test can count it. The plan is dated from an
// anchor day: the day the demo was first made (kept as its limited-time campaign's first day), so
// running it again, on any later day, replays the same plan and adds nothing: each operation is
// skipped when what it makes is there (a ledger reference, a paid time, a MyKey ID's card, a
// partnerTxId), or replayed by the platform itself.
import { createHash, randomBytes } from 'node:crypto';
import type { Knex } from 'knex';
import type * as pkijs from 'pkijs';
import type { Db } from '@mykey/backend/db.ts';
import type { Logger } from '@mykey/backend/log.ts';
import type { Problem } from '@mykey/backend/http/problems.ts';
import { addDays } from '@mykey/backend/campaign-figures/service.ts';
import { campaignsRepository } from '@mykey/backend/campaigns/repository.ts';
import { changeStatus, createCampaign, fund, listCampaigns, moneyReference } from '@mykey/backend/campaigns/service.ts';
import type { VerifiedCard } from '@mykey/backend/card-taps/purposes.ts';
import { acceptConversions, checkConversion, type ConvertingPartner } from '@mykey/backend/conversions/intake.ts';
import { processConversions } from '@mykey/backend/conversions/process.ts';
import { devicesRepository, type EnrolledDevice } from '@mykey/backend/devices/repository.ts';
import { enroll, issueCode } from '@mykey/backend/devices/service.ts';
import { eventsRepository, type Category } from '@mykey/backend/events/repository.ts';
import { attend, createEvent, listEvents, setEventDevices } from '@mykey/backend/events/service.ts';
import { grantOne, singleGrantReference } from '@mykey/backend/grants/service.ts';
import { CertificateVerifier } from '@mykey/backend/jpki/verifier.ts';
import { expireDueLots } from '@mykey/backend/ledger/expiry-job.ts';
import { inLedgerTransaction } from '@mykey/backend/ledger/ledger.ts';
import { ledgerRepository } from '@mykey/backend/ledger/repository.ts';
import { endOfTokyoDay, tokyoDate } from '@mykey/backend/ledger/rules.ts';
import { keyOf, loginOrIssue } from '@mykey/backend/mykey/service.ts';
import { partnerRepository } from '@mykey/backend/partners/repository.ts';
import { paymentsRepository } from '@mykey/backend/payments/repository.ts';
import { challengeTerms, createIntent, pay, refund, voidPayment } from '@mykey/backend/payments/service.ts';
import { closedPeriods, closePeriod } from '@mykey/backend/settlement/periods.ts';
import { bankAccountBody } from '@mykey/backend/shops/routes.ts';
import { listShops, setBankAccount } from '@mykey/backend/shops/service.ts';
import { issueInvitation, redeemInvitation } from '@mykey/backend/staff/invitations.ts';
import { staffRepository, type SignedInStaff } from '@mykey/backend/staff/repository.ts';
import { staffPasswordCost } from '@mykey/backend/config.ts';
import type { CampaignView } from '@mykey/contracts/campaigns.ts';
import type { GrantCampaign } from '@mykey/contracts/grants.ts';
import type { ShopSummary } from '@mykey/contracts/shops.ts';
import {
  DEMO_CAMPAIGN, DEMO_EVENT_CAMPAIGN, DEMO_GRANT_CAMPAIGN, DEMO_MUNICIPALITY, DEMO_PARTNER, DEMO_SECOND_CAMPAIGN, DEMO_SECOND_EVENT_CAMPAIGN,
  DEMO_SECOND_GRANT_CAMPAIGN, DEMO_SECOND_MUNICIPALITY, type DemoCampaign,
} from '@mykey/dev-tools/demo-towns.ts';
import { generateKeyPair, issueCertificate, type CertificateAuthority } from '@mykey/dev-tools/dev-ca/index.ts';

/** How far back the activity goes, in days before the anchor day. */
export const DEMO_DAYS = 60;

/** Residents chosen by their number: those with `i % every === at`. */
interface Some { every: number; at: number }

const isOf = (some: Some, i: number) => i % some.every === some.at;

interface ShopPlan {
  slug: string;
  /** Who takes its payments: the seeded owner, or one the town's administrator invites here. */
  owner: { loginId: string; displayName: string };
  register: string;
  /** The account its settlement is paid to, as the shop typed it (normalised as the shops route does). */
  bankAccount: Record<string, string>;
  prices: number[];
  /** At most this many payments a day. */
  perDay: number;
}

export interface TownPlan {
  code: string;
  admin: string;
  counter: string;
  residents: number;
  campaigns: { premium: DemoCampaign; grant: DemoCampaign; event: DemoCampaign };
  /** The demo's own campaign: from plan to end within the sixty days, its points valid a month. */
  limited: { nameJa: string; nameEn: string; budgetPoints: number; capPerResidentPoints: number; grantPoints: number; reason: string };
  shops: ShopPlan[];
  /** Grants at the counter, by category, some days after a resident's first visit. */
  grants: Array<{ category: string; points: number; reason: string; who: Some; daysAfterFirstVisit: number }>;
  events: Array<{ nameJa: string; nameEn: string; category: string; day: number; points: number; device: string; who: Some }>;
}

const bank = (branchCode: string, branchNameKana: string, accountNumber: string, holderKana: string) =>
  ({ bankCode: '0999', bankNameKana: 'デモギンコウ', branchCode, branchNameKana, accountType: 'ordinary', accountNumber, holderKana });

export const DEMO_TOWN_PLANS: TownPlan[] = [
  {
    code: DEMO_MUNICIPALITY.code, admin: 'demo-city', counter: 'みらい市 市民課窓口', residents: 24,
    campaigns: { premium: DEMO_CAMPAIGN, grant: DEMO_GRANT_CAMPAIGN, event: DEMO_EVENT_CAMPAIGN },
    limited: { nameJa: 'まちなか応援ポイント（期間限定）', nameEn: 'Downtown support points (limited time)', budgetPoints: 60_000, capPerResidentPoints: 3_000, grantPoints: 2_000, reason: 'まちなか応援ポイント（窓口で交付）' },
    shops: [
      { slug: 'demo-bakery', owner: { loginId: 'demo-shop', displayName: '店員 花子' }, register: 'みらいベーカリー レジ1', bankAccount: bank('011', 'ミライエキマエ', '0012345', 'ミライベーカリー'), prices: [280, 360, 450, 520, 680, 800, 1_200], perDay: 3 },
      { slug: 'demo-greengrocer', owner: { loginId: 'demo-greengrocer-owner', displayName: '店主 青木 健' }, register: '駅前青果店 レジ', bankAccount: bank('011', 'ミライエキマエ', '0023456', 'エキマエセイカテン アオキ ケン'), prices: [198, 350, 480, 760, 980, 1_500], perDay: 2 },
      { slug: 'demo-bookshop', owner: { loginId: 'demo-bookshop-owner', displayName: '店主 本田 ひかり' }, register: 'ひかり書店 レジ', bankAccount: bank('012', 'ミライホンチヨウ', '0034567', 'ヒカリシヨテン ホンダ ヒカリ'), prices: [660, 880, 990, 1_320, 1_540], perDay: 1 },
    ],
    grants: [
      { category: '健康診断', points: 1_000, reason: '特定健診の受診', who: { every: 3, at: 0 }, daysAfterFirstVisit: 4 },
      { category: '子育て教室', points: 3_000, reason: '子育て応援（教室の修了）', who: { every: 5, at: 1 }, daysAfterFirstVisit: 9 },
      { category: '生涯学習', points: 500, reason: '市民講座の修了', who: { every: 4, at: 2 }, daysAfterFirstVisit: 15 },
    ],
    events: [
      { nameJa: '秋の河川敷クリーン作戦', nameEn: 'Autumn riverside clean-up', category: 'ボランティア', day: -46, points: 500, device: '河川敷クリーン作戦 受付', who: { every: 2, at: 0 } },
      { nameJa: 'みらい健康フェスタ', nameEn: 'Mirai health festival', category: '健康診断', day: -18, points: 300, device: '健康フェスタ 受付', who: { every: 3, at: 1 } },
    ],
  },
  {
    code: DEMO_SECOND_MUNICIPALITY.code, admin: 'demo-aoba-city', counter: 'あおば町 役場窓口', residents: 8,
    campaigns: { premium: DEMO_SECOND_CAMPAIGN, grant: DEMO_SECOND_GRANT_CAMPAIGN, event: DEMO_SECOND_EVENT_CAMPAIGN },
    limited: { nameJa: 'あおば町 くらし応援ポイント（期間限定）', nameEn: 'Aoba Town living support points (limited time)', budgetPoints: 20_000, capPerResidentPoints: 3_000, grantPoints: 2_000, reason: 'くらし応援ポイント（窓口で交付）' },
    shops: [
      { slug: 'demo-aoba-cafe', owner: { loginId: 'demo-aoba-shop', displayName: '店員 桜' }, register: 'あおば珈琲店 レジ1', bankAccount: bank('002', 'アオバ', '0045678', 'アオバコーヒーテン'), prices: [350, 420, 480, 550, 650, 900], perDay: 2 },
    ],
    grants: [
      { category: '健康診断', points: 1_000, reason: '特定健診の受診', who: { every: 2, at: 1 }, daysAfterFirstVisit: 6 },
    ],
    events: [
      { nameJa: 'あおば町 秋祭り', nameEn: 'Aoba Town autumn festival', category: '地域行事', day: -35, points: 500, device: '秋祭り 受付', who: { every: 2, at: 0 } },
    ],
  },
];

/** One thing that happens, at its moment. Residents, grants, events and payments by their number in the plan. */
export type Step = { at: Date } & (
  | { kind: 'issue'; resident: number }
  | { kind: 'limited_grant'; resident: number }
  | { kind: 'grant'; resident: number; grant: number }
  | { kind: 'attend'; resident: number; event: number }
  | { kind: 'conversion'; resident: number; partnerTxId: string; partnerPoints: number }
  | { kind: 'payment'; payment: number; shop: number; resident: number; amount: number }
  | { kind: 'refund'; payment: number; points: number }
  | { kind: 'void'; payment: number }
  | { kind: 'expiry' }
  | { kind: 'end_limited' }
  | { kind: 'close'; from: string; to: string; payOn: string });

export type StepKind = Step['kind'];

/** A sequence of numbers in [0, 1) from a seed (mulberry32): the same seed, the same demo. */
function seededSequence(seed: string): () => number {
  let state = createHash('sha256').update(seed).digest().readUInt32BE(0);
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = Math.imul(state ^ (state >>> 15), state | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4_294_967_296;
  };
}

/** `minutes` after midnight (Japan) of the day `day` days after the anchor day. */
const momentOf = (anchor: string, day: number, minutes: number): Date =>
  new Date(endOfTokyoDay(addDays(anchor, day - 1)).getTime() + minutes * 60_000);

/** The day of their first visit to the counter: spread over the first two thirds of the sixty days. */
const firstVisit = (plan: TownPlan, i: number) => -DEMO_DAYS + Math.floor((i * 38) / plan.residents);

/** Whether the campaign pays on the day (its dates; the seeds keep it running). */
const runsOn = (campaign: DemoCampaign, date: string) => campaign.starts_on <= date && date <= campaign.ends_on;

/**
 * The period the demo closes: the last calendar month that ended at least two days before the
 * anchor day, closed on the 2nd of the month after at 10:00 and paid on the 10th; always before
 * the anchor day.
 */
function closingOf(anchor: string): { from: string; to: string; payOn: string; at: Date } {
  const [year, month, day] = anchor.split('-').map(Number) as [number, number, number];
  const back = day >= 3 ? 1 : 2;
  const iso = (d: Date) => d.toISOString().slice(0, 10);
  const next = iso(new Date(Date.UTC(year, month - back, 1)));
  return {
    from: iso(new Date(Date.UTC(year, month - 1 - back, 1))), to: iso(new Date(Date.UTC(year, month - back, 0))),
    payOn: addDays(next, 9), at: new Date(endOfTokyoDay(next).getTime() + 10 * 3_600_000),
  };
}

/** What the parts of a town's plan share: the plan, its dates, its sequence, and each resident's lasting credits so far. */
interface Planning {
  plan: TownPlan;
  anchor: string;
  at: (day: number, minutes: number) => Date;
  random: () => number;
  pick: <T>(list: readonly T[]) => T;
  /** Per resident, the points credited that last (not the limited-time ones) and when. */
  credits: Array<Array<{ at: Date; points: number }>>;
}

/**
 * Everything that happens in the town over the sixty days before `anchor` (YYYY-MM-DD, Japan),
 * in the order it happens. Pure: the same plan and anchor give the same steps.
 */
export function planTown(plan: TownPlan, anchor: string): Step[] {
  const random = seededSequence(`mykey-demo:${plan.code}`);
  const planning: Planning = {
    plan, anchor, random, at: (day, minutes) => momentOf(anchor, day, minutes),
    pick: (list) => list[Math.floor(random() * list.length)]!, credits: Array.from({ length: plan.residents }, () => []),
  };
  const steps = [...residentSteps(planning), ...eventSteps(planning), ...paymentSteps(planning), ...townSteps(planning)];
  // Stable: steps at the same moment keep the order they were planned in.
  return steps.map((step, n) => ({ step, n })).sort((a, b) => a.step.at.getTime() - b.step.at.getTime() || a.n - b.n).map(({ step }) => step);
}

/** Each resident's first visit (the MyKey ID and the limited-time points), their conversions and their grants at the counter. */
function residentSteps({ plan, anchor, at, pick, credits }: Planning): Step[] {
  const steps: Step[] = [];
  for (let i = 0; i < plan.residents; i++) {
    const day = firstVisit(plan, i);
    steps.push({ kind: 'issue', resident: i, at: at(day, 9 * 60 + (i % 8) * 25) });
    steps.push({ kind: 'limited_grant', resident: i, at: at(day, 9 * 60 + (i % 8) * 25 + 3) });
    // Most residents convert their card points now and then: the partner's night batch.
    for (let k = 0; k < 3 && i % 6 !== 5; k++) {
      const convertOn = day + 1 + k * 12 + (i % 5);
      if (convertOn > -1) break;
      const partnerPoints = pick([1_250, 2_500, 3_750, 5_000, 6_250]);
      const accepted = at(convertOn, 2 * 60 + i);
      steps.push({ kind: 'conversion', resident: i, partnerTxId: `demo-${plan.code}-${i}-${k}`, partnerPoints, at: accepted });
      // Credited a minute and a half later (the worker's processing): the points that count are the base.
      credits[i]!.push({ at: new Date(accepted.getTime() + 90_000), points: Math.floor((partnerPoints * DEMO_PARTNER.rate_points) / DEMO_PARTNER.rate_units) });
    }
    plan.grants.forEach((grant, g) => {
      const grantOn = day + grant.daysAfterFirstVisit;
      if (!isOf(grant.who, i) || grantOn > -1 || !runsOn(plan.campaigns.grant, addDays(anchor, grantOn))) return;
      const granted = at(grantOn, 10 * 60 + i * 3 + g);
      steps.push({ kind: 'grant', resident: i, grant: g, at: granted });
      credits[i]!.push({ at: granted, points: grant.points });
    });
  }
  return steps;
}

/** The residents' taps at the town's events (those who had visited the counter before). */
function eventSteps({ plan, anchor, at, credits }: Planning): Step[] {
  return plan.events.flatMap((event, e) => {
    if (!runsOn(plan.campaigns.event, addDays(anchor, event.day))) return [];
    return Array.from({ length: plan.residents }, (_, i) => i).filter((i) => isOf(event.who, i) && firstVisit(plan, i) < event.day).map((i): Step => {
      const tapped = at(event.day, 10 * 60 + i * 7);
      credits[i]!.push({ at: tapped, points: event.points });
      return { kind: 'attend', resident: i, event: e, at: tapped };
    });
  });
}

/**
 * The payments at the town's shops, day by day, with a few voids and refunds. Payments never
 * outrun the points: a resident pays only what their lasting credits came to before, less what
 * they paid already. The limited-time points are not counted: payments take the points that
 * expire first, so they are what is spent, and what is left of them expires. A quarter of the
 * residents never pay: their limited-time points all expire.
 */
function paymentSteps({ plan, at, random, pick, credits }: Planning): Step[] {
  const steps: Step[] = [];
  const payers = Array.from({ length: plan.residents }, (_, i) => i).filter((i) => i % 4 !== 3);
  const spent = credits.map(() => 0);
  const affordable = (i: number, when: Date) => credits[i]!.reduce((sum, c) => (c.at < when ? sum + c.points : sum), 0) - spent[i]!;
  let payments = 0;
  for (let day = -DEMO_DAYS; day <= -1; day++) {
    // The day's payments in the order they happen, so each is planned against what was paid before it.
    const slots = plan.shops.flatMap((shop, s) => Array.from({ length: Math.floor(random() * (shop.perDay + 1)) }, () => ({ shop: s, minute: 10 * 60 + Math.floor(random() * 540) })))
      .sort((a, b) => a.minute - b.minute || a.shop - b.shop);
    slots.forEach((slot, n) => {
      // A second apart when two fall in the same minute: each payment has its own moment.
      const paidAt = new Date(at(day, slot.minute).getTime() + n * 1_000);
      const shop = plan.shops[slot.shop]!;
      for (let attempt = 0; attempt < 3; attempt++) {
        const resident = pick(payers);
        const amount = pick(shop.prices);
        if (firstVisit(plan, resident) >= day || affordable(resident, paidAt) < amount) continue;
        spent[resident]! += amount;
        const payment = payments++;
        steps.push({ kind: 'payment', payment, shop: slot.shop, resident, amount, at: paidAt });
        // Now and then the clerk voids at once (a wrong amount), or refunds part the next day (a return).
        if (payment % 23 === 7) steps.push({ kind: 'void', payment, at: new Date(paidAt.getTime() + 8 * 60_000) });
        else if (payment % 9 === 4 && day <= -2) steps.push({ kind: 'refund', payment, points: Math.max(10, Math.floor(amount / 20) * 10), at: at(day + 1, 13 * 60 + (payment % 120)) });
        return;
      }
    });
  }
  return steps;
}

/** The platform's nightly expiry, the limited-time campaign's end, and the town closing its last month. */
function townSteps({ anchor, at }: Planning): Step[] {
  const nights = Array.from({ length: DEMO_DAYS - 1 }, (_, n): Step => ({ kind: 'expiry', at: at(n - DEMO_DAYS + 1, 5) }));
  const closing = closingOf(anchor);
  return [...nights, { kind: 'end_limited', at: at(-20, 9 * 60) }, { kind: 'close', from: closing.from, to: closing.to, payOn: closing.payOn, at: closing.at }];
}

/**
 * What a run did in a town: per kind of step, how many the plan has and how many this run made
 * (the rest were there already); for `expiry`, the plan's nightly runs and the expiry entries posted.
 */
export interface TownActivity { code: string; anchor: string; planned: Record<StepKind, number>; made: Record<StepKind, number> }

const STEP_KINDS: StepKind[] = ['issue', 'limited_grant', 'grant', 'attend', 'conversion', 'payment', 'refund', 'void', 'expiry', 'end_limited', 'close'];

const tally = (): Record<StepKind, number> => Object.fromEntries(STEP_KINDS.map((kind) => [kind, 0])) as Record<StepKind, number>;

export interface DemoActivityDeps {
  db: Db;
  /** The MyKey secret the server uses (its IDs depend on it). */
  secret: Buffer;
  /** The development CA the residents' cards come from, and the trust anchors the server is given. */
  ca: CertificateAuthority;
  anchors: pkijs.Certificate[];
  log: Logger;
  /** The moment of the run: the certificates are read then; the first run's Japanese date is the anchor. */
  now?: Date;
}

/** The demo activity of both towns; see the top of the file. */
export async function makeDemoActivity(deps: DemoActivityDeps): Promise<TownActivity[]> {
  const now = deps.now ?? new Date();
  // One key for every demo card: RSA key generation is slow, and the platform keeps only a keyed hash of issuer and serial.
  const keys = await generateKeyPair();
  const verifier = new CertificateVerifier({ anchors: deps.anchors, db: deps.db, policy: 'fail-closed', log: deps.log });
  const activity: TownActivity[] = [];
  for (const plan of DEMO_TOWN_PLANS) activity.push(await townActivity({ ...deps, now, keys, verifier }, plan));
  return activity;
}

type RunDeps = DemoActivityDeps & { now: Date; keys: CryptoKeyPair; verifier: CertificateVerifier };

/** A staff member as the routes see them after sign-in. */
async function staffOf(db: Db, loginId: string): Promise<SignedInStaff | undefined> {
  const account = await staffRepository.findByLogin(db, loginId);
  return account && staffRepository.staffById(db, account.id);
}

/**
 * A shop's owner: the seeded one, or one the town's administrator invites (the platform's one
 * way to a shop's first account). Nobody signs in as an invited demo owner: its password is
 * random and never kept, so no account with a known password is made here.
 */
async function shopOwner(db: Db, admin: SignedInStaff, shop: ShopSummary, owner: ShopPlan['owner'], at: Date): Promise<SignedInStaff> {
  const existing = await staffOf(db, owner.loginId);
  if (existing) return existing;
  const invitation = await db.transaction((trx) => issueInvitation(trx, { staffId: admin.id, municipalityCode: admin.municipalityCode },
    { organization: { kind: 'merchant', id: String(shop.id), name: { ja: shop.nameJa, en: shop.nameEn } }, roles: ['owner'], displayName: owner.displayName }, at));
  await redeemInvitation(db, { code: invitation.code, loginId: owner.loginId, password: randomBytes(24).toString('base64url') }, staffPasswordCost(), new Date(at.getTime() + 3_600_000));
  return (await staffOf(db, owner.loginId))!;
}

/** A device of the staff member's organization by its name, enrolled with a code they issue when it is not there yet. */
async function device(db: Db, staff: SignedInStaff, name: string, at: Date): Promise<EnrolledDevice> {
  const organization = { kind: staff.organization.kind, id: staff.organization.id };
  const found = (await devicesRepository.list(db, organization)).find((d) => d.name === name && d.status === 'active');
  const id = found?.id ?? await (async () => {
    const code = await db.transaction((trx) => issueCode(trx, staff, name, at));
    return (await enroll(db, code.code, undefined, new Date(at.getTime() + 120_000))).deviceId;
  })();
  return { id, organization, municipalityCode: staff.municipalityCode };
}

/** The demo's limited-time campaign, by its name: its start day dates the whole plan. */
async function limitedCampaign(db: Db, admin: SignedInStaff, plan: TownPlan, now: Date): Promise<CampaignView | undefined> {
  return (await listCampaigns(db, admin, now)).campaigns.find((c) => c.nameJa === plan.limited.nameJa);
}

/** The limited-time campaign made, funded and started (each only if not yet), two days before the activity. */
async function prepareLimited(db: Db, admin: SignedInStaff, plan: TownPlan, anchor: string, now: Date): Promise<CampaignView> {
  const { limited } = plan;
  let campaign = await limitedCampaign(db, admin, plan, now) ?? await db.transaction((trx) => createCampaign(trx, admin, {
    kind: 'administrative', nameJa: limited.nameJa, nameEn: limited.nameEn, startsOn: addDays(anchor, -DEMO_DAYS), endsOn: addDays(anchor, -21),
    premiumPercent: 0, capPerResidentPoints: limited.capPerResidentPoints, budgetPoints: limited.budgetPoints, validity: { months: 1 }, merchantIds: null, partnerIds: null,
  }, momentOf(anchor, -DEMO_DAYS - 2, 10 * 60)));
  if (campaign.fundedPoints === 0) {
    const reference = moneyReference('funding', campaign.id, admin.id, 'demo-activity');
    campaign = await inLedgerTransaction(db, (trx) => fund(trx, admin, campaign.id, limited.budgetPoints, reference, momentOf(anchor, -DEMO_DAYS - 1, 10 * 60)));
  }
  if (campaign.status === 'planned') campaign = await db.transaction((trx) => changeStatus(trx, admin, campaign.id, 'start', momentOf(anchor, -DEMO_DAYS, 8 * 60 + 30)));
  return campaign;
}

/** A grant campaign by id or slug, as the grants route hands it to grantOne. */
async function grantCampaign(db: Db, code: string, idOrSlug: string, now: Date): Promise<GrantCampaign> {
  const campaign = await campaignsRepository.campaignWithBudget(db, code, idOrSlug, now);
  if (!campaign) throw new Error(`the demo town ${code} has no campaign ${idOrSlug}: seed the demo first`);
  return campaign;
}

/** A resident's card: a certificate the development CA mints (a fixed serial: the same card every run), read and checked as the server checks it. */
async function residentCard(deps: RunDeps, code: string, i: number): Promise<VerifiedCard> {
  // Cards issued a year before the run, so they are valid at every moment the plan uses them.
  const notBefore = new Date(deps.now.getTime() - 365 * 86_400_000);
  const certificate = await issueCertificate(deps.ca, { serialNumberHex: `DE30${code}${String(i).padStart(4, '0')}`, keys: deps.keys, notBefore });
  const verdict = await deps.verifier.verify(certificate.certificateDer, { valueMoving: false, now: deps.now });
  if (!verdict.ok) throw new Error(`the demo's card ${certificate.serialNumberHex} is refused (${verdict.code}: ${verdict.detail}); the server must trust the development CA`);
  const card = { issuerDer: verdict.issuerDer, serialHex: verdict.serialHex };
  return { ...card, certKey: keyOf(deps.secret, card), revocationChecked: verdict.revocationChecked, proof: 'pin' };
}

/** Runs a step's operation; a refusal names the step, so a demo that cannot be made says where. */
async function run<T>(step: Step, operation: () => Promise<T>): Promise<T> {
  try {
    return await operation();
  } catch (error) {
    throw new Error(`demo activity: ${step.kind} at ${step.at.toISOString()} failed: ${(error as Problem).code ?? ''} ${(error as Error).message}`, { cause: error });
  }
}

/** A town ready for its plan: its staff, devices, campaigns, events, the partner, and its residents' cards. */
interface Town {
  plan: TownPlan;
  anchor: string;
  admin: SignedInStaff;
  limitedId: number;
  shops: Array<{ id: number; owner: SignedInStaff; register: EnrolledDevice }>;
  counter: EnrolledDevice;
  events: Array<{ id: number; desk: EnrolledDevice }>;
  campaigns: { limited: GrantCampaign; grant: GrantCampaign };
  categories: Map<string, Category>;
  partner: ConvertingPartner;
  cards: VerifiedCard[];
}

/**
 * What the town prepares two days before the sixty: the limited-time campaign, its shops' owners,
 * registers and bank accounts, its counter, its events with their reception devices. Each is
 * looked up first and made only when missing.
 */
async function prepareTown(deps: RunDeps, plan: TownPlan): Promise<Town> {
  const { db, now } = deps;
  const seeded = <T>(found: T | undefined, what: string): T => {
    if (found === undefined) throw new Error(`the demo town ${plan.code} has no ${what}: seed the demo first`);
    return found;
  };
  const admin = seeded(await staffOf(db, plan.admin), `staff account ${plan.admin}`);
  const anchor = addDays((await limitedCampaign(db, admin, plan, now))?.startsOn ?? addDays(tokyoDate(now), -DEMO_DAYS), DEMO_DAYS);
  const setupAt = momentOf(anchor, -DEMO_DAYS - 2, 11 * 60);
  const limited = await prepareLimited(db, admin, plan, anchor, now);
  const shopsOfTown = await listShops(db, admin);
  const shops = [];
  for (const shopPlan of plan.shops) {
    const shop = seeded(shopsOfTown.find((s) => s.slug === shopPlan.slug), `shop ${shopPlan.slug}`);
    const owner = await shopOwner(db, admin, shop, shopPlan.owner, setupAt);
    await db.transaction((trx) => setBankAccount(trx, admin, shop.id, bankAccountBody.parse(shopPlan.bankAccount)));
    shops.push({ id: shop.id, owner, register: await device(db, owner, shopPlan.register, setupAt) });
  }
  const categories = new Map((await eventsRepository.categories(db, plan.code)).map((c) => [c.nameJa, c]));
  const eventCampaign = await grantCampaign(db, plan.code, plan.campaigns.event.slug, now);
  const events = [];
  for (const event of plan.events) {
    const date = addDays(anchor, event.day);
    const known = (await listEvents(db, admin, now)).find((e) => e.nameJa === event.nameJa) ?? await db.transaction((trx) => createEvent(trx, admin, {
      categoryId: seeded(categories.get(event.category), `event category ${event.category}`).id, nameJa: event.nameJa, nameEn: event.nameEn,
      startsOn: date, endsOn: date, points: event.points, campaignId: eventCampaign.id, tapPolicy: 'pin',
    }, setupAt));
    const desk = await device(db, admin, event.device, setupAt);
    if (!known.deviceIds.includes(desk.id)) await db.transaction((trx) => setEventDevices(trx, admin, known.id, [desk.id], setupAt));
    events.push({ id: known.id, desk });
  }
  return {
    plan, anchor, admin, limitedId: limited.id, shops, counter: await device(db, admin, plan.counter, setupAt), events, categories,
    campaigns: { limited: await grantCampaign(db, plan.code, String(limited.id), now), grant: await grantCampaign(db, plan.code, plan.campaigns.grant.slug, now) },
    partner: { id: seeded(await partnerRepository.idOf(db, DEMO_PARTNER.slug), `partner ${DEMO_PARTNER.slug}`), rateUnits: DEMO_PARTNER.rate_units, ratePoints: DEMO_PARTNER.rate_points },
    cards: await Promise.all(Array.from({ length: plan.residents }, (_, i) => residentCard(deps, plan.code, i))),
  };
}

async function townActivity(deps: RunDeps, plan: TownPlan): Promise<TownActivity> {
  const town = await prepareTown(deps, plan);
  const steps = planTown(plan, town.anchor);
  const doStep = stepRunner(deps, town);
  const planned = tally();
  const made = tally();
  for (const step of steps) {
    planned[step.kind]++;
    made[step.kind] += await run(step, () => doStep(step));
  }
  return { code: plan.code, anchor: town.anchor, planned, made };
}

/**
 * Does a step by the platform's operation at the step's moment, unless what it makes is there
 * already; answers how much it made (a step: 1 or 0; the expiry: the entries it posted).
 */
function stepRunner(deps: RunDeps, town: Town): (step: Step) => Promise<number> {
  const { db, secret } = deps;
  const { plan, admin } = town;
  const mykeyIds: string[] = [];
  const payments: Array<{ intentId: string; shop: Town['shops'][number] }> = [];
  const paid = paidMoments(db, town);

  /** A grant by its ledger reference: one already posted is not asked for again. */
  const grant = async (at: Date, campaign: GrantCampaign, resident: number, what: { key: string; points: number; reason: string; category?: string }) => {
    const reference = singleGrantReference(admin.id, `demo-activity:${plan.code}:${what.key}`);
    if ((await ledgerRepository.entriesByReferences(db, [reference])).size > 0) return 0;
    const category = what.category === undefined ? undefined : town.categories.get(what.category);
    await inLedgerTransaction(db, (trx) => grantOne(trx, { staff: admin, campaign, category, mykeyId: mykeyIds[resident]!, points: what.points, reason: what.reason, reference, now: at }));
    return 1;
  };
  /** A refund or void, unless the payment has one of its kind already. */
  const reverse = async (payment: number, kind: 'refund' | 'void', operation: (trx: Knex.Transaction, owner: SignedInStaff, intentId: string, key: string) => Promise<unknown>) => {
    const { intentId, shop } = payments[payment]!;
    if ((await paymentsRepository.reversalsOf(db, [intentId])).some((r) => r.kind === kind)) return 0;
    await inLedgerTransaction(db, (trx) => operation(trx, shop.owner, intentId, `demo-activity:${kind}:${payment}`));
    return 1;
  };

  return async (step) => {
    switch (step.kind) {
      case 'issue': {
        const { mykeyId, issued } = await db.transaction((trx) => loginOrIssue(trx, secret, town.cards[step.resident]!, town.counter, step.at));
        mykeyIds[step.resident] = mykeyId;
        return issued ? 1 : 0;
      }
      case 'limited_grant':
        return grant(step.at, town.campaigns.limited, step.resident, { key: `limited:${step.resident}`, points: plan.limited.grantPoints, reason: plan.limited.reason });
      case 'grant': {
        const { category, points, reason } = plan.grants[step.grant]!;
        return grant(step.at, town.campaigns.grant, step.resident, { key: `grant:${step.grant}:${step.resident}`, points, reason, category });
      }
      case 'attend': {
        const tap = { card: town.cards[step.resident]!, device: town.events[step.event]!.desk, now: step.at, terms: undefined, challenge: undefined };
        return (await inLedgerTransaction(db, (trx) => attend(trx, tap))).alreadyGranted ? 0 : 1;
      }
      case 'conversion':
        return convert(db, town, step, mykeyIds[step.resident]!);
      case 'payment': {
        const shop = town.shops[step.shop]!;
        const earlier = await paid(step.shop, step.at);
        payments[step.payment] = { intentId: earlier ?? await payAtRegister(deps, shop, town.cards[step.resident]!, step.amount, step.at), shop };
        return earlier ? 0 : 1;
      }
      case 'refund':
        return reverse(step.payment, 'refund', (trx, owner, intentId, key) => refund(trx, secret, owner, intentId, step.points, key, step.at));
      case 'void':
        return reverse(step.payment, 'void', (trx, owner, intentId, key) => voidPayment(trx, secret, owner, intentId, key, step.at));
      case 'expiry':
        return (await expireDueLots(db, deps.log, step.at)).entries;
      case 'end_limited':
        if ((await limitedCampaign(db, admin, plan, deps.now))!.status === 'ended') return 0;
        await db.transaction((trx) => changeStatus(trx, admin, town.limitedId, 'end', step.at));
        return 1;
      case 'close':
        // The town's first closing only: one it closed itself, or the demo's, is there to see.
        if ((await closedPeriods(db, plan.code)).length > 0) return 0;
        await db.transaction((trx) => closePeriod(trx, admin, { from: step.from, to: step.to, payOn: step.payOn }, step.at));
        return 1;
    }
  };
}

/** A shop's payments by the moment they were paid, read a day at a time: the intent paid at a moment, if one was. */
function paidMoments(db: Db, town: Town): (shop: number, at: Date) => Promise<string | undefined> {
  const days = new Map<string, Map<number, string>>();
  return async (shop, at) => {
    const day = tokyoDate(at);
    const key = `${shop}:${day}`;
    if (!days.has(key)) {
      const ends = endOfTokyoDay(day);
      const paid = await paymentsRepository.paidBetween(db, town.shops[shop]!.id, new Date(ends.getTime() - 86_400_000), ends);
      days.set(key, new Map(paid.map((intent) => [intent.paid!.at.getTime(), intent.id])));
    }
    return days.get(key)!.get(at.getTime());
  };
}

/** The clerk opens an intent at the register; the resident's card pays it forty seconds later, at `at`. Answers the intent's id. */
async function payAtRegister(deps: RunDeps, shop: Town['shops'][number], card: VerifiedCard, amount: number, at: Date): Promise<string> {
  const intent = await deps.db.transaction((trx) => createIntent(trx, shop.owner, amount, new Date(at.getTime() - 40_000)));
  await inLedgerTransaction(deps.db, async (trx) => {
    const terms = await challengeTerms(trx, shop.register, intent.intentId, at);
    return pay(trx, deps.secret, { terms, certKey: card.certKey, device: shop.register, now: at });
  });
  return intent.intentId;
}

/** A partner's conversion as its API takes it in, then credited by the worker's own code a minute and a half later. */
async function convert(db: Db, town: Town, step: Extract<Step, { kind: 'conversion' }>, mykeyId: string): Promise<number> {
  const body = JSON.stringify({ partnerTxId: step.partnerTxId, mykeyId, municipality: town.plan.code, partnerPoints: step.partnerPoints });
  const [outcome] = await acceptConversions(db, town.partner, [checkConversion(body)], { now: step.at });
  if (!outcome!.ok) throw outcome!.problem;
  if (outcome!.conversion.state !== 'accepted') return 0;
  const failed = await processConversions(db, [outcome!.conversion.id], new Date(step.at.getTime() + 90_000));
  if (failed.size > 0) throw new Error(`conversion ${step.partnerTxId} not credited`, { cause: failed.values().next().value });
  return 1;
}
