// Who looked at my record (docs/resident.md): staff of a town look a resident up and act on the
// record; the resident's own page lists each look and act with the town, the roles, the time and
// words, and nothing that names the staff member. Another resident's page shows none of it. The
// looks that were not on record before (a member number looked up) are audited about the resident.
import test from 'ava';
import { cardProof, cardSession, firstLogin, municipalCounter, secondTown, signInStaff, type Device, type Staff } from './helpers/identity.ts';
import { fileFixture } from './helpers/env.ts';
import { demoPasswordHash } from './helpers/staff.ts';
import type { IssuedCertificate } from '@mykey/dev-tools/dev-ca/index.ts';
import { RECORD_VIEWS_PAGE_SIZE } from '@mykey/contracts/resident.ts';

// The app's clock, moved by the idle test (every test here is serial).
let offset = 0;
const clock = () => new Date(Date.now() + offset);

const fixture = fileFixture(test, async (cleanup) => {
  const f = await municipalCounter(cleanup, { clock });
  const auditor = await signInStaff(f.base, 'demo-auditor');
  const aoba = await secondTown(f.base);
  // What names each staff member: their name and login, as the accounts hold them.
  const accounts = await f.db('staff_accounts').whereIn('login_id', ['demo-city', 'demo-auditor', 'demo-aoba-city']).select('id', 'login_id', 'display_name');
  return { ...f, auditor, aoba, accounts };
});
type Fixture = Awaited<ReturnType<typeof fixture>>;

/** The resident's own page, opened with the card at `device`: its reads with the page's cookie. */
async function openPage(f: Fixture, card: IssuedCertificate, device: Device = f.device) {
  const signed = await cardSession(device, card, 'resident_page');
  if (signed.status !== 201) throw new Error(JSON.stringify(signed.body));
  const opened = await fetch(`${f.base}/api/v1/resident/sessions`, { method: 'POST', headers: { 'Content-Type': 'application/json' }, body: JSON.stringify({ proof: signed.body.challengeId }) });
  if (opened.status !== 201) throw new Error(await opened.text());
  const cookie = opened.headers.get('set-cookie')!.split(';')[0]!;
  return async (path: string) => {
    const response = await fetch(`${f.base}${path}`, { headers: { cookie } });
    return { status: response.status, text: await response.text(), headers: response.headers };
  };
}

const views = async (read: Awaited<ReturnType<typeof openPage>>, page = 1) => {
  const reply = await read(`/api/v1/resident/record-views?page=${page}`);
  if (reply.status !== 200) throw new Error(reply.text);
  return { text: reply.text, body: JSON.parse(reply.text) };
};

/** A library of the town with `staff`'s counter serving it, and `card`'s membership of it under `memberNumber`. */
async function libraryMember(f: Fixture, staff: Staff, device: Device, card: IssuedCertificate, memberNumber: string): Promise<number> {
  const library = await staff.post('/api/v1/services', { kind: 'library', nameJa: `図書館${memberNumber}`, nameEn: `Library ${memberNumber}` });
  await staff.put(`/api/v1/services/${library.body.id}/devices`, { deviceIds: [device.id] });
  const request = await staff.post(`/api/v1/services/${library.body.id}/membership-requests`, { action: 'link', memberNumber });
  const challenge = await device.post('/api/v1/auth/challenges', { purpose: 'service_link', membershipRequestId: request.body.requestId });
  const linked = await device.post('/api/v1/auth/card-sessions', cardProof(challenge.body, card));
  if (linked.status !== 201) throw new Error(JSON.stringify(linked.body));
  return Number(library.body.id);
}

