// Staff sign-in for tests, second factor included. Municipal staff must enrol TOTP at their
// first sign-in, and every later sign-in asks for a code: the helper enrols once per app (the
// secret kept here, per app and account), then computes codes with otpauth as a phone would.
// A code counts once per account and only for a later time step than the last one used, so
// sign-ins of one account are serialised here and each takes the next step still accepted
// (now or the next one), waiting for the clock when both are taken.
import { setTimeout as sleep } from 'node:timers/promises';
import { Secret, TOTP } from 'otpauth';
import { DEMO_PASSWORD } from '@mykey/dev-tools/demo-towns.ts';
import { staffPasswordCost } from '../../src/config.ts';
import { hashPassword } from '../../src/staff/password.ts';

const PERIOD_MS = 30_000;

/** The demo password's hash at the suite's cost (npm test's STAFF_PASSWORD_SCRYPT_N), for an account a test makes. */
export function demoPasswordHash(): Promise<string> {
  return hashPassword(DEMO_PASSWORD, staffPasswordCost());
}

export interface AccountState { secret?: string; recoveryCodes?: string[]; lastStep: number; turn: Promise<unknown>; signedInOnce?: boolean }

const accounts = new Map<string, AccountState>();

export function stateOf(base: string, loginId: string): AccountState {
  const key = `${base} ${loginId}`;
  let state = accounts.get(key);
  if (!state) accounts.set(key, (state = { lastStep: 0, turn: Promise.resolve() }));
  return state;
}

/** Runs `fn` after every sign-in of this account started before it: steps are taken in order. */
export function inTurn<T>(base: string, loginId: string, fn: (state: AccountState) => Promise<T>): Promise<T> {
  const state = stateOf(base, loginId);
  const result = state.turn.then(() => fn(state));
  state.turn = result.catch(() => undefined);
  return result;
}

export function totpCode(secret: string, step: number): string {
  return new TOTP({ algorithm: 'SHA1', digits: 6, period: PERIOD_MS / 1000, secret: Secret.fromBase32(secret) }).generate({ timestamp: step * PERIOD_MS });
}

/** The code of the next step the server still accepts for this account. */
export async function nextCode(state: AccountState): Promise<string> {
  for (;;) {
    const now = Math.floor(Date.now() / PERIOD_MS);
    const step = Math.max(state.lastStep + 1, now);
    if (step <= now + 1) {
      state.lastStep = step;
      return totpCode(state.secret!, step);
    }
    await sleep((now + 1) * PERIOD_MS - Date.now() + 50);
  }
}

export interface Reply { status: number; body: any; cookie: string | undefined }

export async function post(base: string, path: string, body: unknown, cookie?: string): Promise<Reply> {
  const response = await fetch(`${base}${path}`, { method: 'POST', headers: { 'Content-Type': 'application/json', ...(cookie ? { cookie } : {}) }, body: JSON.stringify(body) });
  const text = await response.text();
  const set = response.headers.get('set-cookie');
  return { status: response.status, body: text ? JSON.parse(text) : undefined, cookie: set ? set.split(';')[0] : undefined };
}

/** Enrols TOTP with the session `cookie` (one that may enrol); the new full session's cookie. */
export async function enrolTotp(base: string, cookie: string, state: AccountState): Promise<string> {
  const started = await post(base, '/api/v1/staff/totp/enrolment', {}, cookie);
  if (started.status !== 201) throw new Error(`TOTP enrolment: ${JSON.stringify(started.body)}`);
  state.secret = started.body.secret;
  const confirmed = await post(base, '/api/v1/staff/totp/enrolment/confirm', { code: await nextCode(state) }, cookie);
  if (confirmed.status !== 201) throw new Error(`TOTP enrolment: ${JSON.stringify(confirmed.body)}`);
  state.recoveryCodes = confirmed.body.recoveryCodes;
  return confirmed.cookie!;
}

/** Signs in over the API as an account whose password is `password`, second factor and enrolment included; the session cookie. */
export function staffCookie(base: string, loginId: string, password = DEMO_PASSWORD): Promise<string> {
  return inTurn(base, loginId, async (state) => {
    state.signedInOnce = true;
    const first = await post(base, '/api/v1/staff/sessions', { loginId, password });
    if (first.status === 201 && first.body.next === 'totp_enrolment') return enrolTotp(base, first.cookie!, state);
    if (first.status === 201) return first.cookie!;
    if (first.status !== 202) throw new Error(`staff sign-in of ${loginId}: ${first.status} ${JSON.stringify(first.body)}`);
    const second = await post(base, '/api/v1/staff/sessions/second-factor', { code: await nextCode(state) }, first.cookie);
    if (second.status !== 201) throw new Error(`second factor of ${loginId}: ${second.status} ${JSON.stringify(second.body)}`);
    return second.cookie!;
  });
}

/** Makes sure the helper knows whether the account has a second factor on this app (enrolling municipal staff at their first sign-in). */
export async function knownAccount(base: string, loginId: string): Promise<void> {
  if (!stateOf(base, loginId).signedInOnce) await staffCookie(base, loginId);
}
