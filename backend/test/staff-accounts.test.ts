// The life of a staff account (docs/security/staff.md#the-life-of-an-account): invited with a
// one-time code by the town's administrator (a shop's owner), listed, given other roles,
// disabled and enabled, its second factor reset; the town's last administrator kept; and a new
// town with its first administrator added by the operators' command.
import test from 'ava';
import { execFile } from 'node:child_process';
import { randomBytes, randomUUID } from 'node:crypto';
import { promisify } from 'node:util';
import { DEMO_MUNICIPALITY, DEMO_PASSWORD, DEMO_SECOND_MERCHANTS, DEMO_SECOND_MUNICIPALITY } from '@mykey/dev-tools/demo-towns.ts';
import { fileFixture, testDatabase } from './helpers/env.ts';
import { signInStaff, type Staff } from './helpers/identity.ts';
import { addPartner, addResident, signedFetch } from './helpers/partners.ts';
import { startApp } from './helpers/server.ts';
import { demoPasswordHash, post, staffCookie } from './helpers/staff.ts';
import { FAILURE_LIMIT } from '../src/one-time-code-limit.ts';
import { isMunicipalityCode } from '../src/organizations/municipality-code.ts';
import { mykeySecret } from '../src/config.ts';
import type { Db } from '../src/db.ts';
import { tokenHash } from '../src/staff/repository.ts';

const PASSWORD = 'しょくいん-招待-2026-passphrase';

const fixture = fileFixture(test, async (cleanup) => {
  const { db, url } = await testDatabase(cleanup);
  await db.seed.run();
  const base = await startApp(cleanup, db);
  return { db, url, base, admin: await signInStaff(base, 'demo-city'), owner: await signInStaff(base, 'demo-shop') };
});

const unique = (prefix: string) => `${prefix}-${randomBytes(4).toString('hex')}`;

/** A municipal administrator of the demo town of the test's own (the shared demo-city is not removed by any test). */
async function ownAdministrator(db: Db, base: string, roles = 'administrator'): Promise<Staff & { id: number; loginId: string }> {
  const loginId = unique('admin');
  const [id] = await db('staff_accounts').insert({ login_id: loginId, display_name: '管理者 テスト', organization_kind: 'municipality', roles, municipality_code: DEMO_MUNICIPALITY.code, password_hash: await demoPasswordHash() });
  return { ...(await signInStaff(base, loginId)), id: Number(id), loginId };
}

/** Redeems `code` over the API as the invitation page does. */
function redeem(base: string, code: string, loginId: string, password = PASSWORD) {
  return post(base, '/api/v1/staff/invitations/redemptions', { code, loginId, password });
}

async function invite(staff: Staff, body: Record<string, unknown>): Promise<string> {
  const reply = await staff.post('/api/v1/staff/invitations', body);
  if (reply.status !== 201) throw new Error(`invitation: ${reply.status} ${JSON.stringify(reply.body)}`);
  return reply.body.code;
}

