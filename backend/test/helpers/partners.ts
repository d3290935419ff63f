// Partners that sign requests, for the partner API tests: a partner with a secret of its own,
// residents with MyKey IDs that pass the check character, and signed fetches.
import { randomBytes, randomInt } from 'node:crypto';
import type { Db } from '../../src/db.ts';
import { checkValue, encode, MYKEY_ALPHABET, PAYLOAD_LENGTH } from '@mykey/contracts/mykey-id.ts';
import { addAgreement } from '../../src/partners/agreements.ts';
import { newPartnerSecret } from '../../src/partners/credentials.ts';
import { setPartnerCredentials } from '../../src/partners/service.ts';
import { bodySha256, partnerKey, signedHeaders, signedUploadHeaders } from '@mykey/contracts/partner-signature.ts';
import { mykeySecret } from '../../src/config.ts';

export interface TestPartner { id: number; slug: string; apiSecret: string }

export interface PartnerOptions {
  rate?: { units: number; points: number };
  /** Municipalities the partner has an agreement in force with (agree()). */
  agreements?: string[];
}

/** A partner with an API secret (the development MyKey secret seals it, as startApp's app expects). */
export async function addPartner(db: Db, { rate = { units: 100, points: 80 }, agreements = [] }: PartnerOptions = {}): Promise<TestPartner> {
  const slug = `partner-${randomBytes(5).toString('hex')}`;
  const [id] = await db('partners').insert({ slug, name_ja: '提携', name_en: 'Partner', kind: 'card_points', rate_units: rate.units, rate_points: rate.points });
  const apiSecret = newPartnerSecret();
  await setPartnerCredentials(db, mykeySecret({ NODE_ENV: 'test' }), slug, { apiSecret });
  for (const municipality of agreements) await agree(db, slug, municipality);
  return { id: Number(id), slug, apiSecret };
}

/** An agreement between the partner and the municipality, in force since long ago unless told otherwise. */
export function agree(db: Db, partnerSlug: string, municipality: string, terms: { startsOn?: string; endsOn?: string } = {}) {
  return addAgreement(db, { partner: partnerSlug, municipality, startsOn: terms.startsOn ?? '2000-01-01', endsOn: terms.endsOn, now: new Date() });
}

/** 99999 with its check digit: the home town of residents made directly in the database. */
const RESIDENTS_HOME = { code: '999997', name_ja: 'テスト市（住民の所属）', name_en: 'Test City (residents\' home)' };
const homes = new WeakMap<Db, Promise<string>>();

/**
 * The municipality code to give a MyKey ID inserted directly: a home it must have. Made once per
 * database. (Insert-or-ignore swallows a missing home as a warning, so the row would never come.)
 */
export function residentsHome(db: Db): Promise<string> {
  let home = homes.get(db);
  if (!home) {
    home = db('municipalities').insert(RESIDENTS_HOME).onConflict('code').ignore().then(() => RESIDENTS_HOME.code);
    homes.set(db, home);
  }
  return home;
}

/** A MyKey ID with a right check character, not yet in the database. */
export function newMykeyId(): string {
  const payload = Array.from({ length: PAYLOAD_LENGTH }, () => randomInt(MYKEY_ALPHABET.length));
  return encode([...payload, checkValue(payload)]);
}

/** A resident: a MyKey ID that exists, active unless told. */
export async function addResident(db: Db, status: 'active' | 'suspended' = 'active'): Promise<string> {
  const home = await residentsHome(db);
  for (;;) {
    const id = newMykeyId();
    const [inserted] = await db('mykeys').insert({ mykey_id: id, status, home_municipality_code: home }).onConflict('mykey_id').ignore();
    if (inserted) return id;
  }
}

export interface SignedOptions {
  timestamp?: number; contentType?: string; secret?: string; partner?: string; signedPath?: string; headers?: Record<string, string>;
  /** Signed as a batch upload: over the declared length and hash (signedUploadHeaders), not the body read. */
  upload?: boolean;
}

/** A request signed by `partner` (or with the overrides a test needs to make it wrong). */
export async function signedFetch(base: string, partner: TestPartner, method: string, path: string, body?: string | Buffer, options: SignedOptions = {}) {
  const timestamp = options.timestamp ?? Math.floor(Date.now() / 1000);
  const sign = options.upload
    ? (slug: string, key: Buffer) => signedUploadHeaders(slug, key, method, options.signedPath ?? path, declared(body ?? ''), timestamp)
    : (slug: string, key: Buffer) => signedHeaders(slug, key, method, options.signedPath ?? path, body ?? '', timestamp);
  const headers = {
    ...sign(options.partner ?? partner.slug, partnerKey(options.secret ?? partner.apiSecret)),
    ...(body === undefined ? {} : { 'Content-Type': options.contentType ?? 'application/json' }),
    ...options.headers,
  };
  const response = await fetch(`${base}${path}`, { method, headers, body: typeof body === 'string' || body === undefined ? body : new Uint8Array(body) });
  const text = await response.text();
  let json: any;
  try {
    json = JSON.parse(text);
  } catch {
    json = undefined;
  }
  return { status: response.status, body: json, text, headers: response.headers };
}

/** What a batch upload of `body` declares: its hex SHA-256 and length. */
export function declared(body: string | Buffer): { sha256: string; length: number } {
  return { sha256: bodySha256(body), length: Buffer.byteLength(body) };
}
