// Administrative points by municipal staff against the real app and database: one grant under
// an Idempotency-Key, every refusal storing nothing, and CSV files granting each line once
// however often they are uploaded.
import test, { type ExecutionContext } from 'ava';
import { randomInt } from 'node:crypto';
import { eventsAbout } from '../src/audit/chain.ts';
import type { Db } from '../src/db.ts';
import { checkLedger } from '../src/ledger/check.ts';
import { fundCampaign, inLedgerTransaction, residentPoints } from '../src/ledger/ledger.ts';
import { checkValue, encode, MYKEY_ALPHABET, PAYLOAD_LENGTH } from '@mykey/contracts/mykey-id.ts';
import { DEMO_CAMPAIGN, DEMO_GRANT_CAMPAIGN, DEMO_MUNICIPALITY } from '@mykey/dev-tools/demo-towns.ts';
import { fileFixture, testDatabase } from './helpers/env.ts';
import { signInStaff } from './helpers/identity.ts';
import { campaignState, ref, town } from './helpers/ledger.ts';
import { startApp } from './helpers/server.ts';

const fixture = fileFixture(test, async (cleanup) => {
  const { db } = await testDatabase(cleanup);
  await db.seed.run();
  const base = await startApp(cleanup, db);
  return { db, base, city: await signInStaff(base, 'demo-city'), shop: await signInStaff(base, 'demo-shop') };
});

const CITY = DEMO_MUNICIPALITY.code;

/** A MyKey ID with a correct check character, issued (inserted) unless told otherwise. */
async function resident(db: Db, { status = 'active', issued = true }: { status?: 'active' | 'suspended'; issued?: boolean } = {}): Promise<string> {
  for (;;) {
    const payload = Array.from({ length: PAYLOAD_LENGTH }, () => randomInt(MYKEY_ALPHABET.length));
    const id = encode([...payload, checkValue(payload)]);
    if (!issued) {
      if (!(await db('mykeys').where({ mykey_id: id }).first('id'))) return id;
      continue;
    }
    const [inserted] = await db('mykeys').insert({ mykey_id: id, status, home_municipality_code: CITY }).onConflict('mykey_id').ignore();
    if (inserted) return id;
  }
}

/** A campaign of the demo city with these dates and funding. */
async function campaign(db: Db, terms: { startsOn?: string; endsOn?: string; funded: number }): Promise<string> {
  const slug = ref('campaign');
  const [id] = await db('campaigns').insert({
    municipality_code: CITY, slug, name_ja: 'テスト', name_en: 'Test', premium_percent: 0, budget_points: 1_000_000,
    cap_per_resident_points: 100_000, starts_on: terms.startsOn ?? '2026-04-01', ends_on: terms.endsOn ?? '2027-03-31', ...campaignState(0, terms.endsOn ?? '2027-03-31'),
  });
  await inLedgerTransaction(db, (trx) => fundCampaign(trx, { reference: ref('fund'), campaignId: Number(id), points: terms.funded }));
  return slug;
}

async function ledgerClean(t: ExecutionContext, db: Db) {
  const report = await checkLedger(db);
  t.true(report.ok, JSON.stringify(report.violations.slice(0, 5)));
}

const balance = async (db: Db, mykeyId: string) => (await residentPoints(db, CITY, mykeyId)).balance;

