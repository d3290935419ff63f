import { randomBytes } from 'node:crypto';
import Router from '@koa/router';
import type { Context } from 'koa';
import { z } from 'zod';
import { readJson } from '../http/body.ts';
import { Problem } from '../http/problems.ts';
import { UNKNOWN_ACCOUNT_HASH, verifyPassword } from './password.ts';
import type { StaffRepository } from './repository.ts';

const COOKIE = 'mykey_staff';
// A shop's or an office's working day; then staff sign in again.
const SESSION_HOURS = 12;

const signInBody = z.object({
  loginId: z.string().min(1).max(64),
  password: z.string().min(1).max(256),
});

function sessionToken(ctx: Context): string | undefined {
  return ctx.cookies.get(COOKIE) || undefined;
}

export function staffRoutes(staff: StaffRepository): Router {
  const router = new Router({ prefix: '/api/v1/staff' });

  router.post('/sessions', async (ctx) => {
    const { loginId, password } = await readJson(ctx, signInBody);
    const account = await staff.findByLogin(loginId);
    const matches = await verifyPassword(password, account?.passwordHash ?? UNKNOWN_ACCOUNT_HASH);
    if (!account || !matches) throw new Problem('staff_credentials_invalid');
    const token = randomBytes(32).toString('base64url');
    const expires = new Date(Date.now() + SESSION_HOURS * 3600_000);
    await staff.createSession(account.id, token, expires);
    ctx.cookies.set(COOKIE, token, { httpOnly: true, sameSite: 'strict', secure: ctx.secure, expires, overwrite: true });
    ctx.status = 201;
    ctx.body = { staff: await staff.staffById(account.id) };
  });

  router.get('/session', async (ctx) => {
    const token = sessionToken(ctx);
    const found = token && (await staff.staffForSession(token, new Date()));
    if (!found) throw new Problem('staff_session_required');
    ctx.set('Cache-Control', 'no-store');
    ctx.body = { staff: found };
  });

  router.delete('/session', async (ctx) => {
    const token = sessionToken(ctx);
    if (token) await staff.deleteSession(token);
    ctx.cookies.set(COOKIE, null, { overwrite: true });
    ctx.status = 204;
  });

  return router;
}