test('an administrator invites an operator by a one-time code; the new member chooses login and password, enrols TOTP, and is an operator alone', async (t) => {
  const { db, base, admin } = await fixture();
  const issued = await admin.post('/api/v1/staff/invitations', { displayName: '窓口 花子', roles: ['operator'] });
  t.is(issued.status, 201);
  t.like(issued.body, { displayName: '窓口 花子', roles: ['operator'], organization: { kind: 'municipality', id: DEMO_MUNICIPALITY.code } });
  t.regex(issued.body.code, /^[A-Z0-9]{4}-[A-Z0-9]{4}-[A-Z0-9]{2}$/);
  const stored = await db('staff_invitations').where({ code_hash: tokenHash(issued.body.code.replaceAll('-', '')) }).first();
  t.truthy(stored, 'the code is stored as its hash');
  t.false(JSON.stringify(stored).includes(issued.body.code.replaceAll('-', '')), 'and only so');

  const loginId = unique('hanako');
  const made = await redeem(base, issued.body.code.toLowerCase(), loginId);
  t.is(made.status, 201, JSON.stringify(made.body));
  t.like(made.body, { loginId, roles: ['operator'], secondFactorRequired: true, organization: { kind: 'municipality', id: DEMO_MUNICIPALITY.code } });
  t.like(await redeem(base, issued.body.code, unique('again')), { status: 400, body: { code: 'staff_invitation_invalid' } }, 'single use');

  // The password signs in to enrolment only; after it, the operator's places, not the administrator's.
  const first = await post(base, '/api/v1/staff/sessions', { loginId, password: PASSWORD });
  t.like(first, { status: 201, body: { next: 'totp_enrolment' } });
  const operator = await staffCookie(base, loginId, PASSWORD);
  const accounts = await fetch(`${base}/api/v1/staff/accounts`, { headers: { cookie: operator } });
  t.is(accounts.status, 403);
  const session = await (await fetch(`${base}/api/v1/staff/session`, { headers: { cookie: operator } })).json();
  t.like(session.staff, { loginId, displayName: '窓口 花子', roles: ['operator'], secondFactor: true });

  const listed = await admin.get('/api/v1/staff/accounts');
  const row = listed.body.accounts.find((a: { loginId: string }) => a.loginId === loginId);
  t.like(row, { displayName: '窓口 花子', roles: ['operator'], secondFactor: true, disabled: false });
  t.truthy(row.lastSignedInAt, 'the last sign-in is shown');
  t.false(JSON.stringify(listed.body).includes('scrypt'), 'no password hash in the list');
  const audited = (subject: string) => db('audit_events').where({ subject }).orderBy('seq').pluck('action');
  t.deepEqual(await audited(`staff_invitation:${stored.id}`), ['staff.invitation_issued']);
  t.is((await audited(`staff:${row.id}`))[0], 'staff.invitation_redeemed', "the account's history begins with its invitation");
});

test('a code that is wrong, expired or for a taken login ID makes no account; the password rules hold', async (t) => {
  const { db, base, admin } = await fixture();
  const code = await invite(admin, { displayName: '期限 切れ', roles: ['auditor'] });
  t.like(await redeem(base, code, 'demo-city'), { status: 409, body: { code: 'staff_login_taken' } });
  t.like(await redeem(base, code, unique('short'), 'short'), { status: 400, body: { code: 'staff_password_too_short' } });
  t.like(await redeem(base, code, unique('common'), 'password1234'), { status: 400, body: { code: 'staff_password_common' } });
  t.like(await redeem(base, code, 'x'), { status: 400, body: { code: 'request_invalid' } }, 'a login ID of 3 characters or more');
  await db('staff_invitations').where({ code_hash: tokenHash(code.replaceAll('-', '')) }).update({ expires_at: new Date(Date.now() - 1000) });
  t.like(await redeem(base, code, unique('late')), { status: 400, body: { code: 'staff_invitation_invalid' } });
  t.like(await redeem(base, 'AAAA-AAAA-AA', unique('wrong')), { status: 400, body: { code: 'staff_invitation_invalid' } });
});

test('wrong invitation codes are rate-limited per address, a right one included once the limit is reached', async (t) => {
  const { db, admin } = await fixture();
  // An app of its own: its own Redis prefix, so the other tests' wrong codes do not count here.
  const base = await startApp((fn) => t.teardown(fn), db);
  const code = await invite(admin, { displayName: '制限 テスト', roles: ['auditor'] });
  for (let i = 0; i < FAILURE_LIMIT; i++) t.is((await redeem(base, 'BBBB-BBBB-BB', unique('guess'))).status, 400);
  const limited = await redeem(base, code, unique('limited'));
  t.like(limited, { status: 429, body: { code: 'staff_invitation_rate_limited' } });
});

