// A shop's application, sent as the public form sends it: no session, an idempotency key of its own.
import { randomUUID } from 'node:crypto';
import { DEMO_MUNICIPALITY } from '@mykey/dev-tools/demo-towns.ts';
import type { Reply } from './identity.ts';

/** An application to the demo city, whole and valid; a test changes what it is about. */
export const SHOP_APPLICATION = {
  municipalityCode: DEMO_MUNICIPALITY.code, address: 'みらい市本町1-1', category: 'restaurant', representative: '代表 太郎', phone: '03-1111-2222', email: 'shop@example.jp',
  bankAccount: { bankCode: '0005', bankNameKana: 'ﾐﾗｲｷﾞﾝｺｳ', branchCode: '010', branchNameKana: 'ﾎﾝﾃﾝ', accountType: 'ordinary', accountNumber: '7777777', holderKana: 'ﾀﾞｲﾋﾖｳ ﾀﾛｳ' },
};

export async function applyAsShop(base: string, application: Record<string, unknown> & { nameJa: string; nameEn: string }): Promise<Reply> {
  const response = await fetch(`${base}/api/v1/shop-applications`, {
    method: 'POST', headers: { 'Content-Type': 'application/json', 'Idempotency-Key': randomUUID() },
    body: JSON.stringify({ ...SHOP_APPLICATION, ...application }),
  });
  return { status: response.status, body: await response.json() };
}
