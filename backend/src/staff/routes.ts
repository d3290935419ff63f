import { randomBytes } from 'node:crypto';
import Router from '@koa/router';
import { z } from 'zod';
import type { Db } from '../db.ts';
import { readJson } from '../http/body.ts';
import { Problem } from '../http/problems.ts';
import { requireStaff, SESSION_COOKIE, sessionToken, signedInStaff } from './middleware.ts';
import { UNKNOWN_ACCOUNT_HASH, verifyPassword } from './password.ts';
import { staffRepository, type SignedInStaff, type Staff } from './repository.ts';

// A shop's or an office's working day; then staff sign in again.
const SESSION_HOURS = 12;

const signInBody = z.object({
  loginId: z.string().min(1).max(64),
  password: z.string().min(1).max(256),
});

// The account id is for the records, not for the browser.
function shown({ id: _id, municipalityCode: _town, ...staff }: SignedInStaff): Staff {
  return staff;
}

export function staffRoutes(db: Db): Router {
  const staff = staffRepository(db);
  const router = new Router({ prefix: '/api/v1/staff' });

  router.post('/sessions', async (ctx) => {
    const { loginId, password } = await readJson(ctx, signInBody);
    const account = await staff.findByLogin(loginId);
    const matches = await verifyPassword(password, account?.passwordHash ?? UNKNOWN_ACCOUNT_HASH);
    if (!account || !matches) throw new Problem('staff_credentials_invalid');
    const token = randomBytes(32).toString('base64url');
    const expires = new Date(Date.now() + SESSION_HOURS * 3600_000);
    await staff.createSession(account.id, token, expires);
    ctx.cookies.set(SESSION_COOKIE, token, { httpOnly: true, sameSite: 'strict', secure: ctx.secure, expires, overwrite: true });
    ctx.status = 201;
    ctx.body = { staff: shown(await staff.staffById(account.id)) };
  });

  router.get('/session', requireStaff(db), async (ctx) => {
    ctx.body = { staff: shown(signedInStaff(ctx)) };
  });

  router.delete('/session', async (ctx) => {
    const token = sessionToken(ctx);
    if (token) await staff.deleteSession(token);
    ctx.cookies.set(SESSION_COOKIE, null, { overwrite: true });
    ctx.status = 204;
  });

  return router;
}
