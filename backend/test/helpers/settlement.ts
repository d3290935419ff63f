// The worked example of docs/settlement.md, posted in a town of the test's own: two shops, two
// partners, a campaign, and the entries of late October to early December (times in Japan).
import type { Db } from '../../src/db.ts';
import { grantPoints, payMerchant, refundPayment, voidPayment } from '../../src/ledger/ledger.ts';
import { creditConversion, ref, resident, run, town } from './ledger.ts';

/** An instant given in Japan time. */
export const jst = (local: string) => new Date(`${local}+09:00`);

export async function workedExample(db: Db) {
  const city = await town(db);
  const [shopB] = await db('merchants').insert({ municipality_code: city.code, slug: ref('shop'), name_ja: '駅前, 青果店', name_en: 'Greengrocer', status: 'approved' });
  const [partnerB] = await db('partners').insert({ slug: ref('partner'), name_ja: 'みらい航空', name_en: 'Mirai Air', kind: 'airline_miles', rate_units: 1, rate_points: 1 });
  const ids = { shopA: city.merchantId, shopB: Number(shopB), partnerA: city.partnerId, partnerB: Number(partnerB), campaign: city.campaignId };
  const [r1, r2] = [await resident(db), await resident(db)];
  const convert = (partnerId: number, mykeyId: string, points: number, at: string, campaignId?: number) =>
    run(db, (trx) => creditConversion(trx, { reference: ref('conv'), municipalityCode: city.code, mykeyId, partnerId, points, campaignId, now: jst(at) }));
  /** A payment at the shop; its ledger reference, for a refund or void. */
  const pay = async (merchantId: number, mykeyId: string, points: number, at: string) => {
    const reference = ref('pay');
    await run(db, (trx) => payMerchant(trx, { reference, merchantId, mykeyId, points, now: jst(at) }));
    return reference;
  };
  const refund = (paymentReference: string, points: number, at: string) => run(db, (trx) => refundPayment(trx, { reference: ref('refund'), paymentReference, points, now: jst(at) }));
  const voidAt = (paymentReference: string, at: string) => run(db, (trx) => voidPayment(trx, { reference: ref('void'), paymentReference, now: jst(at) }));
  // The last millisecond of October and the first of November, in Japan.
  await convert(ids.partnerA, r1, 1_000, '2026-10-31T23:59:59.999', ids.campaign);
  await convert(ids.partnerA, r1, 5_000, '2026-11-01T00:00:00.000', ids.campaign);
  await convert(ids.partnerB, r2, 2_000, '2026-11-10T09:00:00.000');
  await run(db, (trx) => grantPoints(trx, { reference: ref('grant'), campaignId: ids.campaign, mykeyId: r2, points: 300, now: jst('2026-11-15T10:00:00.000') }));
  const first = await pay(ids.shopA, r1, 1_000, '2026-11-02T12:00:00.000');
  await refund(first, 300, '2026-11-05T12:00:00.000');
  await voidAt(await pay(ids.shopA, r1, 500, '2026-11-20T10:00:00.000'), '2026-11-20T11:00:00.000');
  await pay(ids.shopB, r2, 700, '2026-11-30T23:59:59.999');
  await pay(ids.shopB, r2, 100, '2026-12-01T00:00:00.000');
  // A November payment refunded in December counts in December.
  await refund(first, 200, '2026-12-01T09:00:00.000');
  return { city, ids, r1, r2, first, pay, refund, voidAt };
}