test.serial('staff of a town look and act: the resident sees the town, the roles, the time and the words, never who', async (t) => {
  const f = await fixture();
  const resident = await firstLogin(f.pki, f.device);
  const other = await firstLogin(f.pki, f.device);
  const before = Date.now();
  // みらい市's administrator-operator looks the record up and grants points; its auditor looks at the grants.
  t.is((await f.staff.get(`/api/v1/staff/mykeys/${resident.mykeyId}`)).status, 200);
  t.is((await f.staff.post('/api/v1/staff/grants', { mykeyId: resident.mykeyId, campaign: 'demo-grants-2026', points: 1200, reason: '市職員 太郎が確認した清掃活動' })).status, 201);
  t.is((await f.auditor.get(`/api/v1/staff/grant-history?mykeyId=${resident.mykeyId}`)).status, 200);
  // あおば町's staff check the ID in their town, block it there, and try the whole record (refused: not their resident).
  t.is((await f.aoba.staff.get(`/api/v1/staff/mykeys/${resident.mykeyId}/town`)).status, 200);
  t.is((await f.aoba.staff.post(`/api/v1/staff/mykeys/${resident.mykeyId}/block`, { reason: '町職員 次郎の判断' })).status, 200);
  t.is((await f.aoba.staff.get(`/api/v1/staff/mykeys/${resident.mykeyId}`)).status, 404);

  const read = await openPage(f, resident.card);
  const { text, body } = await views(read);
  t.like(body, { page: 1, pageSize: RECORD_VIEWS_PAGE_SIZE, total: 6 });
  const mirai = { code: '139998', name: { ja: 'みらい市（デモ）' } };
  const aoba = { code: '139971' };
  const seen = body.views.map((v: { municipality: { code: string }; roles: string[]; look: boolean; what: { ja: string; en: string } }) => ({ town: v.municipality.code, roles: v.roles, look: v.look, en: v.what.en }));
  t.deepEqual(seen, [
    { town: aoba.code, roles: ['administrator', 'operator'], look: true, en: 'Tried to look at your record, and was refused: it is kept by another municipality' },
    { town: aoba.code, roles: ['administrator', 'operator'], look: false, en: "Stopped your use of this municipality's services" },
    { town: aoba.code, roles: ['administrator', 'operator'], look: true, en: 'Checked your standing in this municipality (whether your use is stopped here)' },
    { town: mirai.code, roles: ['auditor'], look: true, en: 'Looked at the points granted to you' },
    { town: mirai.code, roles: ['administrator', 'operator'], look: false, en: 'Granted you 1,200 points' },
    { town: mirai.code, roles: ['administrator', 'operator'], look: true, en: 'Looked at your record (its status, cards and history)' },
  ], 'newest first, each with its town, roles and words');
  t.like(body.views[4], { municipality: mirai, what: { ja: 'あなたにポイントを付与しました（1,200ポイント）' } });
  t.like(body.views[0], { municipality: { code: '139971', name: { ja: 'あおば町（デモ）' } } });
  for (const view of body.views) {
    t.true(Date.parse(view.at) >= before - 1000 && Date.parse(view.at) <= Date.now() + 1000, 'the time of the look');
  }
  // Nothing names the staff member: not the name, the login, the id, nor what they wrote.
  for (const account of f.accounts) {
    for (const marker of [account.display_name, account.login_id]) t.false(text.includes(marker), `the answer names ${marker}`);
    t.false(new RegExp(`"(staff|actor|id|staffId)"\\s*:\\s*"?${account.id}\\b`).test(text), `the answer holds the id of ${account.login_id}`);
  }
  for (const reason of ['市職員 太郎が確認した清掃活動', '町職員 次郎の判断']) t.false(text.includes(reason), 'no reason staff wrote');
  t.deepEqual(Object.keys(body.views[0]).sort(), ['at', 'look', 'municipality', 'roles', 'what']);

  // Reading the list is a use of the page; the other resident's page shows none of it.
  const otherViews = await views(await openPage(f, other.card));
  t.like(otherViews.body, { total: 0, views: [] });
});

test.serial('the list is paged, newest first; reading it starts the idle time again; without a page it answers resident_session_closed', async (t) => {
  const f = await fixture();
  const resident = await firstLogin(f.pki, f.device);
  for (let i = 0; i < RECORD_VIEWS_PAGE_SIZE + 2; i++) t.is((await f.auditor.get(`/api/v1/staff/mykeys/${resident.mykeyId}/town`)).status, 200);
  const read = await openPage(f, resident.card);
  const first = await views(read, 1);
  const second = await views(read, 2);
  t.like(first.body, { page: 1, total: RECORD_VIEWS_PAGE_SIZE + 2 });
  t.is(first.body.views.length, RECORD_VIEWS_PAGE_SIZE);
  t.is(second.body.views.length, 2);
  const times = [...first.body.views, ...second.body.views].map((v: { at: string }) => Date.parse(v.at));
  t.deepEqual(times, [...times].sort((a, b) => b - a));
  t.is((await read('/api/v1/resident/record-views?page=0')).status, 400);
  t.is((await read('/api/v1/resident/record-views')).headers.get('cache-control'), 'no-store');
  t.is((await fetch(`${f.base}/api/v1/resident/record-views`)).status, 401);
  t.is((await fetch(`${f.base}/api/v1/resident/record-views`, { headers: { cookie: f.staff.cookie } })).status, 401, 'a staff session is no resident\'s');
  // Four of the five idle minutes pass, the list is read, four more: the page is still open.
  try {
    offset += 240_000;
    await views(read);
    offset += 240_000;
    t.is((await read('/api/v1/resident/session')).status, 200, 'the read was a use');
    offset += 301_000;
    t.is((await read('/api/v1/resident/record-views')).status, 401, 'closed once its idle time is up');
  } finally {
    offset = 0;
  }
});

