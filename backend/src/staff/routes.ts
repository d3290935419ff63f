// Staff sign-in and sessions (docs/security/staff.md): password, then for an account with a
// second factor its TOTP code; municipal staff without one get a session that may only enrol
// one. Failures are counted per account and per address (sign-in-limit.ts) and, like every
// sign-in, audited.
import { createHmac, randomBytes } from 'node:crypto';
import Router from '@koa/router';
import type { Context } from 'koa';
import type { Redis } from 'ioredis';
import { z } from 'zod';
import { appendAudit, recordAudit } from '../audit/chain.ts';
import { isDevelopment, type Config } from '../config.ts';
import { retryTransient, type Db } from '../db.ts';
import { readJson } from '../http/body.ts';
import { Problem } from '../http/problems.ts';
import { subkey } from '../subkeys.ts';
import { sessionAt, sessionCookieName, sessionToken } from './middleware.ts';
import { hashPassword, MAX_PASSWORD_LENGTH, needsRehash, passwordWeakness, unknownAccountHash, verifyPassword } from './password.ts';
import type { Staff } from '@mykey/contracts/staff.ts';
import { staffRepository as repo, type SessionStage, type SignedInStaff, type StaffAccount } from './repository.ts';
import { signInLimit } from './sign-in-limit.ts';
import { matchingStep, newRecoveryCodes, newTotpSecret, recoveryCodeHash, sealTotpSecret, totpEnrolment, unsealTotpSecret } from './totp.ts';
import { described } from '../http/described.ts';

// A shop's or an office's working day; then staff sign in again.
const SESSION_HOURS = 12;
// Time to open the authenticator app and type the code.
const SECOND_FACTOR_MINUTES = 5;

const signInBody = z.object({
  loginId: z.string().min(1).max(64),
  password: z.string().min(1).max(MAX_PASSWORD_LENGTH),
});

const secondFactorBody = z.union([
  z.object({ code: z.string().trim().min(1).max(16) }).strict(),
  z.object({ recoveryCode: z.string().trim().min(1).max(32) }).strict(),
]);

const confirmBody = z.object({ code: z.string().trim().min(1).max(16) });

const passwordBody = z.object({
  currentPassword: z.string().min(1).max(MAX_PASSWORD_LENGTH),
  newPassword: z.string().min(1).max(MAX_PASSWORD_LENGTH),
});

// The account id and the sealed secret are for the records, not for the browser.
function shown({ id: _id, municipalityCode: _town, ...staff }: SignedInStaff): Staff {
  return staff;
}

export interface StaffRouteDeps {
  db: Db;
  redis: Redis;
  keyPrefix: string;
  mykeySecret: Buffer;
  config: Pick<Config, 'NODE_ENV' | 'STAFF_SESSION_IDLE_MS' | 'STAFF_PASSWORD_SCRYPT_N'>;
}

