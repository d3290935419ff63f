// The staff of an organization, managed by its administrator (a shop's, by its owner), and the
// invitation page's one call (docs/security/staff.md#the-life-of-an-account). Every change is
// idempotent under the caller's Idempotency-Key and audited; another organization's account is
// answered exactly as one that does not exist.
import Router from '@koa/router';
import type { Redis } from 'ioredis';
import { z } from 'zod';
import { LOGIN_ID_PATTERN, ROLES_OF, type StaffRole } from '@mykey/contracts/staff.ts';
import type { Db } from '../db.ts';
import { described } from '../http/described.ts';
import { readJson } from '../http/body.ts';
import { idempotencyKey, respond, runIdempotent } from '../http/idempotency.ts';
import { idOf, PATH_ID, Problem } from '../http/problems.ts';
import { oneTimeCodeLimit } from '../one-time-code-limit.ts';
import type { Names } from '../organizations/repository.ts';
import { changeRoles, resetSecondFactor, setDisabled } from './accounts.ts';
import { cancelInvitation, issueInvitation, redeemInvitation } from './invitations.ts';
import { signedInStaff, staffWith } from './middleware.ts';
import type { OrganizationRef } from './organization.ts';
import { MAX_PASSWORD_LENGTH } from './password.ts';
import { staffRepository as repo, type SignedInStaff } from './repository.ts';

const roles = z.array(z.enum([...ROLES_OF.municipality, ...ROLES_OF.merchant] as [StaffRole, ...StaffRole[]])).min(1).max(5);
const inviteBody = z.object({
  displayName: z.string().trim().min(1).max(100),
  roles,
  // A town's administrator invites a shop's first owner by naming the shop.
  merchantId: z.number().int().positive().optional(),
}).strict();
const rolesBody = z.object({ roles }).strict();
const statusBody = z.object({ disabled: z.boolean() }).strict();
const redeemBody = z.object({
  code: z.string().max(64),
  loginId: z.string().regex(LOGIN_ID_PATTERN),
  password: z.string().min(1).max(MAX_PASSWORD_LENGTH),
}).strict();

export interface AccountRoutesDeps {
  db: Db; redis: Redis; keyPrefix: string; scryptCost: number; clock: () => Date;
  /** A shop of the town by its id, its names; undefined for none (shops/ owns them and imports staff/, so app.ts hands this over). */
  shopOfTown: (db: Db, municipalityCode: string, merchantId: number) => Promise<Names | undefined>;
}

/** Where an invitation's account will work: the inviter's organization, or (a town's administrator) a shop of the town that has no owner yet. */
async function invitedOrganization(deps: AccountRoutesDeps, staff: SignedInStaff, merchantId: number | undefined, invited: StaffRole[]): Promise<OrganizationRef & { name: Names }> {
  if (merchantId === undefined) return staff.organization;
  if (staff.organization.kind !== 'municipality') throw new Problem('request_invalid', "only a town's administrator names a shop");
  if (invited.some((role) => role !== 'owner')) throw new Problem('request_invalid', "a shop's first account is its owner: roles must be [\"owner\"]");
  const name = await deps.shopOfTown(deps.db, staff.municipalityCode, merchantId);
  if (!name) throw new Problem('merchant_not_found');
  const shop: OrganizationRef = { kind: 'merchant', id: String(merchantId) };
  if (await repo.hasEnabledHolder(deps.db, shop, 'owner')) throw new Problem('staff_shop_has_owner');
  return { ...shop, name };
}

