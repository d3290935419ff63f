// npm start's step after seeding the demo towns: their recent activity
// (./demo/activity.ts), made with the MyKey secret and trust anchors the server is
// about to be given, from the development CA's cards, and one log line per town saying what it holds.
import { readFileSync } from 'node:fs';
import { useAuditSecret } from '@mykey/backend/audit/keys.ts';
import { mykeySecret } from '@mykey/backend/config.ts';
import { createDb } from '@mykey/backend/db.ts';
import { loadTrustAnchors } from '@mykey/backend/jpki/anchors.ts';
import { createLogger } from '@mykey/backend/log.ts';
import { PATIENT_WAIT_MS } from '@mykey/backend/database-admin.ts';
import { DEMO_DAYS, makeDemoActivity, type TownActivity } from './demo/activity.ts';
import { DEMO_MUNICIPALITY, DEMO_SECOND_MUNICIPALITY } from '@mykey/dev-tools/demo-towns.ts';
import { loadCa } from '@mykey/dev-tools/dev-ca/index.ts';
import { ensureDevCa } from '@mykey/dev-tools/dev-ca/store.ts';

const TOWN_NAMES = new Map([DEMO_MUNICIPALITY, DEMO_SECOND_MUNICIPALITY].map((town) => [town.code, town.name_ja]));

/** "みらい市（デモ）, the 60 days before 2026-12-06: 24 residents, …; made now: 412 of them" (or: all there already). */
export function activityLine(town: TownActivity): string {
  const { planned, made } = town;
  const holds = [
    `${planned.issue} residents`, `${planned.conversion} conversions`, `${planned.limited_grant + planned.grant} grants`, `${planned.attend} event taps`,
    `${planned.payment} payments (${planned.refund} refunded, ${planned.void} voided)`, 'expired points', `${planned.close} closed period`,
  ];
  const steps = Object.entries(made).filter(([kind]) => kind !== 'expiry').reduce((sum, [, n]) => sum + n, 0);
  const news = steps === 0 ? 'all there already' : `made now: ${steps} of these steps and ${made.expiry} expiry entries`;
  return `[demo] ${TOWN_NAMES.get(town.code) ?? town.code}, the ${DEMO_DAYS} days before ${town.anchor}: ${holds.join(', ')}; ${news}`;
}

/** Makes (or finds) the demo activity; `env` is the server's (its MYKEY_SECRET and JPKI_TRUST_ANCHORS). */
export async function demoActivity(databaseUrl: string, env: NodeJS.ProcessEnv): Promise<void> {
  const files = await ensureDevCa();
  const ca = await loadCa(readFileSync(files.certificate, 'utf8'), readFileSync(files.key, 'utf8'));
  const anchors = await loadTrustAnchors({ NODE_ENV: 'development', JPKI_TRUST_ANCHORS: env.JPKI_TRUST_ANCHORS });
  const secret = mykeySecret({ NODE_ENV: 'development', MYKEY_SECRET: env.MYKEY_SECRET });
  // What staff do is audited, in the chain keyed from the same secret as the server's.
  useAuditSecret(secret);
  const db = createDb(databaseUrl, undefined, PATIENT_WAIT_MS);
  try {
    const started = performance.now();
    const towns = await makeDemoActivity({
      db, secret, ca, anchors: anchors.certificates, log: createLogger({ LOG_LEVEL: 'warn' }, 'demo-activity'),
    });
    for (const town of towns) console.log(activityLine(town));
    console.log(`[demo] activity checked in ${((performance.now() - started) / 1000).toFixed(1)} s`);
  } finally {
    await db.destroy();
  }
}