test('the same Idempotency-Key gives the same code once; a shop owner invites clerks and co-owners of its own shop only', async (t) => {
  const { base, admin, owner } = await fixture();
  const key = randomUUID();
  const once = await admin.post('/api/v1/staff/invitations', { displayName: '一度 だけ', roles: ['auditor'] }, key);
  const again = await admin.post('/api/v1/staff/invitations', { displayName: '一度 だけ', roles: ['auditor'] }, key);
  t.deepEqual(again.body, once.body);

  t.like(await owner.post('/api/v1/staff/invitations', { displayName: '店員', roles: ['administrator'] }), { status: 400, body: { code: 'request_invalid' } });
  t.like(await owner.post('/api/v1/staff/invitations', { displayName: '店員', roles: ['clerk'], merchantId: 1 }), { status: 400, body: { code: 'request_invalid' } });
  t.like(await admin.post('/api/v1/staff/invitations', { displayName: '職員', roles: ['clerk'] }), { status: 400, body: { code: 'request_invalid' } }, "a town's own staff are not a shop's");
  const code = await invite(owner, { displayName: 'レジ 次郎', roles: ['clerk'] });
  const loginId = unique('jiro');
  t.like(await redeem(base, code, loginId), { status: 201, body: { roles: ['clerk'], secondFactorRequired: false, organization: { kind: 'merchant' } } });
  const clerk = await signInStaff(base, loginId, PASSWORD);
  t.is((await clerk.get('/api/v1/staff/accounts')).status, 403, 'a clerk manages no staff');
  t.is((await clerk.get('/api/v1/merchant/settlement?from=2026-12-01&to=2026-12-01')).status, 403, 'nor sees the settlement');
  t.is((await clerk.post('/api/v1/merchant/payment-intents', { amount: 100 })).status, 201, 'but works the register');
  const shopStaff = (await owner.get('/api/v1/staff/accounts')).body.accounts.map((a: { loginId: string }) => a.loginId);
  t.true(shopStaff.includes(loginId) && shopStaff.includes('demo-shop'));
  t.false(shopStaff.includes('demo-city'), "the shop sees its own staff, not the town's");
});

test("a town's administrator invites a shop's first owner, only for a shop of the town without one", async (t) => {
  const { db, base, admin } = await fixture();
  const [shop] = await db('merchants').insert({ municipality_code: DEMO_MUNICIPALITY.code, slug: unique('new-shop'), name_ja: '新しい店', name_en: 'New Shop' });
  const bakery = (await db('merchants').where({ slug: 'demo-bakery' }).first('id')).id;
  const cafeB = (await db('merchants').where({ slug: DEMO_SECOND_MERCHANTS[0]!.slug }).first('id')).id;
  t.like(await admin.post('/api/v1/staff/invitations', { displayName: '店主', roles: ['owner'], merchantId: bakery }), { status: 409, body: { code: 'staff_shop_has_owner' } });
  const unknown = await admin.post('/api/v1/staff/invitations', { displayName: '店主', roles: ['owner'], merchantId: 999_999_999 });
  const ofB = await admin.post('/api/v1/staff/invitations', { displayName: '店主', roles: ['owner'], merchantId: cafeB });
  t.like(unknown, { status: 404, body: { code: 'merchant_not_found' } });
  t.is(ofB.status, unknown.status);
  t.is(ofB.body.code, unknown.body.code, "another town's shop is as unknown as none");
  t.like(await admin.post('/api/v1/staff/invitations', { displayName: '店主', roles: ['clerk'], merchantId: shop }), { status: 400 }, 'the first is an owner');
  const code = await invite(admin, { displayName: '新店 店主', roles: ['owner'], merchantId: shop });
  t.like(await redeem(base, code, unique('owner')), { status: 201, body: { roles: ['owner'], organization: { kind: 'merchant', id: String(shop), name: { ja: '新しい店' } } } });
});

