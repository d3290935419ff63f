// Residents' cards and counter devices for backend tests: certificates from a development CA
// made for the test file, signatures made with the card's key in process (the real card path
// through pcscd is tested end to end elsewhere), and devices enrolled over HTTP as staff would.
import { randomUUID, sign } from 'node:crypto';
import { createCa, issueCertificate, issueCrl, type CertificateAuthority, type CertificateOptions, type IssuedCertificate } from '@mykey/dev-tools/dev-ca/index.ts';
import { testDatabase, type Cleanup } from './env.ts';
import { startTestApp, testIdentity, type TestAppDeps } from './server.ts';
import { staffCookie } from './staff.ts';

export interface TestPki { ca: CertificateAuthority; card(options?: CertificateOptions): Promise<IssuedCertificate> }

export async function testPki(): Promise<TestPki> {
  const ca = await createCa({ kind: 'auth' });
  return { ca, card: (options) => issueCertificate(ca, options) };
}

export interface Reply { status: number; body: any }

async function call(base: string, method: string, path: string, headers: Record<string, string>, body?: unknown): Promise<Reply> {
  const response = await fetch(`${base}${path}`, {
    method,
    headers: { ...(body === undefined ? {} : { 'Content-Type': 'application/json' }), ...headers },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const text = await response.text();
  return { status: response.status, body: text ? JSON.parse(text) : undefined };
}

/** A staff member signed in to the console (with the demo password unless given; second factor included); `post` sends a fresh Idempotency-Key unless given one. */
export async function signInStaff(base: string, loginId: string, password?: string) {
  const cookie = await staffCookie(base, loginId, password);
  return {
    /** The session cookie, for requests that are not JSON (file uploads and downloads). */
    cookie,
    get: (path: string) => call(base, 'GET', path, { cookie }),
    post: (path: string, body: unknown, key: string = randomUUID()) => call(base, 'POST', path, { cookie, 'Idempotency-Key': key }, body),
    patch: (path: string, body: unknown, key: string = randomUUID()) => call(base, 'PATCH', path, { cookie, 'Idempotency-Key': key }, body),
    put: (path: string, body: unknown, key: string = randomUUID()) => call(base, 'PUT', path, { cookie, 'Idempotency-Key': key }, body),
  };
}

export type Staff = Awaited<ReturnType<typeof signInStaff>>;

/** A counter device enrolled with a code that `staff` issued in the console. */
export async function enrollDevice(base: string, staff: Staff, name = 'カウンター1') {
  const issued = await staff.post('/api/v1/staff/device-enrollment-codes', { name });
  if (issued.status !== 201) throw new Error(`enrollment code: ${JSON.stringify(issued.body)}`);
  const enrolled = await call(base, 'POST', '/api/v1/devices', {}, { code: issued.body.code });
  if (enrolled.status !== 201) throw new Error(`enrollment: ${JSON.stringify(enrolled.body)}`);
  const token: string = enrolled.body.token;
  return {
    id: Number(enrolled.body.deviceId),
    /** The device's bearer token, for a client of the caller's own (a benchmark's). */
    token,
    get: (path: string) => call(base, 'GET', path, { authorization: `Bearer ${token}` }),
    post: (path: string, body: unknown, key: string = randomUUID()) => call(base, 'POST', path, { authorization: `Bearer ${token}`, 'Idempotency-Key': key }, body),
    put: (path: string, body: unknown, key: string = randomUUID()) => call(base, 'PUT', path, { authorization: `Bearer ${token}`, 'Idempotency-Key': key }, body),
  };
}

export type Device = Awaited<ReturnType<typeof enrollDevice>>;

/** What the card does after the PIN: an RSASSA-PKCS1-v1_5 SHA-256 signature of the challenge text. */
export function cardSign(card: IssuedCertificate, challenge: Buffer): Buffer {
  return sign('sha256', challenge, card.privateKeyPem);
}

/** The whole card login: a challenge for `purpose`, the card's signature, the card session. */
export async function cardSession(device: Device, card: IssuedCertificate, purpose = 'login'): Promise<Reply> {
  const challenge = await device.post('/api/v1/auth/challenges', { purpose });
  if (challenge.status !== 201) return challenge;
  return device.post('/api/v1/auth/card-sessions', cardProof(challenge.body, card));
}

/** The body of POST /auth/card-sessions for a challenge answer and a card. */
export function cardProof(challenge: { challengeId: string; challenge: string }, card: IssuedCertificate) {
  return {
    challengeId: challenge.challengeId,
    certificate: card.certificateDer.toString('base64'),
    signature: cardSign(card, Buffer.from(challenge.challenge, 'base64')).toString('base64'),
  };
}

/** A card proof: the challengeId of a `purpose` challenge the card signed at `device`. */
export async function provenCard(device: Device, card: IssuedCertificate, purpose: 'relink' | 'counter_relink' | 'home_move' | 'resident_page'): Promise<string> {
  const reply = await cardSession(device, card, purpose);
  if (reply.status !== 201) throw new Error(`card proof: ${JSON.stringify(reply.body)}`);
  return reply.body.challengeId;
}

/** A resident who has logged in once at `device` with a new card: the card and its MyKey ID. */
export async function firstLogin(pki: TestPki, device: Device) {
  const card = await pki.card();
  const login = await cardSession(device, card);
  if (login.status !== 201) throw new Error(JSON.stringify(login.body));
  return { card, mykeyId: login.body.mykeyId as string };
}

/** The seeded second town (あおば町): its municipal staff, signed in, and a counter device they enrolled. */
export async function secondTown(base: string) {
  const staff = await signInStaff(base, 'demo-aoba-city');
  return { staff, device: await enrollDevice(base, staff, 'あおば町 窓口') };
}

/**
 * The seeded demo town on the real app, trusting a CA made for the test file, with demo-city's
 * staff signed in and a counter device they enrolled. The app holds an empty CRL from the CA,
 * since linking a card moves value and with no CRL at all it would fail closed; it is an hour
 * old, so a CRL a test issues now is the newer one. `appDeps`: the app's settings beyond the tests' own.
 */
export async function municipalCounter(cleanup: Cleanup, appDeps: TestAppDeps = {}) {
  const { db, url } = await testDatabase(cleanup);
  await db.seed.run();
  const pki = await testPki();
  const identity = testIdentity(db, [pki.ca.certificate]);
  await identity.addCrl((await issueCrl(pki.ca, { revoked: [], thisUpdate: new Date(Date.now() - 3_600_000) })).der);
  const { base, app } = await startTestApp(cleanup, db, { ...appDeps, identity });
  const staff = await signInStaff(base, 'demo-city');
  return { db, url, pki, identity, base, app, staff, device: await enrollDevice(base, staff) };
}