export function accountRoutes(deps: AccountRoutesDeps): Router {
  const { db, redis, keyPrefix, scryptCost, clock } = deps;
  const router = new Router({ prefix: '/api/v1/staff' });
  const manages = staffWith(db, 'administrator', 'owner');
  const limit = oneTimeCodeLimit(redis, keyPrefix, 'staff-invitation');

  /** The account id of the path, or staff_account_not_found for anything that cannot be one. */
  const accountId = (param: string | undefined) => idOf(param, 'staff_account_not_found');

  router.get('/accounts', described({ summary: "The organization's staff accounts", caller: 'staff', responses: { 200: 'Each account: login ID, name, roles, two-step on or off, last sign-in, disabled or not.' } }), ...manages, async (ctx) => {
    ctx.body = { accounts: await repo.accounts(db, signedInStaff(ctx).organization) };
  });

  router.post('/invitations', described({
    summary: 'A one-time invitation code for a new member of staff, valid a day', caller: 'staff', body: inviteBody, example: { displayName: '窓口 花子', roles: ['operator'] }, idempotent: true,
    description: "A town's administrator invites the town's staff, or (merchantId) a shop of the town's first owner; a shop's owner its clerks and co-owners (docs/security/staff.md#the-life-of-an-account).",
    responses: { 201: 'The code (shown this once), when it expires, the name, roles and organization.' }, problems: ['merchant_not_found', 'staff_shop_has_owner'],
  }), ...manages, async (ctx) => {
    const staff = signedInStaff(ctx);
    const key = idempotencyKey(ctx);
    const body = await readJson(ctx, inviteBody);
    const organization = await invitedOrganization(deps, staff, body.merchantId, body.roles);
    // The stored answer holds the code, for a retry after a lost answer; it is as short-lived as the code.
    respond(ctx, await runIdempotent(db, { scope: `staff:${staff.id}`, key, request: { op: 'invite-staff', ...body } },
      async (trx) => ({ status: 201, body: await issueInvitation(trx, { staffId: staff.id, municipalityCode: staff.municipalityCode }, { organization, roles: body.roles, displayName: body.displayName }, clock()) })));
  });

  router.get('/invitations', described({ summary: 'The invitations still waiting for their code, newest first', caller: 'staff', responses: { 200: "Each open invitation: name, roles, the organization it is for, who issued it and when it expires (never the code)." } }), ...manages, async (ctx) => {
    ctx.body = { invitations: await repo.openInvitations(db, signedInStaff(ctx).organization, clock()) };
  });

  router.post('/invitations/:id/cancellation', described({ summary: 'Cancel an open invitation: its code no longer makes an account', caller: 'staff', idempotent: true, params: z.object({ id: z.string().regex(PATH_ID) }), responses: { 200: 'The invitation as it was.' }, problems: ['staff_invitation_not_found'] }), ...manages, async (ctx) => {
    const staff = signedInStaff(ctx);
    const key = idempotencyKey(ctx);
    const id = idOf(ctx.params.id, 'staff_invitation_not_found');
    respond(ctx, await runIdempotent(db, { scope: `staff:${staff.id}`, key, request: { op: 'staff-invitation-cancel', id } },
      async (trx) => ({ status: 200, body: { invitation: await cancelInvitation(trx, staff, id, clock()) } })));
  });

  router.put('/accounts/:id/roles', described({ summary: "Change a staff account's roles", caller: 'staff', body: rolesBody, example: { roles: ['operator', 'auditor'] }, idempotent: true, params: z.object({ id: z.string().regex(PATH_ID) }), responses: { 200: 'The account.' }, problems: ['staff_account_not_found', 'staff_last_administrator'] }), ...manages, async (ctx) => {
    const staff = signedInStaff(ctx);
    const key = idempotencyKey(ctx);
    const id = accountId(ctx.params.id);
    const body = await readJson(ctx, rolesBody);
    respond(ctx, await runIdempotent(db, { scope: `staff:${staff.id}`, key, request: { op: 'staff-roles', id, ...body } },
      async (trx) => ({ status: 200, body: { account: await changeRoles(trx, staff, id, body.roles) } })));
  });

  router.put('/accounts/:id/status', described({ summary: 'Disable a staff account (its sessions end at once) or enable it again', caller: 'staff', body: statusBody, example: { disabled: true }, idempotent: true, params: z.object({ id: z.string().regex(PATH_ID) }), responses: { 200: 'The account.' }, problems: ['staff_account_not_found', 'staff_last_administrator'] }), ...manages, async (ctx) => {
    const staff = signedInStaff(ctx);
    const key = idempotencyKey(ctx);
    const id = accountId(ctx.params.id);
    const { disabled } = await readJson(ctx, statusBody);
    respond(ctx, await runIdempotent(db, { scope: `staff:${staff.id}`, key, request: { op: 'staff-status', id, disabled } },
      async (trx) => ({ status: 200, body: { account: await setDisabled(trx, staff, id, disabled, clock()) } })));
  });

  router.post('/accounts/:id/second-factor-reset', described({ summary: "Reset a staff account's two-step verification (a lost phone)", caller: 'staff', idempotent: true, params: z.object({ id: z.string().regex(PATH_ID) }), responses: { 200: 'The account, its second factor off and its sessions ended.' }, problems: ['staff_account_not_found'] }), ...manages, async (ctx) => {
    const staff = signedInStaff(ctx);
    const key = idempotencyKey(ctx);
    const id = accountId(ctx.params.id);
    respond(ctx, await runIdempotent(db, { scope: `staff:${staff.id}`, key, request: { op: 'staff-second-factor-reset', id } },
      async (trx) => ({ status: 200, body: { account: await resetSecondFactor(trx, staff, id) } })));
  });

  // No session: the code is the credential, so wrong codes count against the caller's address.
  // No Idempotency-Key either, as for sign-in: a retry after a lost answer finds the code used,
  // and the new member signs in with what they chose.
  router.post('/invitations/redemptions', described({
    summary: 'Create a staff account with a one-time invitation code', caller: 'anyone', body: redeemBody, example: { code: 'K7QM-3XPA-9D', loginId: 'hanako.mado', password: 'まどぐち-合言葉-2026' },
    description: "The code is the credential; wrong codes count against the caller's address.",
    responses: { 201: 'The login ID, the organization and roles, and whether a second factor is set up at the first sign-in.' },
    problems: ['staff_invitation_invalid', 'staff_invitation_rate_limited', 'staff_login_taken', 'staff_password_too_short', 'staff_password_common'],
  }), async (ctx) => {
    const body = await readJson(ctx, redeemBody);
    const wait = await limit.secondsToWait(ctx.ip);
    if (wait > 0) {
      ctx.state.log.warn({ address: ctx.ip }, 'staff invitation refused: too many wrong codes');
      ctx.set('Retry-After', String(wait));
      throw new Problem('staff_invitation_rate_limited', `Try again in ${wait} s.`, { retryAfterSeconds: wait });
    }
    const redeemed = await redeemInvitation(db, body, scryptCost, clock()).catch(async (error: unknown) => {
      if (error instanceof Problem && error.code === 'staff_invitation_invalid') await limit.recordFailure(ctx.ip);
      throw error;
    });
    ctx.set('Cache-Control', 'no-store');
    ctx.status = 201;
    ctx.body = redeemed;
  });

  return router;
}
