// Every staff route checks its role (docs/security/staff.md#roles). The isolation suite walks
// every route across two towns; this one walks every staff route across the five roles: a
// staff member of each role alone calls each route, and a role the route is not for gets 403
// staff_role_forbidden before anything is read or changed. Which routes are staff routes is
// found by asking each route without a session; a staff route missing from ROUTE_ROLES fails
// the suite, so a new route joins it by construction.
import test from 'ava';
import { randomBytes, randomUUID } from 'node:crypto';
import type { StaffRole } from '@mykey/contracts/staff.ts';
import { DEMO_MUNICIPALITY } from '@mykey/dev-tools/demo-towns.ts';
import { fileFixture, migratedUpTo, testDatabase } from './helpers/env.ts';
import { routeList } from './helpers/routes.ts';
import { startTestApp } from './helpers/server.ts';
import { demoPasswordHash, staffCookie } from './helpers/staff.ts';

const READERS: StaffRole[] = ['administrator', 'operator', 'auditor'];
const OPERATOR: StaffRole[] = ['operator'];
const ADMINISTRATOR: StaffRole[] = ['administrator'];
const SHOP: StaffRole[] = ['owner', 'clerk'];
const EVERY: StaffRole[] = [...READERS, ...SHOP];

/** Who may call each staff route. */
const ROUTE_ROLES: Record<string, StaffRole[]> = {
  'GET /api/v1/staff/session': EVERY,
  'DELETE /api/v1/staff/sessions': EVERY,
  'POST /api/v1/staff/password': EVERY,
  'POST /api/v1/staff/totp/enrolment': EVERY,
  'POST /api/v1/staff/totp/enrolment/confirm': EVERY,
  'POST /api/v1/staff/sessions/second-factor': EVERY,
  // Devices: everyone sees their organization's; the operator or the shop's owner changes them.
  'GET /api/v1/staff/devices': EVERY,
  'POST /api/v1/staff/device-enrollment-codes': ['operator', 'owner'],
  'POST /api/v1/staff/devices/:id/revocation': ['operator', 'owner'],
  // Staff accounts: the town's administrator, or the shop's owner, for their own organization.
  'GET /api/v1/staff/accounts': ['administrator', 'owner'],
  'POST /api/v1/staff/invitations': ['administrator', 'owner'],
  'GET /api/v1/staff/invitations': ['administrator', 'owner'],
  'POST /api/v1/staff/invitations/:id/cancellation': ['administrator', 'owner'],
  'PUT /api/v1/staff/accounts/:id/roles': ['administrator', 'owner'],
  'PUT /api/v1/staff/accounts/:id/status': ['administrator', 'owner'],
  'POST /api/v1/staff/accounts/:id/second-factor-reset': ['administrator', 'owner'],
  'GET /api/v1/staff/partner-agreements': READERS,
  'POST /api/v1/staff/partner-agreements': ['administrator'],
  'POST /api/v1/staff/partner-agreements/:id/end': ['administrator'],
  'GET /api/v1/staff/mykeys/:mykeyId': READERS,
  'GET /api/v1/staff/mykeys/:mykeyId/town': READERS,
  'POST /api/v1/staff/mykeys/:mykeyId/relinks': OPERATOR,
  'POST /api/v1/staff/mykeys/:mykeyId/suspension': OPERATOR,
  'POST /api/v1/staff/mykeys/:mykeyId/reinstatement': OPERATOR,
  'POST /api/v1/staff/mykeys/:mykeyId/block': OPERATOR,
  'POST /api/v1/staff/mykeys/:mykeyId/unblock': OPERATOR,
  'GET /api/v1/services': READERS,
  'POST /api/v1/services': OPERATOR,
  'GET /api/v1/services/:id': READERS,
  'PATCH /api/v1/services/:id': OPERATOR,
  'PUT /api/v1/services/:id/devices': OPERATOR,
  'POST /api/v1/services/:id/membership-requests': OPERATOR,
  'GET /api/v1/services/:id/memberships': READERS,
  'POST /api/v1/services/:id/memberships/:membershipId/unlink': OPERATOR,
  'PUT /api/v1/services/:id/webhook': OPERATOR,
  'POST /api/v1/services/:id/api-secret': OPERATOR,
  'GET /api/v1/services/:id/uses': READERS,
  'GET /api/v1/services/:id/uses.csv': READERS,
  'GET /api/v1/service-uses': READERS,
  'GET /api/v1/service-uses.csv': READERS,
  'GET /api/v1/shelters': READERS,
  'POST /api/v1/shelters': OPERATOR,
  'GET /api/v1/shelters/summary': READERS,
  'GET /api/v1/shelters/:id': READERS,
  'PATCH /api/v1/shelters/:id': OPERATOR,
  'PUT /api/v1/shelters/:id/devices': OPERATOR,
  'POST /api/v1/shelters/:id/close': OPERATOR,
  'GET /api/v1/shelters/:id/roster': READERS,
  'GET /api/v1/shelters/:id/roster.csv': READERS,
  'GET /api/v1/event-categories': READERS,
  'POST /api/v1/event-categories': OPERATOR,
  'PATCH /api/v1/event-categories/:id': OPERATOR,
  'GET /api/v1/events': READERS,
  'POST /api/v1/events': OPERATOR,
  'GET /api/v1/events/:id': READERS,
  'PATCH /api/v1/events/:id': OPERATOR,
  'PUT /api/v1/events/:id/devices': OPERATOR,
  'GET /api/v1/event-figures': READERS,
  'GET /api/v1/event-figures.csv': READERS,
  'GET /api/v1/campaign-figures/campaigns/:id': READERS,
  'GET /api/v1/campaign-figures/campaigns/:id/days.csv': READERS,
  'GET /api/v1/campaign-figures/campaigns/:id/shops.csv': READERS,
  'GET /api/v1/campaign-figures/programme': READERS,
  'GET /api/v1/campaign-figures/programme/days.csv': READERS,
  'GET /api/v1/campaign-figures/programme/shops.csv': READERS,
  'GET /api/v1/campaign-figures/expiring': READERS,
  'GET /api/v1/campaign-figures/expiring.csv': READERS,
  // Campaigns: every municipal role reads them, the administrator runs them.
  'GET /api/v1/campaigns': READERS,
  'POST /api/v1/campaigns': ADMINISTRATOR,
  'GET /api/v1/campaigns/:id': READERS,
  'PUT /api/v1/campaigns/:id': ADMINISTRATOR,
  'POST /api/v1/campaigns/:id/status': ADMINISTRATOR,
  'POST /api/v1/campaigns/:id/funding': ADMINISTRATOR,
  'POST /api/v1/campaigns/:id/top-ups': ADMINISTRATOR,
  'GET /api/v1/staff/grants/campaigns': READERS,
  'POST /api/v1/staff/grants': OPERATOR,
  'GET /api/v1/staff/grants': READERS,
  'GET /api/v1/staff/grant-history': READERS,
  'POST /api/v1/staff/grant-uploads': OPERATOR,
  'GET /api/v1/staff/grant-uploads/:uploadId': READERS,
  'GET /api/v1/staff/grant-uploads/:uploadId/result.csv': READERS,
  'GET /api/v1/staff/settlements': READERS,
  'GET /api/v1/merchant/settlement': ['owner'],
  'GET /api/v1/staff/settlement-periods': READERS,
  'POST /api/v1/staff/settlement-periods': ['administrator'],
  'GET /api/v1/staff/settlement-periods/:id': READERS,
  'GET /api/v1/staff/settlement-periods/:id/merchants/:merchantId': READERS,
  'GET /api/v1/staff/settlement-periods/:id/transfer-file': ['administrator', 'auditor'],
  'GET /api/v1/staff/settlement-periods/:id/partner-invoices': READERS,
  'GET /api/v1/staff/settlement-payer': READERS,
  'PUT /api/v1/staff/settlement-payer': ['administrator'],
  'GET /api/v1/merchant/settlement-periods': ['owner'],
  'GET /api/v1/merchant/settlement-periods/:id': ['owner'],
  // Shops: every municipal role reads them; the administrator decides.
  'GET /api/v1/staff/shops': READERS,
  'GET /api/v1/staff/shops/:id': READERS,
  'POST /api/v1/staff/shops/:id/approval': ['administrator'],
  'POST /api/v1/staff/shops/:id/rejection': ['administrator'],
  'POST /api/v1/staff/shops/:id/suspension': ['administrator'],
  'POST /api/v1/staff/shops/:id/reinstatement': ['administrator'],
  'PUT /api/v1/staff/shops/:id/bank-account': ['administrator'],
  'POST /api/v1/merchant/payment-intents': SHOP,
  'GET /api/v1/merchant/payment-intents/:id': SHOP,
  'POST /api/v1/merchant/payment-intents/:id/cancellation': SHOP,
  'POST /api/v1/merchant/payments/:id/refunds': SHOP,
  'POST /api/v1/merchant/payments/:id/void': SHOP,
  'GET /api/v1/merchant/payments': SHOP,
};