test('a clerk grants points to a MyKey ID; the same Idempotency-Key replays the answer and grants once', async (t) => {
  const { db, city } = await fixture();
  const mykeyId = await resident(db);
  const typed = `${mykeyId.slice(0, 4)}-${mykeyId.slice(4)}`.toLowerCase();
  const body = { mykeyId: typed, campaign: DEMO_GRANT_CAMPAIGN.slug, points: 1_500, reason: '子育て応援（第1回）' };
  const first = await city.post('/api/v1/staff/grants', body, 'grant-key-0001');
  t.is(first.status, 201, JSON.stringify(first.body));
  t.like(first.body, { mykeyId, points: 1_500, balanceAfter: 1_500, campaign: { slug: DEMO_GRANT_CAMPAIGN.slug, name: { ja: DEMO_GRANT_CAMPAIGN.name_ja } } });
  t.regex(first.body.reference, /^grant:staff:\d+:[0-9a-f]{40}$/);
  const again = await city.post('/api/v1/staff/grants', body, 'grant-key-0001');
  t.deepEqual(again, first);
  t.is(await balance(db, mykeyId), 1_500);
  const second = await city.post('/api/v1/staff/grants', { ...body, points: 500 }, 'grant-key-0002');
  t.like(second.body, { balanceAfter: 2_000 });
  t.is((await city.post('/api/v1/staff/grants', { ...body, points: 700 }, 'grant-key-0002')).body.code, 'idempotency_key_reused');

  const events = (await eventsAbout(db, mykeyId)).filter((e) => e.action === 'points.granted');
  t.is(events.length, 2);
  t.like(events.at(-1)!.details, { entryId: first.body.entryId, points: 1_500, reason: '子育て応援（第1回）' });
  // The reason itself is kept beside the chain, erasable; the event holds its keyed reference.
  const [stored] = await db('audit_events').where({ subject: mykeyId, action: 'points.granted' }).orderBy('seq');
  const details = typeof stored.details === 'string' ? JSON.parse(stored.details) : stored.details;
  t.false('reason' in details);
  t.regex(details.texts.reason, /^[0-9a-f]{64}$/);

  const listed = await city.get(`/api/v1/staff/grants?campaign=${DEMO_GRANT_CAMPAIGN.slug}`);
  t.like(listed.body.grants.find((g: { entryId: number }) => g.entryId === first.body.entryId), { mykeyId, points: 1_500, source: 'single' });
  await ledgerClean(t, db);
});

// Serial: it compares whole tables before and after, which another test's grant would change.
test.serial('every refusal is a clear problem and stores nothing', async (t) => {
  const { db, city, shop } = await fixture();
  const active = await resident(db);
  const suspended = await resident(db, { status: 'suspended' });
  const unknown = await resident(db, { issued: false });
  const ended = await campaign(db, { startsOn: '2025-04-01', endsOn: '2026-03-31', funded: 10_000 });
  const small = await campaign(db, { funded: 300 });
  const elsewhere = await town(db);
  const swapped = active.charAt(1) !== active.charAt(0) ? active.charAt(1) + active.charAt(0) + active.slice(2) : undefined;
  const grant = { mykeyId: active, campaign: DEMO_GRANT_CAMPAIGN.slug, points: 100, reason: '理由' };
  // The shop clerk's refused attempt below is audited (docs/security/tenancy.md): that is its one trace.
  const snapshot = async () => Promise.all(['ledger_entries', 'idempotency_keys', 'audit_events', 'ledger_lots'].map(async (table) =>
    Number((await db(table).modify((q) => { if (table === 'audit_events') q.whereNot({ action: 'staff.role_refused' }); }).count({ n: '*' }))[0]!.n)));
  const roleRefusals = async () => (await db('audit_events').where({ action: 'staff.role_refused' })).length;
  const refusalsBefore = await roleRefusals();
  const before = await snapshot();

  const cases: Array<[string, unknown, string, Record<string, unknown>?]> = [
    ['unknown MyKey ID', { ...grant, mykeyId: unknown }, 'mykey_not_found'],
    ['suspended MyKey ID', { ...grant, mykeyId: suspended }, 'mykey_suspended'],
    ['malformed MyKey ID', { ...grant, mykeyId: 'ABC' }, 'mykey_id_malformed'],
    ['another municipality\'s campaign', { ...grant, campaign: elsewhere.campaignId }, 'campaign_not_found'],
    ['an unknown campaign', { ...grant, campaign: 'no-such-campaign' }, 'campaign_not_found'],
    ['a campaign that ended', { ...grant, campaign: ended }, 'campaign_not_running'],
    ['the premium campaign, which pays conversions only', { ...grant, campaign: DEMO_CAMPAIGN.slug }, 'campaign_kind_mismatch'],
    ['more than the budget left', { ...grant, campaign: small, points: 301 }, 'campaign_budget_insufficient', { availablePoints: 300 }],
    ['more than the cap per resident', { ...grant, points: DEMO_GRANT_CAMPAIGN.cap_per_resident_points + 1 }, 'campaign_cap_exceeded', { remainingPoints: DEMO_GRANT_CAMPAIGN.cap_per_resident_points }],
    ['zero points', { ...grant, points: 0 }, 'points_out_of_range'],
    ['fractional points', { ...grant, points: 1.5 }, 'points_out_of_range'],
    ['no reason', { ...grant, reason: '  ' }, 'request_invalid'],
    ['a reason of two lines', { ...grant, reason: 'a\nb' }, 'request_invalid'],
  ];
  if (swapped) cases.push(['two characters swapped', { ...grant, mykeyId: swapped }, 'mykey_id_check_failed']);
  for (const [what, body, code, extra] of cases) {
    const reply = await city.post('/api/v1/staff/grants', body);
    t.is(reply.body.code, code, what);
    t.truthy(reply.body.messages?.ja, what);
    if (extra) t.like(reply.body, extra, what);
  }
  t.is((await shop.post('/api/v1/staff/grants', grant)).body.code, 'staff_role_forbidden');
  t.is(await roleRefusals(), refusalsBefore + 1);
  t.is((await city.post('/api/v1/staff/grants', grant, '')).body.code, 'idempotency_key_required');
  t.deepEqual(await snapshot(), before);
  t.is(await balance(db, active), 0);
  await ledgerClean(t, db);
});