test("open invitations are listed without their codes and can be cancelled, making no account; each organization sees and cancels its own", async (t) => {
  const { db, base, admin, owner } = await fixture();
  const names = { operator: unique('招待 取消'), clerk: unique('店員 招待'), firstOwner: unique('新店 店主') };
  const operatorCode = await invite(admin, { displayName: names.operator, roles: ['operator'] });
  await invite(owner, { displayName: names.clerk, roles: ['clerk'] });
  const [shop] = await db('merchants').insert({ municipality_code: DEMO_MUNICIPALITY.code, slug: unique('invited-shop'), name_ja: '招待の店', name_en: 'Invited Shop', status: 'approved' });
  await invite(admin, { displayName: names.firstOwner, roles: ['owner'], merchantId: shop });

  const listed = async (staff: Staff) => {
    const reply = await staff.get('/api/v1/staff/invitations');
    t.is(reply.status, 200);
    return reply.body.invitations as Array<{ id: number; displayName: string; roles: string[]; organization: { kind: string; id: string }; issuedBy: string | null }>;
  };
  const ofTown = await listed(admin);
  const find = (list: Awaited<ReturnType<typeof listed>>, name: string) => list.find((i) => i.displayName === name);
  t.like(find(ofTown, names.operator), { roles: ['operator'], organization: { kind: 'municipality', id: DEMO_MUNICIPALITY.code }, issuedBy: '市職員 太郎' });
  t.like(find(ofTown, names.firstOwner), { roles: ['owner'], organization: { kind: 'merchant', id: String(shop) } }, "the town sees the first owner's invitation it issued");
  t.is(find(ofTown, names.clerk), undefined, "but not a shop's own");
  t.false(JSON.stringify(ofTown).includes(operatorCode.replaceAll('-', '')) || JSON.stringify(ofTown).includes(operatorCode), 'never a code');
  const ofShop = await listed(owner);
  t.truthy(find(ofShop, names.clerk));
  t.is(find(ofShop, names.operator), undefined);
  const operatorId = find(ofTown, names.operator)!.id;
  const clerkId = find(ofShop, names.clerk)!.id;

  t.like(await owner.post(`/api/v1/staff/invitations/${operatorId}/cancellation`, {}), { status: 404, body: { code: 'staff_invitation_not_found' } }, "a shop cannot cancel the town's");
  t.like(await admin.post(`/api/v1/staff/invitations/${clerkId}/cancellation`, {}), { status: 404, body: { code: 'staff_invitation_not_found' } }, "nor the town a shop's own");
  t.like(await admin.post('/api/v1/staff/invitations/abc/cancellation', {}), { status: 404, body: { code: 'staff_invitation_not_found' } });
  const key = randomUUID();
  const cancelled = await admin.post(`/api/v1/staff/invitations/${operatorId}/cancellation`, {}, key);
  t.like(cancelled, { status: 200, body: { invitation: { id: operatorId, displayName: names.operator } } });
  t.deepEqual((await admin.post(`/api/v1/staff/invitations/${operatorId}/cancellation`, {}, key)).body, cancelled.body, 'a retry replays');
  t.like(await admin.post(`/api/v1/staff/invitations/${operatorId}/cancellation`, {}), { status: 404 }, 'cancelled once');
  t.like(await redeem(base, operatorCode, unique('late')), { status: 400, body: { code: 'staff_invitation_invalid' } }, 'its code makes no account');
  t.is(find(await listed(admin), names.operator), undefined);
  t.truthy(find(await listed(owner), names.clerk), "the shop's stands");
  const [event] = await db('audit_events').where({ subject: `staff_invitation:${operatorId}`, action: 'staff.invitation_cancelled' }).select('actor_kind', 'details');
  t.like(event, { actor_kind: 'staff', details: { roles: ['operator'] } });
});

