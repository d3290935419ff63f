// A MyKey ID as one shop or one town service sees it: a keyed hash of the ID for that audience
// alone, so two services (or a service and a shop) cannot match their residents without the
// platform's secret, while each sees the same resident under the same name every time, across
// card renewals (the MyKey ID survives them). docs/pseudonyms.md has the scheme.
import { createHmac } from 'node:crypto';
import { MYKEY_ALPHABET } from '@mykey/contracts/mykey-id.ts';
import type { OrganizationRef } from '../staff/organization.ts';
import { subkey } from '../subkeys.ts';

const LABEL = 'mykey/pseudonym/v1';
/** 12 symbols of 5 bits: 60 bits, so one audience's residents never share one. */
const LENGTH = 12;
const GROUP = 4;

/** Who sees the pseudonym: a shop (merchants.id) or a town service (services.id). */
export interface Audience { kind: 'merchant' | 'service'; id: number }

/** The pseudonym of `mykeyId` for `audience`, written in groups of four (e.g. `7KQ2-M9XD-3FRA`). */
export function pseudonymOf(secret: Buffer, mykeyId: string, audience: Audience): string {
  const mac = createHmac('sha256', subkey(secret, LABEL)).update(`${audience.kind}:${audience.id}:${mykeyId}`).digest();
  let bits = mac.readBigUInt64BE(0) >> 4n;
  const symbols: string[] = [];
  for (let i = 0; i < LENGTH; i++, bits >>= 5n) symbols.unshift(MYKEY_ALPHABET[Number(bits & 31n)]!);
  return Array.from({ length: LENGTH / GROUP }, (_, i) => symbols.slice(i * GROUP, (i + 1) * GROUP).join('')).join('-');
}

/** The resident as shop `merchantId` knows them: the `customer` of its receipts, day lists and devices' answers. */
export const customerOf = (secret: Buffer, merchantId: number, mykeyId: string): string => pseudonymOf(secret, mykeyId, { kind: 'merchant', id: merchantId });

/**
 * The resident as an answer to `organization` (a device's, or a clerk's) names them: a town gets
 * the MyKey ID; a shop only its pseudonym of it, as `customer`. A card never seen stays null.
 */
export function residentFor(secret: Buffer, organization: OrganizationRef, mykeyId: string | null): { mykeyId: string | null } | { customer: string | null } {
  if (organization.kind !== 'merchant') return { mykeyId };
  return { customer: mykeyId === null ? null : customerOf(secret, Number(organization.id), mykeyId) };
}