/** Routes whose check is their session's stage, not a role: every role passes, so none is called. */
const everyRole = (roles: StaffRole[]) => EVERY.every((role) => roles.includes(role));

const fixture = fileFixture(test, async (cleanup) => {
  const { db } = await testDatabase(cleanup);
  await db.seed.run();
  const { base, app } = await startTestApp(cleanup, db);
  const bakery = (await db('merchants').where({ slug: 'demo-bakery' }).first('id')).id as number;
  // One account of each role alone, in the demo town and its bakery.
  const cookies = new Map<StaffRole, string>();
  for (const role of EVERY) {
    const loginId = `role-${role}-${randomBytes(3).toString('hex')}`;
    const organization = SHOP.includes(role)
      ? { organization_kind: 'merchant', merchant_id: bakery, municipality_code: null }
      : { organization_kind: 'municipality', merchant_id: null, municipality_code: DEMO_MUNICIPALITY.code };
    await db('staff_accounts').insert({ login_id: loginId, display_name: `役割 ${role}`, roles: role, password_hash: await demoPasswordHash(), ...organization });
    cookies.set(role, await staffCookie(base, loginId));
  }
  return { db, base, routes: routeList(app), cookies };
});

/** A call with nothing real in it: ids that name nothing, an empty body, a fresh key. */
async function call(base: string, route: string, cookie?: string): Promise<{ status: number; code?: string }> {
  const [method, path] = route.split(' ') as [string, string];
  const response = await fetch(`${base}${path.replace(/:[A-Za-z]+/g, '999999999')}`, {
    method,
    headers: { ...(cookie && { cookie }), 'Idempotency-Key': randomUUID(), ...(method !== 'GET' && { 'Content-Type': 'application/json' }) },
    body: method === 'GET' ? undefined : '{}',
  });
  const text = await response.text();
  let code: string | undefined;
  try { code = JSON.parse(text).code; } catch { code = undefined; }
  return { status: response.status, code };
}