test('roles change at once; the last administrator cannot be removed, by themselves or another; with two, one may step down', async (t) => {
  const { db, base } = await fixture();
  // A town of the test's own, so the demo town's administrators do not count.
  const code = '139017';
  t.true(isMunicipalityCode(code));
  await db('municipalities').insert({ code, name_ja: '役割町', name_en: 'Roles Town' });
  const insert = async (roles: string) => {
    const loginId = unique('keeper');
    const [id] = await db('staff_accounts').insert({ login_id: loginId, display_name: '管理 者', organization_kind: 'municipality', roles, municipality_code: code, password_hash: await demoPasswordHash() });
    return { ...(await signInStaff(base, loginId)), id: Number(id), loginId };
  };
  const only = await insert('administrator,operator');
  t.like(await only.put(`/api/v1/staff/accounts/${only.id}/roles`, { roles: ['operator'] }), { status: 409, body: { code: 'staff_last_administrator' } });
  t.like(await only.put(`/api/v1/staff/accounts/${only.id}/status`, { disabled: true }), { status: 409, body: { code: 'staff_last_administrator' } });
  const second = await insert('operator');
  const promoted = await only.put(`/api/v1/staff/accounts/${second.id}/roles`, { roles: ['operator', 'administrator'] });
  t.like(promoted, { status: 200, body: { account: { roles: ['administrator', 'operator'] } } });
  t.is((await second.get('/api/v1/staff/accounts')).status, 200, 'the new role counts on the session already open');
  t.like(await only.put(`/api/v1/staff/accounts/${only.id}/roles`, { roles: ['auditor'] }), { status: 200, body: { account: { roles: ['auditor'] } } });
  t.is((await only.get('/api/v1/staff/accounts')).status, 403, 'stepped down: no longer manages staff');
  t.like(await second.put(`/api/v1/staff/accounts/${second.id}/roles`, { roles: ['operator'] }), { status: 409, body: { code: 'staff_last_administrator' } });
  const audit = await db('audit_events').where({ subject: `staff:${only.id}`, action: 'staff.roles_changed' }).first('details');
  t.like(typeof audit.details === 'string' ? JSON.parse(audit.details) : audit.details, { from: ['administrator', 'operator'], to: ['auditor'] });
});

test("disabling ends the account's sessions at once and keeps it from signing in; enabling lets it in again", async (t) => {
  const { db, base, admin } = await fixture();
  const member = await ownAdministrator(db, base, 'operator');
  t.is((await member.get('/api/v1/staff/session')).status, 200);
  const disabled = await admin.put(`/api/v1/staff/accounts/${member.id}/status`, { disabled: true });
  t.like(disabled, { status: 200, body: { account: { loginId: member.loginId, disabled: true } } });
  t.is((await member.get('/api/v1/staff/session')).status, 401, 'the open session ended');
  t.like(await post(base, '/api/v1/staff/sessions', { loginId: member.loginId, password: DEMO_PASSWORD }),
    { status: 403, body: { code: 'staff_account_disabled' } });
  t.like(await admin.put(`/api/v1/staff/accounts/${member.id}/status`, { disabled: false }), { status: 200, body: { account: { disabled: false } } });
  t.is((await (await signInStaff(base, member.loginId)).get('/api/v1/staff/session')).status, 200);
});

test('a lost second factor is reset: the sessions end and the account enrols again at its next sign-in', async (t) => {
  const { db, base, admin } = await fixture();
  const member = await ownAdministrator(db, base, 'operator');
  t.like(await admin.post(`/api/v1/staff/accounts/${member.id}/second-factor-reset`, {}), { status: 200, body: { account: { secondFactor: false } } });
  t.is((await member.get('/api/v1/staff/session')).status, 401);
  t.like(await post(base, '/api/v1/staff/sessions', { loginId: member.loginId, password: DEMO_PASSWORD }), { status: 201, body: { next: 'totp_enrolment' } });
  t.is(Number((await db('staff_recovery_codes').where({ staff_id: member.id }).count({ n: '*' }))[0]!.n), 0, 'the old recovery codes are gone');
});

