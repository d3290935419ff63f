// The town's staff register services and the devices serving them, open a link or unlink for the
// resident's card to sign, look a member number up, unlink with a reason, and connect the
// service's own system (its webhook URL and API secret: integration.ts). The card's side is
// POST /api/v1/auth/challenges and card-sessions (or card-taps) with the purposes in purposes.ts.
import Router from '@koa/router';
import type { Knex } from 'knex';
import type { Context } from 'koa';
import { z } from 'zod';
import type { Db } from '../db.ts';
import { readJson } from '../http/body.ts';
import { idempotencyKey, respond, runIdempotent } from '../http/idempotency.ts';
import { idOf, Problem } from '../http/problems.ts';
import { MUNICIPAL_READERS, signedInStaff, staffWith } from '../staff/middleware.ts';
import { staffReason } from '../staff/reason.ts';
import { webhookUrlProblem } from '../partners/webhook-url.ts';
import type { SignedInStaff } from '../staff/repository.ts';
import { MEMBER_NUMBER, normalizeMemberNumber, SERVICE_KINDS, SERVICE_NAME, SERVICE_NAME_MAX, TAP_POLICIES } from '@mykey/contracts/services.ts';
import { issueApiSecret, openIssued, setWebhook } from './integration.ts';
import { createService, listServices, membershipByNumber, openRequest, serviceOf, setServiceDevices, unlinkByStaff, updateService } from './service.ts';
import { described } from '../http/described.ts';

const name = z.string().trim().min(1).max(SERVICE_NAME_MAX).regex(SERVICE_NAME, { error: 'must be one line of text' });
const serviceFields = { kind: z.enum(SERVICE_KINDS), nameJa: name, nameEn: name, tapPolicy: z.enum(TAP_POLICIES) };
const createBody = z.object({ ...serviceFields, tapPolicy: serviceFields.tapPolicy.default('pin') }).strict();
const updateBody = z.object(serviceFields).partial().strict().refine((body) => Object.keys(body).length > 0, { error: 'name at least one field to change' });
const devicesBody = z.object({ deviceIds: z.array(z.number().int().positive()).max(200) }).strict();
const MEMBER_NUMBER_RULE = 'must be 1–32 letters, digits or hyphens, as on the member card';
const memberNumber = z.string().max(64).transform(normalizeMemberNumber).pipe(z.string().regex(MEMBER_NUMBER, { error: MEMBER_NUMBER_RULE }));
const requestBody = z.object({ action: z.enum(['link', 'unlink']), memberNumber }).strict();
const unlinkBody = z.object({ reason: staffReason }).strict();
const webhookBody = z.object({ url: z.string().max(4096).nullable() }).strict();

export interface TownServiceRoutesDeps {
  db: Db; mykeySecret: Buffer; clock: () => Date;
  /** Whether a webhook URL may be plain http beyond loopback (partners/webhook-url.ts): development only. */
  allowPlainHttpWebhooks: boolean;
}