/** Uploads a file as the console does: the body is the file, the campaign in the query. */
async function upload(base: string, cookie: string, file: Buffer | string, { campaign = DEMO_GRANT_CAMPAIGN.slug, type = 'text/csv' } = {}) {
  const response = await fetch(`${base}/api/v1/staff/grant-uploads?campaign=${encodeURIComponent(campaign)}`, {
    method: 'POST', headers: { cookie, 'Content-Type': type }, body: typeof file === 'string' ? file : new Uint8Array(file),
  });
  return { status: response.status, body: await response.json() };
}

async function download(base: string, cookie: string, path: string) {
  const response = await fetch(`${base}${path}`, { headers: { cookie } });
  return { status: response.status, type: response.headers.get('content-type'), disposition: response.headers.get('content-disposition'), bytes: Buffer.from(await response.arrayBuffer()) };
}

test('a CSV file from Excel grants its good lines, refuses its bad ones with a reason, and a re-upload grants nothing twice', async (t) => {
  const { db, base, city } = await fixture();
  const [a, b, c] = [await resident(db), await resident(db), await resident(db)];
  const suspended = await resident(db, { status: 'suspended' });
  const unknown = await resident(db, { issued: false });
  // As Excel writes "CSV UTF-8": a BOM, CRLF, quotes where a field needs them (a cell with a line
  // break, Alt+Enter, is one quoted field over two lines), empty cells to the right.
  const lines = [
    'mykey_id,points,reason',
    `${a},1000,子育て応援`,
    `${b.toLowerCase()},"1,200","転入, 歓迎 ""春"""`,
    '',
    `${c},300,高齢者応援,,`,
    `${suspended},100,停止中`,
    `${unknown},100,未発行`,
    'ABC,100,短い',
    `${a},0,ゼロ`,
    `${a},100,`,
    `${a},100,"転入\r\n歓迎"`, // lines 11 and 12, one record: a reason is one line
    `${a},100,多すぎる,列`,
    ',,',
    `${c},５００,全角数字`,
  ];
  const file = Buffer.from(`\uFEFF${lines.join('\r\n')}\r\n`, 'utf8');
  const first = await upload(base, city.cookie, file);
  t.is(first.status, 201, JSON.stringify(first.body));
  t.like(first.body, { records: 11, granted: 4, alreadyGranted: 0, refused: 7, pointsGranted: 3_000, campaign: { slug: DEMO_GRANT_CAMPAIGN.slug } });
  t.regex(first.body.fileSha256, /^[0-9a-f]{64}$/);
  t.is(await balance(db, a), 1_000);
  t.is(await balance(db, b), 1_200);
  t.is(await balance(db, c), 800);

  const result = await download(base, city.cookie, first.body.resultPath);
  t.is(result.status, 200);
  t.regex(result.type ?? '', /^text\/csv/);
  t.regex(result.disposition ?? '', /attachment; filename="grant-result-\d+\.csv"/);
  t.deepEqual([...result.bytes.subarray(0, 3)], [0xef, 0xbb, 0xbf], 'a BOM, so Excel reads UTF-8');
  const rows = result.bytes.toString('utf8').slice(1).trimEnd().split('\r\n');
  t.is(rows[0], 'line,mykey_id,points,result,entry_id,error_code,message_ja,message_en,detail');
  const outcome = (line: number) => rows.slice(1).find((row) => row.startsWith(`${line},`))!.split(',').slice(0, 6).join(',');
  t.regex(outcome(2), new RegExp(`^2,${a},1000,granted,\\d+,$`));
  t.regex(outcome(3), new RegExp(`^3,${b},1200,granted,\\d+,$`));
  t.regex(outcome(5), new RegExp(`^5,${c},300,granted,\\d+,$`));
  t.is(outcome(6), `6,${suspended},100,refused,,mykey_suspended`);
  t.is(outcome(7), `7,${unknown},100,refused,,mykey_not_found`);
  t.is(outcome(8), '8,,100,refused,,mykey_id_malformed');
  t.is(outcome(9), `9,${a},,refused,,points_out_of_range`);
  t.is(outcome(10), `10,${a},100,refused,,grant_reason_invalid`);
  t.is(outcome(11), `11,${a},100,refused,,grant_reason_invalid`);
  t.is(outcome(13), '13,,,refused,,grant_line_malformed');
  t.regex(outcome(15), new RegExp(`^15,${c},500,granted,\\d+,$`));
  t.is(rows.length, 1 + 11, 'the blank lines ask for nothing');
  t.true(rows.some((row) => row.includes('このマイキーIDは利用停止中です。')), 'refusals carry the Japanese message');

  const again = await upload(base, city.cookie, file);
  t.like(again.body, { records: 11, granted: 0, alreadyGranted: 4, refused: 7, pointsGranted: 0, fileSha256: first.body.fileSha256 });
  t.not(again.body.uploadId, first.body.uploadId);
  t.is(await balance(db, a), 1_000);
  t.is(await balance(db, c), 800);
  const rerun = (await download(base, city.cookie, again.body.resultPath)).bytes.toString('utf8');
  t.regex(rerun, new RegExp(`\r\n2,${a},1000,already_granted,\\d+,`));
  t.like((await city.get(`/api/v1/staff/grant-uploads/${first.body.uploadId}`)).body, { state: 'done', granted: 4 });

  // Each download of a result file (it names residents) is audited, by whom; a refused one is not.
  const cityStaff = await db('staff_accounts').where({ login_id: 'demo-city' }).first('id');
  const downloads = (await eventsAbout(db, `grant-upload:${first.body.uploadId}`)).filter((e) => e.action === 'grant_upload.result_downloaded');
  t.deepEqual(downloads.map((e) => [e.actor.kind, e.actor.id, e.details]), [['staff', String(cityStaff.id), { uploadId: first.body.uploadId, organization: `municipality:${DEMO_MUNICIPALITY.code}` }]]);
  t.is((await download(base, city.cookie, '/api/v1/staff/grant-uploads/999999/result.csv')).status, 404);
  t.deepEqual(await eventsAbout(db, 'grant-upload:999999'), []);
  await ledgerClean(t, db);
});