test("another town's account is answered as one that does not exist, and nothing of it changes", async (t) => {
  const { db, admin } = await fixture();
  const cityB = await db('staff_accounts').where({ login_id: 'demo-aoba-city' }).first('id', 'roles');
  for (const [path, body] of [[`/roles`, { roles: ['auditor'] }], ['/status', { disabled: true }]] as const) {
    const ofB = await admin.put(`/api/v1/staff/accounts/${cityB.id}${path}`, body);
    const unknown = await admin.put(`/api/v1/staff/accounts/999999999${path}`, body);
    t.like(ofB, { status: 404, body: { code: 'staff_account_not_found' } });
    t.is(ofB.body.code, unknown.body.code);
  }
  t.like(await db('staff_accounts').where({ id: cityB.id }).first('roles', 'disabled_at'), { roles: cityB.roles, disabled_at: null });
  t.false(JSON.stringify((await admin.get('/api/v1/staff/accounts')).body).includes('demo-aoba'));
});

test("the administrator lists, adds and ends the town's partner agreements; an ended one stops the partner's conversions at once", async (t) => {
  const { db, base, admin } = await fixture();
  const partner = await addPartner(db);
  const auditor = await ownAdministrator(db, base, 'auditor');
  t.is((await auditor.post('/api/v1/staff/partner-agreements', { partner: partner.slug })).status, 403, 'an auditor changes nothing');
  t.like(await admin.post('/api/v1/staff/partner-agreements', { partner: 'no-such-partner' }), { status: 404, body: { code: 'partner_not_found' } });
  const added = await admin.post('/api/v1/staff/partner-agreements', { partner: partner.slug, startsOn: '2026-01-01' });
  t.like(added, { status: 201, body: { partner: partner.slug, municipality: DEMO_MUNICIPALITY.code, status: 'active', startsOn: '2026-01-01', endsOn: null } });
  t.like(await admin.post('/api/v1/staff/partner-agreements', { partner: partner.slug }), { status: 409, body: { code: 'partner_agreement_exists' } });
  const listed = await auditor.get('/api/v1/staff/partner-agreements');
  t.true(listed.body.agreements.some((a: { id: number }) => a.id === added.body.id));
  t.true(listed.body.agreements.every((a: { municipality: string }) => a.municipality === DEMO_MUNICIPALITY.code));

  const resident = await addResident(db);
  const convert = (tx: string) => signedFetch(base, partner, 'POST', '/api/v1/partner/conversions',
    JSON.stringify({ partnerTxId: tx, mykeyId: resident, municipality: DEMO_MUNICIPALITY.code, partnerPoints: 100 }));
  t.is((await convert(unique('before-end'))).status, 202, 'in force: accepted');
  const ended = await admin.post(`/api/v1/staff/partner-agreements/${added.body.id}/end`, {});
  t.like(ended, { status: 200, body: { id: added.body.id, status: 'ended' } });
  const refused = await convert(unique('after-end'));
  t.is(JSON.parse(refused.text).code, 'partner_agreement_missing');
  t.like(await admin.post(`/api/v1/staff/partner-agreements/${added.body.id}/end`, {}), { status: 404, body: { code: 'partner_agreement_not_found' } });
  const actions = await db('audit_events').whereIn('subject', [`partner-agreement:${added.body.id}`]).orderBy('seq').select('action', 'actor_kind');
  t.deepEqual(actions.map((a) => ({ ...a })), [{ action: 'partner.agreement_added', actor_kind: 'staff' }, { action: 'partner.agreement_ended', actor_kind: 'staff' }]);
});

