// A town with two campaigns and a few weeks of activity, made by the ledger's own operations
// (funding, grants, a conversion with its premium, payments, a refund, the expiry job), dated
// relative to a Japanese day "today": what the campaign figures tests and the console test read.
import { randomBytes } from 'node:crypto';
import type { Db } from '../../src/db.ts';
import { creditConversions, fundCampaign, grantPoints, payMerchant, refundPayment } from '../../src/ledger/ledger.ts';
import { expireDueLots } from '../../src/ledger/expiry-job.ts';
import { endOfTokyoDay } from '../../src/ledger/rules.ts';
import { silentLog } from './env.ts';
import { ref, resident, run, town } from './ledger.ts';
import { demoPasswordHash } from './staff.ts';

const DAY_MS = 86_400_000;

/** The Japanese date `days` after `date`. */
export const dayAfter = (date: string, days: number) => new Date(Date.parse(`${date}T00:00:00Z`) + days * DAY_MS).toISOString().slice(0, 10);

/** Noon in Japan on the date. */
const noon = (date: string) => new Date(endOfTokyoDay(date).getTime() - 12 * 3_600_000);

/**
 * The town and what happened in it, `today` being the Japanese date at `now`:
 * - campaign C (today−17 … today−2, budget 10,000, a 20 % premium) granted r1 1,000 on today−17,
 *   r2 500 and r3 a 200-point premium on a 1,000-point conversion on today−15; r1 spent 600 at
 *   the bakery on today−12, r2 300 at the grocer on today−11, 100 of which was refunded on
 *   today−10; what was left of C's lots (400 + 300 + 200) expired on today−1;
 * - campaign E (today−7 … today+34, budget 2,000) granted r1 400 on today−1 and r2 400 today.
 */
export async function campaignActivity(db: Db, now: Date) {
  const today = new Date(now.getTime() + 9 * 3_600_000).toISOString().slice(0, 10);
  // Today's activity at `now`, never later: nothing is posted in the future.
  const at = (days: number) => (days === 0 ? now : noon(dayAfter(today, days)));
  const c = { startsOn: dayAfter(today, -17), endsOn: dayAfter(today, -2) };
  const e = { startsOn: dayAfter(today, -7), endsOn: dayAfter(today, 34) };
  const place = await town(db, { ...c, budgetPoints: 10_000, premiumPercent: 20, funded: 0 });
  const campaignC = place.campaignId;
  const campaignE = await place.campaign({ ...e, budgetPoints: 2_000, premiumPercent: 0, funded: 0 });
  const names = { c: `春の応援 ${randomBytes(3).toString('hex')}`, e: `冬の応援 ${randomBytes(3).toString('hex')}` };
  await db('campaigns').where({ id: campaignC }).update({ name_ja: names.c, name_en: `Spring support ${names.c.slice(-6)}` });
  await db('campaigns').where({ id: campaignE }).update({ name_ja: names.e, name_en: `Winter support ${names.e.slice(-6)}` });
  const [grocer] = await db('merchants').insert({ municipality_code: place.code, slug: `grocer-${randomBytes(4).toString('hex')}`, name_ja: '駅前青果', name_en: 'Station Grocer', status: 'approved' });
  await db('merchants').where({ id: place.merchantId }).update({ name_ja: 'まちのパン屋', name_en: 'Town Bakery' });
  const [r1, r2, r3] = [await resident(db), await resident(db), await resident(db)];

  await run(db, (trx) => fundCampaign(trx, { reference: ref('fund'), campaignId: campaignC, points: 10_000, now: at(-17) }));
  await run(db, (trx) => fundCampaign(trx, { reference: ref('fund'), campaignId: campaignE, points: 2_000, now: at(-7) }));
  const grant = (campaignId: number, mykeyId: string, points: number, days: number) =>
    run(db, (trx) => grantPoints(trx, { reference: ref('grant'), campaignId, mykeyId, points, now: at(days) }));
  await grant(campaignC, r1, 1_000, -17);
  await grant(campaignC, r2, 500, -15);
  await run(db, (trx) => creditConversions(trx, [{ reference: ref('conv'), municipalityCode: place.code, mykeyId: r3, partnerId: place.partnerId, points: 1_000, campaignId: campaignC, now: at(-15) }]));
  await run(db, (trx) => payMerchant(trx, { reference: ref('pay'), merchantId: place.merchantId, mykeyId: r1, points: 600, now: at(-12) }));
  const grocerPayment = ref('pay');
  await run(db, (trx) => payMerchant(trx, { reference: grocerPayment, merchantId: Number(grocer), mykeyId: r2, points: 300, now: at(-11) }));
  await run(db, (trx) => refundPayment(trx, { reference: ref('refund'), paymentReference: grocerPayment, points: 100, now: at(-10) }));
  await expireDueLots(db, silentLog, at(-1));
  await grant(campaignE, r1, 400, -1);
  await grant(campaignE, r2, 400, 0);

  const loginId = `figures-${randomBytes(4).toString('hex')}`;
  await db('staff_accounts').insert({ login_id: loginId, display_name: '監査 実績', organization_kind: 'municipality', roles: 'auditor', municipality_code: place.code, password_hash: await demoPasswordHash() });
  return {
    today, code: place.code, loginId, campaignC, campaignE, names, residents: [r1, r2, r3], shops: { bakery: place.merchantId, grocer: Number(grocer) },
    periodC: { from: c.startsOn, to: today }, e,
  };
}