test('every staff route has its roles here, and only staff routes do', async (t) => {
  const { base, routes } = await fixture();
  const staffRoutes: string[] = [];
  for (const route of routes) if ((await call(base, route)).code === 'staff_session_required') staffRoutes.push(route);
  t.deepEqual(staffRoutes.filter((route) => !(route in ROUTE_ROLES)), [], 'staff routes with no roles in roles.test.ts');
  t.deepEqual(Object.keys(ROUTE_ROLES).filter((route) => !staffRoutes.includes(route)), [], 'roles for routes that are not staff routes');
});

test('the auditor reads and changes nothing: no route but a GET is open to the auditor alone or with others, beyond one\'s own session', (t) => {
  const changes = Object.entries(ROUTE_ROLES).filter(([route, roles]) => !route.startsWith('GET ') && roles.includes('auditor') && !everyRole(roles));
  t.deepEqual(changes, []);
});

for (const role of EVERY) {
  test(`a staff member who is ${role} alone is refused every route not for ${role}, and let through every route that is`, async (t) => {
    const { base, cookies } = await fixture();
    const cookie = cookies.get(role)!;
    const wrong: string[] = [];
    for (const [route, roles] of Object.entries(ROUTE_ROLES)) {
      if (everyRole(roles)) continue;
      const answer = await call(base, route, cookie);
      const refused = answer.status === 403 && answer.code === 'staff_role_forbidden';
      if (refused === roles.includes(role)) wrong.push(`${route}: ${answer.status} ${answer.code}`);
    }
    t.deepEqual(wrong, []);
    t.is((await call(base, 'GET /api/v1/staff/session', cookie)).status, 200, 'still signed in');
  });
}

test('the migration that brought roles keeps what every account could do: municipal staff administrator and operator, shop staff owner', async (t) => {
  const db = await migratedUpTo((fn) => t.teardown(fn), '20261208000000_staff_roles.ts');
  await db('municipalities').insert({ code: '999991', name_ja: '役割市', name_en: 'Role City' });
  const [shop] = await db('merchants').insert({ municipality_code: '999991', slug: 'role-shop', name_ja: '店', name_en: 'Shop' });
  await db('staff_accounts').insert([
    { login_id: 'old-city', display_name: '職員', role: 'municipality', municipality_code: '999991', password_hash: 'x' },
    { login_id: 'old-shop', display_name: '店員', role: 'merchant', merchant_id: shop, password_hash: 'x' },
  ]);
  await db.migrate.up();
  const rows = await db('staff_accounts').whereIn('login_id', ['old-city', 'old-shop']).orderBy('login_id').select('login_id', 'organization_kind', 'roles');
  t.deepEqual(rows.map((row) => ({ ...row })), [
    { login_id: 'old-city', organization_kind: 'municipality', roles: 'administrator,operator' },
    { login_id: 'old-shop', organization_kind: 'merchant', roles: 'owner' },
  ]);
  // The schema keeps roles to the organization's kind.
  await t.throwsAsync(db('staff_accounts').insert({ login_id: 'mixed', display_name: '混在', organization_kind: 'merchant', roles: 'owner,auditor', merchant_id: shop, password_hash: 'x' }));
  await t.throwsAsync(db('staff_accounts').insert({ login_id: 'none', display_name: '無', organization_kind: 'municipality', roles: '', municipality_code: '999991', password_hash: 'x' }));
});