test.serial('a member number looked up by a service\'s staff is on record about the resident, in the viewer\'s town, without the number', async (t) => {
  const f = await fixture();
  const resident = await firstLogin(f.pki, f.device);
  const libraryId = await libraryMember(f, f.staff, f.device, resident.card, 'MIRAI-7001');
  const since = await f.db('audit_events').max({ seq: 'seq' }).first();
  const found = await f.auditor.get(`/api/v1/services/${libraryId}/memberships?memberNumber=MIRAI-7001`);
  t.is(found.status, 200);
  const events = await f.db('audit_events').where('seq', '>', since!.seq).select('action', 'actor_kind', 'actor_id', 'subject', 'details');
  t.is(events.length, 1);
  const [event] = events;
  const auditorId = f.accounts.find((a) => a.login_id === 'demo-auditor')!.id;
  t.like(event, { action: 'membership.viewed', actor_kind: 'staff', actor_id: String(auditorId), subject: resident.mykeyId });
  const details = typeof event.details === 'string' ? JSON.parse(event.details) : event.details;
  t.deepEqual(Object.keys(details).sort(), ['membership', 'municipalities', 'service']);
  t.deepEqual(details.municipalities, ['139998']);
  t.false(JSON.stringify(details).includes('MIRAI-7001'), 'no member number in the log');
  // A number that finds no one is no look at anyone's record.
  t.is((await f.auditor.get(`/api/v1/services/${libraryId}/memberships?memberNumber=NONE-0001`)).status, 404);
  t.is(Number((await f.db('audit_events').where('seq', '>', since!.seq).count({ n: '*' }))[0]!.n), 1);

  // The operator unlinks it, with a reason. The resident reads both, the service named; the
  // clerk's history of the ID leaves such looks out, as it leaves out looks at the record.
  t.is((await f.staff.post(`/api/v1/services/${libraryId}/memberships/${found.body.id}/unlink`, { reason: '退会の申出' })).status, 200);
  const { body } = await views(await openPage(f, resident.card));
  t.like(body.views[0], { roles: ['administrator', 'operator'], look: false, what: { ja: '図書館MIRAI-7001の利用者登録とあなたのカードのつながりを外しました', en: 'Unlinked your membership of Library MIRAI-7001 from your card' } });
  t.like(body.views[1], { roles: ['auditor'], look: true, what: { ja: '利用者番号から、図書館MIRAI-7001でのあなたの利用者登録を確認しました', en: 'Looked up your membership of Library MIRAI-7001 by its member number' } });
  const record = await f.staff.get(`/api/v1/staff/mykeys/${resident.mykeyId}`);
  t.false(record.body.events.some((e: { action: string }) => e.action === 'membership.viewed'));
});

test.serial('each line shows the roles the staff member held then: a change of roles later leaves the earlier lines as they were', async (t) => {
  const f = await fixture();
  const resident = await firstLogin(f.pki, f.device);
  const loginId = 'record-views-clerk';
  const [id] = await f.db('staff_accounts').insert({ login_id: loginId, display_name: '窓口 記録', organization_kind: 'municipality', roles: 'auditor', municipality_code: '139998', password_hash: await demoPasswordHash() });
  const clerk = await signInStaff(f.base, loginId);
  const look = async () => t.is((await clerk.get(`/api/v1/staff/mykeys/${resident.mykeyId}/town`)).status, 200);
  const setRoles = async (roles: string[]) => t.is((await f.staff.put(`/api/v1/staff/accounts/${id}/roles`, { roles })).status, 200);
  await look();
  await setRoles(['operator', 'auditor']);
  await look();
  await setRoles(['operator']);
  await look();
  await setRoles(['administrator']);
  const { body } = await views(await openPage(f, resident.card));
  t.deepEqual(body.views.map((v: { roles: string[] }) => v.roles), [['operator'], ['operator', 'auditor'], ['auditor']], 'newest first, each with the roles of its time, not the account\'s now');
});