// Serial: it counts the uploads of the whole table.
test.serial('a file that is not UTF-8 (Shift_JIS), has no header, or is not CSV is refused whole, granting nothing', async (t) => {
  const { db, base, city, shop } = await fixture();
  const mykeyId = await resident(db);
  // "テスト" in Shift_JIS, as Excel's plain "CSV" format saves it on a Japanese PC.
  const shiftJis = Buffer.concat([Buffer.from(`mykey_id,points,reason\r\n${mykeyId},100,`), Buffer.from([0x83, 0x65, 0x83, 0x58, 0x83, 0x67]), Buffer.from('\r\n')]);
  const uploadsBefore = Number((await db('grant_uploads').count({ n: '*' }))[0]!.n);
  const sjis = await upload(base, city.cookie, shiftJis);
  t.is(sjis.status, 400);
  t.is(sjis.body.code, 'grant_file_not_utf8');
  t.regex(sjis.body.messages.ja, /CSV UTF-8/);
  t.is((await upload(base, city.cookie, `${mykeyId},100,ヘッダーなし\r\n`)).body.code, 'grant_file_header_invalid');
  // A quote left open reads to the end of the file as one field: the file is refused before its
  // first grant however far down the quote is (past the first batch of 200 here), naming the
  // line its record starts on.
  const good = Array.from({ length: 300 }, () => `${mykeyId},1,正しい行`);
  const open = await upload(base, city.cookie, ['mykey_id,points,reason', ...good, `${mykeyId},100,"閉じていない`, `${mykeyId},100,次の行`, ''].join('\r\n'));
  t.is(open.status, 400);
  t.like(open.body, { code: 'grant_file_not_csv', line: 302 });
  t.regex(open.body.detail, /^line 302: a quoted field .* never closed/);
  t.regex(open.body.messages.ja, /何も付与していません/);
  const afterQuote = await upload(base, city.cookie, `mykey_id,points,reason\r\n${mykeyId},100,"理由" です\r\n`);
  t.like(afterQuote.body, { code: 'grant_file_not_csv', line: 2 });
  t.is((await upload(base, city.cookie, '')).body.code, 'grant_file_header_invalid');
  t.is((await upload(base, city.cookie, 'mykey_id,points,reason\n', { type: 'application/json' })).body.code, 'grant_file_media_type');
  t.is((await upload(base, city.cookie, 'mykey_id,points,reason\n', { campaign: 'nope' })).body.code, 'campaign_not_found');
  t.is((await upload(base, shop.cookie, 'mykey_id,points,reason\n')).body.code, 'staff_role_forbidden');
  t.is(Number((await db('grant_uploads').count({ n: '*' }))[0]!.n), uploadsBefore);
  t.is(await balance(db, mykeyId), 0);
  t.is((await city.get('/api/v1/staff/grant-uploads/999999')).body.code, 'grant_upload_not_found');
  await ledgerClean(t, db);
});

test('the campaign picker lists the city\'s campaigns with what is left of each budget', async (t) => {
  const { city } = await fixture();
  const { body } = await city.get('/api/v1/staff/grants/campaigns');
  const demo = body.campaigns.find((c: { slug: string }) => c.slug === DEMO_GRANT_CAMPAIGN.slug);
  t.like(demo, { running: true, capPerResidentPoints: DEMO_GRANT_CAMPAIGN.cap_per_resident_points, name: { ja: DEMO_GRANT_CAMPAIGN.name_ja } });
  t.true(demo.budgetLeftPoints > 0 && demo.budgetLeftPoints <= DEMO_GRANT_CAMPAIGN.budget_points);
});