test('npm run mykey -- municipality add: the code\'s check digit, the first administrator\'s code, nothing twice on a re-run', async (t) => {
  const { db, url, base } = await fixture();
  const env = { ...process.env, DATABASE_URL: url, MYKEY_SECRET: mykeySecret({ NODE_ENV: 'test' }).toString('hex') };
  const script = new URL('../../scripts/mykey.ts', import.meta.url).pathname;
  const run = (...args: string[]) => promisify(execFile)(process.execPath, ['--import=tsx', script, 'municipality', ...args], { env })
    .then(({ stdout }) => ({ code: 0, out: JSON.parse(stdout) }), (error: { code: number; stdout: string }) => ({ code: error.code, out: JSON.parse(error.stdout) }));
  const town = ['add', '--code', '139025', '--name-ja', 'ほしぞら村', '--name-en', 'Hoshizora Village'];
  t.like(await run('add', '--code', '139024', '--name-ja', 'ほしぞら村', '--name-en', 'Hoshizora Village'), { code: 2, out: { error: 'municipality_code_invalid' } });
  t.like(await run('add', '--code', '139025'), { code: 2, out: { error: 'usage' } });

  const first = await run(...town);
  t.like(first, { code: 0, out: { added: true, municipality: { code: '139025', name: { ja: 'ほしぞら村' } }, invitation: { roles: ['administrator'], organization: { kind: 'municipality', id: '139025' } } } });
  const again = await run(...town);
  t.like(again, { code: 0, out: { added: false } });
  t.not(again.out.invitation.code, first.out.invitation.code, 'a fresh code');
  t.is(Number((await db('municipalities').where({ code: '139025' }).count({ n: '*' }))[0]!.n), 1);
  t.like(await redeem(base, first.out.invitation.code, unique('first')), { status: 400, body: { code: 'staff_invitation_invalid' } }, 'the earlier code was replaced');
  const loginId = unique('hoshizora');
  t.like(await redeem(base, again.out.invitation.code, loginId), { status: 201, body: { roles: ['administrator'] } });
  const administrator = await signInStaff(base, loginId, PASSWORD);
  t.deepEqual((await administrator.get('/api/v1/staff/accounts')).body.accounts.map((a: { loginId: string }) => a.loginId), [loginId]);

  t.like(await run(...town), { code: 0, out: { added: false, invitation: null } }, 'an administrator is there: the console invites the rest');
  t.like(await run('add', '--code', '139025', '--name-ja', '別の村', '--name-en', 'Other'), { code: 1, out: { error: 'municipality_names_differ' } });
  t.like(await run('add', '--code', DEMO_SECOND_MUNICIPALITY.code, '--name-ja', DEMO_SECOND_MUNICIPALITY.name_ja, '--name-en', DEMO_SECOND_MUNICIPALITY.name_en), { code: 0, out: { added: false, invitation: null } });
});

test("the schema keeps an invitation's roles to its organization's kind, and the migration goes down and up again", async (t) => {
  const { db } = await fixture();
  const bakery = (await db('merchants').where({ slug: 'demo-bakery' }).first('id')).id;
  const invitation = (organization: Record<string, unknown>, roles: string) => db('staff_invitations').insert({
    code_hash: randomBytes(32), ...organization, roles, display_name: '招待', issued_at: new Date(), expires_at: new Date(Date.now() + 60_000),
  });
  await t.throwsAsync(invitation({ organization_kind: 'merchant', merchant_id: bakery }, 'administrator'));
  await t.throwsAsync(invitation({ organization_kind: 'municipality', municipality_code: DEMO_MUNICIPALITY.code }, 'clerk'));
  await t.throwsAsync(invitation({ organization_kind: 'municipality', municipality_code: DEMO_MUNICIPALITY.code }, ''));
  await t.notThrowsAsync(invitation({ organization_kind: 'merchant', merchant_id: bakery }, 'owner,clerk'));

  const { db: own } = await testDatabase((fn) => t.teardown(fn));
  await own.migrate.down({ name: '20261208060000_staff_accounts_life.ts' });
  t.false(await own.schema.hasTable('staff_invitations'));
  t.false(await own.schema.hasColumn('staff_accounts', 'disabled_at'));
  await own.migrate.latest();
  t.true(await own.schema.hasColumn('staff_accounts', 'last_signed_in_at'));
});