export function townServiceRoutes({ db, mykeySecret, clock, allowPlainHttpWebhooks }: TownServiceRoutesDeps): Router {
  const router = new Router({ prefix: '/api/v1/services' });
  const reads = staffWith(db, ...MUNICIPAL_READERS);
  const operates = staffWith(db, 'operator');

  /**
   * A staff change under the caller's Idempotency-Key, in one transaction; a deadlock with a
   * concurrent change (two services taking devices) is run again under the same key. `present`
   * turns the stored answer into the one sent (a secret is stored sealed, sent in clear).
   */
  async function change<T>(ctx: Context, request: Record<string, unknown>, status: number, effect: (trx: Knex.Transaction, staff: SignedInStaff) => Promise<T>, present: (stored: T) => unknown = (stored) => stored): Promise<void> {
    const staff = signedInStaff(ctx);
    const key = idempotencyKey(ctx);
    const answer = await runIdempotent(db, { scope: `staff:${staff.id}`, key, request }, async (trx) => ({ status, body: await effect(trx, staff) }));
    respond(ctx, { ...answer, body: present(answer.body as T) });
  }

  router.get('/', described({ summary: 'The town\'s services', caller: 'staff', responses: { 200: 'The services.' } }), ...reads, async (ctx) => {
    ctx.body = { services: await listServices(db, signedInStaff(ctx)) };
  });

  router.post('/', described({ summary: 'Register a service (a library, a museum…)', caller: 'staff', body: createBody, idempotent: true, example: { kind: 'library', nameJa: '中央図書館', nameEn: 'Central Library', tapPolicy: 'tap' }, responses: { 201: 'The service.' }, problems: ['service_name_taken'] }), ...operates, async (ctx) => {
    const body = await readJson(ctx, createBody);
    await change(ctx, { op: 'create-service', ...body }, 201, (trx, staff) => createService(trx, staff, body, clock()));
  });

  router.get('/:id', described({ summary: 'A service and its devices', caller: 'staff', responses: { 200: 'The service.' }, problems: ['service_not_found'] }), ...reads, async (ctx) => {
    ctx.body = await serviceOf(db, signedInStaff(ctx), idOf(ctx.params.id, 'service_not_found'));
  });

  router.patch('/:id', described({ summary: 'Change a service', caller: 'staff', body: updateBody, idempotent: true, example: { nameEn: 'City Library' }, responses: { 200: 'The service.' }, problems: ['service_not_found', 'service_name_taken'] }), ...operates, async (ctx) => {
    const id = idOf(ctx.params.id, 'service_not_found');
    const body = await readJson(ctx, updateBody);
    await change(ctx, { op: 'update-service', id, ...body }, 200, (trx, staff) => updateService(trx, staff, id, body, clock()));
  });

  router.put('/:id/devices', described({ summary: 'Set the devices that serve a service', caller: 'staff', body: devicesBody, idempotent: true, example: { deviceIds: [1, 2] }, responses: { 200: 'The service with its devices.' }, problems: ['service_not_found', 'device_not_found', 'device_not_for_service'] }), ...operates, async (ctx) => {
    const id = idOf(ctx.params.id, 'service_not_found');
    const { deviceIds } = await readJson(ctx, devicesBody);
    await change(ctx, { op: 'set-service-devices', id, deviceIds }, 200, (trx, staff) => setServiceDevices(trx, staff, id, deviceIds));
  });

  router.post('/:id/membership-requests', described({ summary: 'Open a link or unlink of a member number for the resident\'s card to sign', caller: 'staff', body: requestBody, idempotent: true, example: { action: 'link', memberNumber: 'LIB-000123' }, responses: { 201: 'The request, for the card\'s challenge.' }, problems: ['service_not_found', 'membership_number_taken'] }), ...operates, async (ctx) => {
    const id = idOf(ctx.params.id, 'service_not_found');
    const body = await readJson(ctx, requestBody);
    await change(ctx, { op: 'open-membership-request', id, ...body }, 201, (trx, staff) => openRequest(trx, staff, id, body.action, body.memberNumber, clock()));
  });

  router.get('/:id/memberships', described({ summary: 'Look a member number up', caller: 'staff', query: z.object({ memberNumber }), responses: { 200: 'The membership, with the resident\'s pseudonym.' }, problems: ['service_not_found', 'membership_not_found', 'request_invalid'] }), ...reads, async (ctx) => {
    const parsed = memberNumber.safeParse(ctx.query.memberNumber);
    if (!parsed.success) throw new Problem('request_invalid', `memberNumber: ${MEMBER_NUMBER_RULE}`);
    ctx.body = await membershipByNumber(db, mykeySecret, signedInStaff(ctx), idOf(ctx.params.id, 'service_not_found'), parsed.data);
  });

  router.post('/:id/memberships/:membershipId/unlink', described({ summary: 'Unlink a membership, with a reason', caller: 'staff', body: unlinkBody, idempotent: true, example: { reason: '本人からの申出' }, responses: { 200: 'The membership, unlinked.' }, problems: ['service_not_found', 'membership_not_found'] }), ...operates, async (ctx) => {
    const id = idOf(ctx.params.id, 'service_not_found');
    const membershipId = idOf(ctx.params.membershipId, 'membership_not_found');
    const { reason } = await readJson(ctx, unlinkBody);
    await change(ctx, { op: 'unlink-membership', id, membershipId, reason }, 200, (trx, staff) => unlinkByStaff(trx, staff, id, membershipId, reason));
  });

  router.put('/:id/webhook', described({ summary: 'Set or clear the URL the service\'s own system hears of taps at', caller: 'staff', body: webhookBody, idempotent: true, example: { url: 'https://library.example.jp/mykey/taps' }, responses: { 200: 'The service\'s integration.' }, problems: ['service_not_found', 'webhook_url_refused'] }), ...operates, async (ctx) => {
    const id = idOf(ctx.params.id, 'service_not_found');
    const { url } = await readJson(ctx, webhookBody);
    const refused = url === null ? undefined : webhookUrlProblem(url, allowPlainHttpWebhooks);
    if (refused) throw new Problem('webhook_url_refused', refused);
    const stored = url === null ? null : new URL(url).toString();
    await change(ctx, { op: 'set-service-webhook', id, url: stored }, 200, (trx, staff) => setWebhook(trx, staff, id, stored, clock()));
  });

  // Shown once: the answer stored for a replay holds the secret sealed, as the service's row does.
  router.post('/:id/api-secret', described({ summary: 'Issue the service\'s API secret for the service API (shown this once; the old one stops working)', caller: 'staff', idempotent: true, responses: { 201: 'The secret and the key id to sign with.' }, problems: ['service_not_found'] }), ...operates, async (ctx) => {
    const id = idOf(ctx.params.id, 'service_not_found');
    await change(ctx, { op: 'issue-service-api-secret', id }, 201, (trx, staff) => issueApiSecret(trx, mykeySecret, staff, id, clock()), (issued) => openIssued(mykeySecret, issued));
  });

  return router;
}