export function staffRoutes({ db, redis, keyPrefix, mykeySecret, config }: StaffRouteDeps): Router {
  const limit = signInLimit(redis, keyPrefix);
  const router = new Router({ prefix: '/api/v1/staff' });
  const idleSeconds = Math.max(1, Math.round(config.STAFF_SESSION_IDLE_MS / 1000));
  const cost = config.STAFF_PASSWORD_SCRYPT_N;
  const unknownAccount = unknownAccountHash(cost);

  // Login IDs are counted and audited by a keyed hash: an unknown ID someone typed (often a
  // password typed into the wrong field) is never stored in clear.
  const loginSubkey = subkey(mykeySecret, 'mykey/staff-login/v1');
  const loginKey = (loginId: string) => createHmac('sha256', loginSubkey).update(loginId.normalize('NFC').toLowerCase()).digest('hex').slice(0, 32);

  // In production a password travels only over HTTPS, or over the loopback interface of the
  // machine itself, which no one on the network can read.
  function refuseInsecure(ctx: Context): void {
    if (!isDevelopment(config) && !ctx.secure && !isLoopback(ctx.ip)) throw new Problem('staff_sign_in_insecure');
  }

  // Without Redis failures cannot be counted, and a sign-in nobody counts could be guessed
  // without limit: sign-in waits for Redis (fails closed) rather than going on unthrottled.
  async function counted<T>(ctx: Context, work: Promise<T>): Promise<T> {
    try {
      return await work;
    } catch (error) {
      ctx.state.log.warn({ err: error }, 'staff sign-in refused: failures cannot be counted (Redis)');
      throw new Problem('staff_sign_in_unavailable');
    }
  }

  /** After a full sign-in: the account's failures are forgiven; if Redis is away they simply run out. */
  async function forgive(ctx: Context, loginId: string): Promise<void> {
    await limit.clearAccount(loginKey(loginId)).catch((error: unknown) => ctx.state.log.warn({ err: error }, 'could not clear the account\'s sign-in failures'));
  }

  async function refuseWhileWaiting(ctx: Context, loginId: string): Promise<void> {
    const wait = await counted(ctx, limit.wait(loginKey(loginId), ctx.ip));
    if (wait.seconds === 0) return;
    ctx.state.log.warn({ address: ctx.ip }, 'staff sign-in refused: too many failures');
    ctx.set('Retry-After', String(wait.seconds));
    throw new Problem(wait.locked ? 'staff_sign_in_locked' : 'staff_sign_in_delayed', `Try again in ${wait.seconds} s.`, { retryAfterSeconds: wait.seconds });
  }

  async function recordFailure(ctx: Context, loginId: string, account: StaffAccount | SignedInStaff | undefined, step: 'password' | 'second_factor' | 'disabled'): Promise<void> {
    await counted(ctx, limit.recordFailure(loginKey(loginId), ctx.ip));
    await recordAudit(db, {
      action: 'staff.sign_in_failed', actor: { kind: 'system', id: 'staff-sign-in' },
      subject: account ? `staff:${account.id}` : 'staff:unknown',
      details: { step, address: ctx.ip, ...(account ? {} : { loginKey: loginKey(loginId) }) },
    });
  }

  /** A new session in the caller's transaction, its cookie set on the answer. */
  async function startSession(ctx: Context, conn: Parameters<typeof repo.createSession>[0], staffId: number, stage: SessionStage): Promise<void> {
    const now = new Date();
    const token = randomBytes(32).toString('base64url');
    const expiresAt = new Date(now.getTime() + (stage === 'second_factor' ? SECOND_FACTOR_MINUTES * 60_000 : SESSION_HOURS * 3600_000));
    await repo.createSession(conn, staffId, { token, stage, expiresAt, idleSeconds, now });
    ctx.cookies.set(sessionCookieName(ctx), token, { httpOnly: true, sameSite: 'strict', secure: ctx.secure, path: '/', expires: expiresAt, overwrite: true });
  }

  /** The caller's session ends and a fresh one begins (a new token after every change of privilege), audited in the same transaction. */
  async function replaceSession(ctx: Context, oldToken: string, staffId: number, audit: Parameters<typeof appendAudit>[1]): Promise<void> {
    // Run again whole on a deadlock or a concurrent audit append: the cookie is set anew each time.
    await retryTransient(() => db.transaction(async (trx) => {
      await repo.deleteSession(trx, oldToken);
      await startSession(ctx, trx, staffId, 'full');
      await appendAudit(trx, audit);
    }));
  }

  const signedInAudit = (staffId: number, ctx: Context, details: Record<string, unknown>) => ({
    action: 'staff.signed_in', actor: { kind: 'staff' as const, id: String(staffId) }, subject: `staff:${staffId}`, details: { address: ctx.ip, ...details },
  });

  router.post('/sessions', described({
    summary: 'Sign in with login ID and password', caller: 'anyone', body: signInBody, example: { loginId: 'demo-city', password: 'correct horse battery staple' },
    description: 'Sets the session cookie. An account with a second factor gets 202 and a session that only takes the code (POST /sessions/second-factor); municipal staff without one get a session that may only enrol one (docs/security/staff.md).',
    responses: { 201: 'Signed in: the staff member, and next: totp_enrolment when one must be set up first.', 202: { description: 'The password was right; the second factor comes next.', example: { next: 'second_factor' } } },
    problems: ['staff_credentials_invalid', 'staff_sign_in_delayed', 'staff_sign_in_locked', 'staff_sign_in_unavailable', 'staff_sign_in_insecure'],
  }), async (ctx) => {
    refuseInsecure(ctx);
    const { loginId, password } = await readJson(ctx, signInBody);
    await refuseWhileWaiting(ctx, loginId);
    const account = await repo.findByLogin(db, loginId);
    const matches = await verifyPassword(password, account?.passwordHash ?? unknownAccount);
    if (!account || !matches) {
      await recordFailure(ctx, loginId, account, 'password');
      throw new Problem('staff_credentials_invalid');
    }
    // Only the right password learns the account is disabled; the attempt counts as a failure.
    if (account.disabled) {
      await recordFailure(ctx, loginId, account, 'disabled');
      throw new Problem('staff_account_disabled');
    }
    if (needsRehash(account.passwordHash, cost)) await repo.rehashPassword(db, account.id, await hashPassword(password, cost));
    if (account.totpSealed) {
      // The failures are forgiven only after the second factor, or its codes could be guessed on.
      await startSession(ctx, db, account.id, 'second_factor');
      ctx.status = 202;
      ctx.body = { next: 'second_factor' };
      return;
    }
    const stage: SessionStage = account.organizationKind === 'municipality' ? 'totp_enrolment' : 'full';
    await db.transaction(async (trx) => {
      await startSession(ctx, trx, account.id, stage);
      await appendAudit(trx, signedInAudit(account.id, ctx, { factors: ['password'], ...(stage === 'full' ? {} : { restrictedTo: 'totp_enrolment' }) }));
    });
    await forgive(ctx, loginId);
    ctx.status = 201;
    ctx.body = { staff: shown(await repo.staffById(db, account.id)), ...(stage === 'full' ? {} : { next: 'totp_enrolment' }) };
  });

  router.post('/sessions/second-factor', described({
    summary: 'The second step of a sign-in: the authenticator\'s code or a recovery code', caller: 'staff', body: secondFactorBody, example: { code: '123456' },
    responses: { 201: 'Signed in; after a recovery code, how many are left.' },
    problems: ['staff_second_factor_invalid', 'staff_sign_in_delayed', 'staff_sign_in_locked', 'staff_sign_in_unavailable', 'staff_sign_in_insecure'],
  }), async (ctx) => {
    refuseInsecure(ctx);
    const session = await sessionAt(ctx, db, ['second_factor']);
    const body = await readJson(ctx, secondFactorBody);
    const { loginId, id } = session.staff;
    await refuseWhileWaiting(ctx, loginId);
    const now = new Date();
    let accepted: boolean;
    if ('code' in body) {
      const step = matchingStep(unsealTotpSecret(mykeySecret, id, session.totpSealed!), loginId, body.code, now);
      accepted = step !== undefined && (await repo.takeTotpStep(db, id, step));
    } else {
      accepted = await repo.takeRecoveryCode(db, id, recoveryCodeHash(body.recoveryCode), now);
    }
    if (!accepted) {
      await recordFailure(ctx, loginId, session.staff, 'second_factor');
      throw new Problem('staff_second_factor_invalid');
    }
    const factor = 'code' in body ? 'totp' : 'recovery_code';
    await replaceSession(ctx, session.token, id, signedInAudit(id, ctx, { factors: ['password', factor] }));
    await forgive(ctx, loginId);
    ctx.status = 201;
    ctx.body = { staff: shown(session.staff), ...(factor === 'recovery_code' ? { recoveryCodesLeft: await repo.recoveryCodesLeft(db, id) } : {}) };
  });

  router.get('/session', described({ summary: 'The signed-in staff member', caller: 'staff', responses: { 200: 'The staff member, and next: totp_enrolment when one must be set up first.' } }), async (ctx) => {
    const session = await sessionAt(ctx, db, ['full', 'totp_enrolment']);
    ctx.body = { staff: shown(session.staff), ...(session.stage === 'full' ? {} : { next: 'totp_enrolment' }) };
  });

  // A new secret for each request: the one shown last is the one a code confirms.
  router.post('/totp/enrolment', described({ summary: 'Begin setting up the authenticator: a new secret and its QR code', caller: 'staff', responses: { 201: 'The secret, its otpauth URI and QR code.' }, problems: ['staff_totp_already_enrolled'] }), async (ctx) => {
    const session = await sessionAt(ctx, db, ['full', 'totp_enrolment']);
    if (session.totpSealed) throw new Problem('staff_totp_already_enrolled');
    const secret = newTotpSecret();
    await repo.setPendingTotp(db, session.token, sealTotpSecret(mykeySecret, session.staff.id, secret));
    ctx.status = 201;
    ctx.body = await totpEnrolment(secret, session.staff.loginId);
  });

  router.post('/totp/enrolment/confirm', described({
    summary: 'Confirm the authenticator with a code it shows', caller: 'staff', body: confirmBody, example: { code: '123456' },
    responses: { 201: 'Set up: every other session ended, a fresh one begun, and the recovery codes (shown this once).' },
    problems: ['staff_totp_already_enrolled', 'staff_totp_enrolment_not_started', 'staff_totp_code_invalid'],
  }), async (ctx) => {
    const session = await sessionAt(ctx, db, ['full', 'totp_enrolment']);
    const { code } = await readJson(ctx, confirmBody);
    const { id, loginId } = session.staff;
    if (session.totpSealed) throw new Problem('staff_totp_already_enrolled');
    if (!session.pendingTotpSealed) throw new Problem('staff_totp_enrolment_not_started');
    const secret = unsealTotpSecret(mykeySecret, id, session.pendingTotpSealed);
    const step = matchingStep(secret, loginId, code, new Date());
    if (step === undefined) throw new Problem('staff_totp_code_invalid');
    const recoveryCodes = newRecoveryCodes();
    // Two accounts enrolling at once can deadlock on the recovery codes' index (each clears its
    // own, locking the same gap, then inserts): the loser runs again.
    await retryTransient(() => db.transaction(async (trx) => {
      if (!(await repo.enableTotp(trx, id, sealTotpSecret(mykeySecret, id, secret), step, recoveryCodes.map(recoveryCodeHash)))) {
        throw new Problem('staff_totp_already_enrolled');
      }
      // Every other session began without the second factor: they all end.
      await repo.deleteSessionsOf(trx, id);
      await startSession(ctx, trx, id, 'full');
      await appendAudit(trx, { action: 'staff.totp_enrolled', actor: { kind: 'staff', id: String(id) }, subject: `staff:${id}`, details: { address: ctx.ip } });
    }));
    ctx.status = 201;
    ctx.body = { staff: shown(await repo.staffById(db, id)), recoveryCodes };
  });

  router.post('/password', described({
    summary: 'Change one\'s own password', caller: 'staff', body: passwordBody, example: { currentPassword: 'old pass phrase', newPassword: 'a much longer new pass phrase' },
    responses: { 200: 'Changed: every session of the account ended and a fresh one begun.' },
    problems: ['staff_current_password_wrong', 'staff_password_too_short', 'staff_password_common', 'staff_sign_in_delayed', 'staff_sign_in_locked', 'staff_sign_in_unavailable'],
  }), async (ctx) => {
    const session = await sessionAt(ctx, db, ['full']);
    const { currentPassword, newPassword } = await readJson(ctx, passwordBody);
    const { id, loginId } = session.staff;
    await refuseWhileWaiting(ctx, loginId);
    if (!(await verifyPassword(currentPassword, await repo.passwordHashOf(db, id)))) {
      await recordFailure(ctx, loginId, session.staff, 'password');
      throw new Problem('staff_current_password_wrong');
    }
    const weakness = passwordWeakness(newPassword, loginId);
    if (weakness === 'too_short' || weakness === 'too_long') throw new Problem('staff_password_too_short');
    if (weakness === 'common') throw new Problem('staff_password_common');
    const passwordHash = await hashPassword(newPassword, cost);
    await db.transaction(async (trx) => {
      await repo.setPassword(trx, id, passwordHash, new Date());
      // Whoever knew the old password may hold a session: every session of the account ends.
      await repo.deleteSessionsOf(trx, id);
      await startSession(ctx, trx, id, 'full');
      await appendAudit(trx, { action: 'staff.password_changed', actor: { kind: 'staff', id: String(id) }, subject: `staff:${id}`, details: { address: ctx.ip } });
    });
    ctx.body = { staff: shown(session.staff) };
  });

  router.delete('/session', described({ summary: 'Sign out', caller: 'anyone', description: 'Ends the session the cookie names, if any, and clears the cookie.', responses: { 204: 'Signed out.' } }), async (ctx) => {
    const token = sessionToken(ctx);
    if (token) await repo.deleteSession(db, token);
    clearCookie(ctx);
    ctx.status = 204;
  });

  // Sign out everywhere: a lost phone, a shared PC left signed in.
  router.delete('/sessions', described({ summary: 'Sign out everywhere: every session of the account ends', caller: 'staff', responses: { 204: 'Every session ended.' } }), async (ctx) => {
    const session = await sessionAt(ctx, db, ['full']);
    const { id } = session.staff;
    await db.transaction(async (trx) => {
      const ended = await repo.deleteSessionsOf(trx, id);
      await appendAudit(trx, { action: 'staff.signed_out_everywhere', actor: { kind: 'staff', id: String(id) }, subject: `staff:${id}`, details: { address: ctx.ip, sessions: ended } });
    });
    clearCookie(ctx);
    ctx.status = 204;
  });

  return router;
}

function isLoopback(address: string): boolean {
  return address === '::1' || /^(::ffff:)?127\./.test(address);
}

function clearCookie(ctx: Context): void {
  ctx.cookies.set(sessionCookieName(ctx), null, { secure: ctx.secure, path: '/', overwrite: true });
}
