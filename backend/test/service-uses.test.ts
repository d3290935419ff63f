// The figures of a town's service uses: uses per Japanese day and hour, from the records kept one
// by one and the hourly counts the retention job folds older ones into — the same figures before
// and after the fold, a fold run twice at once or killed midway losing and doubling nothing.
import test from 'ava';
import { fileFixture, silentLog } from './helpers/env.ts';
import { enrollDevice, municipalCounter, signInStaff } from './helpers/identity.ts';
import { insertUses, lastUseDay, serviceWithMember } from './helpers/service-uses.ts';
import { foldExpiredUses } from '../src/town-services/uses-retention-job.ts';

const fixture = fileFixture(test, async (cleanup) => {
  const town = await municipalCounter(cleanup);
  const gate = await enrollDevice(town.base, town.staff, '体育館ゲート');
  return { ...town, gate };
});

const RETENTION_DAYS = 90;
const HOUR_MS = 3_600_000;
/** Long past any retention: 31 March 2026, 23:00 Japan time, is 14:00Z. */
const LONG_AGO = Date.parse('2026-03-31T14:00:00.000Z');

/** The file as the client gets it, and its headers. */
async function download(base: string, cookie: string, path: string) {
  const response = await fetch(`${base}${path}`, { headers: { cookie } });
  return { status: response.status, type: response.headers.get('content-type'), disposition: response.headers.get('content-disposition'), bytes: Buffer.from(await response.arrayBuffer()) };
}

const countRows = async (db: Awaited<ReturnType<typeof fixture>>['db'], serviceId: number) => ({
  records: Number((await db('service_uses').where({ service_id: serviceId }).count({ n: '*' }))[0]!.n),
  counted: Number((await db('service_use_counts').where({ service_id: serviceId }).sum({ n: 'uses' }))[0]!.n ?? 0),
});

// Every test folds every town's old uses: one at a time.
test.serial('uses per Japanese day and hour: taps today and records long past, the same figures, JSON and CSV, before and after the fold', async (t) => {
  const { db, base, staff, gate, pki } = await fixture();
  const gym = await serviceWithMember(staff, gate, pki);
  for (let n = 0; n < 3; n++) await gym.tap();
  // 23:00–23:59 Japan time on 31 March (two uses), and 00:00 on 1 April (one): a day apart in Japan, the same UTC date.
  await insertUses(db, gym.id, gate.id, [new Date(LONG_AGO), new Date(LONG_AGO + HOUR_MS - 1), new Date(LONG_AGO + HOUR_MS)]);

  const today = await lastUseDay(db, gym.id);
  const past = await staff.get(`/api/v1/services/${gym.id}/uses?from=2026-03-31&to=2026-04-01`);
  t.like(past, { status: 200, body: { period: { from: '2026-03-31', to: '2026-04-01' }, by: 'day', services: [{ service: { id: gym.id, nameJa: gym.nameJa }, total: 3 }] } });
  t.deepEqual(past.body.services[0].rows, [{ date: '2026-03-31', uses: 2 }, { date: '2026-04-01', uses: 1 }]);
  const hourly = (await staff.get(`/api/v1/services/${gym.id}/uses?from=2026-03-31&to=2026-04-01&by=hour`)).body;
  t.is(hourly.services[0].rows.length, 48, 'every hour of both days');
  t.deepEqual(hourly.services[0].rows.filter((row: { uses: number }) => row.uses > 0), [{ date: '2026-03-31', hour: 23, uses: 2 }, { date: '2026-04-01', hour: 0, uses: 1 }]);
  const now = (await staff.get(`/api/v1/services/${gym.id}/uses?from=${today}&to=${today}`)).body;
  t.deepEqual(now.services[0].rows, [{ date: today, uses: 3 }], 'the taps at the gate are counted on their day');

  const year = `from=2026-03-31&to=${today}`;
  const before = {
    days: (await staff.get(`/api/v1/services/${gym.id}/uses?${year}`)).body,
    hours: (await staff.get(`/api/v1/services/${gym.id}/uses?${year}&by=hour`)).body,
    csv: (await download(base, staff.cookie, `/api/v1/services/${gym.id}/uses.csv?from=2026-03-31&to=2026-04-01&by=hour`)).bytes.toString('utf8'),
  };
  t.is(before.days.services[0].total, 6);

  t.true(await foldExpiredUses(db, silentLog, RETENTION_DAYS) >= 3);
  t.deepEqual(await countRows(db, gym.id), { records: 3, counted: 3 }, "the old uses are counts now, today's still records");
  t.deepEqual((await staff.get(`/api/v1/services/${gym.id}/uses?${year}`)).body, before.days);
  t.deepEqual((await staff.get(`/api/v1/services/${gym.id}/uses?${year}&by=hour`)).body, before.hours);
  t.is((await download(base, staff.cookie, `/api/v1/services/${gym.id}/uses.csv?from=2026-03-31&to=2026-04-01&by=hour`)).bytes.toString('utf8'), before.csv);
});

test.serial('the CSV file opens in Excel: BOM, CRLF, a row per day with the names in both languages; the town-wide file has every service', async (t) => {
  const { db, base, staff, gate, pki } = await fixture();
  const gym = await serviceWithMember(staff, gate, pki, '市民プール「なみ」, 第2');
  const other = await serviceWithMember(staff, await enrollDevice(base, staff, '図書館ゲート'), pki);
  await insertUses(db, gym.id, gate.id, [new Date(LONG_AGO), new Date(LONG_AGO + 60_000)]);

  const file = await download(base, staff.cookie, `/api/v1/services/${gym.id}/uses.csv?from=2026-03-31&to=2026-04-01`);
  t.is(file.status, 200);
  t.is(file.type, 'text/csv; charset=utf-8');
  t.regex(file.disposition ?? '', new RegExp(`filename="service-uses-service-${gym.id}-2026-03-31-2026-04-01-day\\.csv"`));
  t.deepEqual([...file.bytes.subarray(0, 3)], [0xef, 0xbb, 0xbf]);
  t.is(file.bytes.subarray(3).toString('utf8'), [
    'service_id,service_name_ja,service_name_en,date,uses',
    `${gym.id},"${gym.nameJa}","${gym.nameEn}",2026-03-31,2`,
    `${gym.id},"${gym.nameJa}","${gym.nameEn}",2026-04-01,0`,
    '',
  ].join('\r\n'));

  const town = await staff.get('/api/v1/service-uses?from=2026-03-31&to=2026-03-31');
  t.is(town.status, 200);
  const ofTown = new Map(town.body.services.map((s: { service: { id: number }; total: number }) => [s.service.id, s.total]));
  t.is(ofTown.get(gym.id), 2);
  t.is(ofTown.get(other.id), 0);
  const townFile = await download(base, staff.cookie, '/api/v1/service-uses.csv?from=2026-03-31&to=2026-03-31&by=hour');
  t.regex(townFile.disposition ?? '', /filename="service-uses-town-139998-2026-03-31-2026-03-31-hour\.csv"/);
  const lines = townFile.bytes.toString('utf8').split('\r\n');
  t.is(lines[0], '\uFEFFservice_id,service_name_ja,service_name_en,date,hour,uses');
  t.true(lines.includes(`${gym.id},"${gym.nameJa}","${gym.nameEn}",2026-03-31,23,2`));
  t.true(lines.includes(`${other.id},${other.nameJa},${other.nameEn},2026-03-31,23,0`));
});

test.serial('a bad period or grouping is a clear problem; a shop, another service id and a stranger see nothing', async (t) => {
  const { base, staff, gate, pki } = await fixture();
  const gym = await serviceWithMember(staff, gate, pki);
  for (const query of ['from=2026-04-02&to=2026-04-01', 'from=2025-01-01&to=2026-01-02', 'from=2026-02-30&to=2026-03-01', 'from=2026-04-01', 'from=20260401&to=20260402']) {
    for (const path of [`/api/v1/services/${gym.id}/uses`, '/api/v1/service-uses']) {
      const reply = await staff.get(`${path}?${query}`);
      t.like(reply, { status: 400, body: { code: 'service_uses_period_invalid' } }, `${path}?${query}`);
      t.truthy(reply.body.messages.ja && reply.body.messages.en);
    }
  }
  t.is((await staff.get(`/api/v1/services/${gym.id}/uses?from=2025-01-01&to=2026-01-01`)).status, 200, 'a period of 366 days is allowed');
  t.like(await staff.get(`/api/v1/services/${gym.id}/uses?from=2026-04-01&to=2026-04-01&by=week`), { status: 400, body: { code: 'request_invalid' } });
  t.like(await staff.get('/api/v1/services/999999999/uses?from=2026-04-01&to=2026-04-01'), { status: 404, body: { code: 'service_not_found' } });
  t.like(await staff.get('/api/v1/services/abc/uses.csv?from=2026-04-01&to=2026-04-01'), { status: 404, body: { code: 'service_not_found' } });
  const shop = await signInStaff(base, 'demo-shop');
  t.is((await shop.get(`/api/v1/services/${gym.id}/uses?from=2026-04-01&to=2026-04-01`)).status, 403);
  t.is((await shop.get('/api/v1/service-uses?from=2026-04-01&to=2026-04-01')).status, 403);
  t.is((await fetch(`${base}/api/v1/service-uses.csv?from=2026-04-01&to=2026-04-01`)).status, 401);
});

test.serial('two folds at once fold every old use exactly once; a fold run again finds nothing', async (t) => {
  const { db, staff, gate, pki } = await fixture();
  const gym = await serviceWithMember(staff, gate, pki);
  // 1,200 uses over 40 hours: 30 an hour.
  const instants = Array.from({ length: 1200 }, (_, n) => new Date(LONG_AGO + Math.floor(n / 30) * HOUR_MS + (n % 30) * 1000));
  await insertUses(db, gym.id, gate.id, instants);
  const before = (await staff.get(`/api/v1/services/${gym.id}/uses?from=2026-03-31&to=2026-04-02&by=hour`)).body;

  const [first, second] = await Promise.all([foldExpiredUses(db, silentLog, RETENTION_DAYS, new Date(), 50), foldExpiredUses(db, silentLog, RETENTION_DAYS, new Date(), 50)]);
  t.true(first + second >= 1200, `${first} + ${second}`);
  t.deepEqual(await countRows(db, gym.id), { records: 0, counted: 1200 });
  const hours = await db('service_use_counts').where({ service_id: gym.id }).select('uses');
  t.is(hours.length, 40);
  t.true(hours.every((h: { uses: number }) => Number(h.uses) === 30));
  t.is(await foldExpiredUses(db, silentLog, RETENTION_DAYS), 0);
  t.deepEqual(await countRows(db, gym.id), { records: 0, counted: 1200 });
  t.deepEqual((await staff.get(`/api/v1/services/${gym.id}/uses?from=2026-03-31&to=2026-04-02&by=hour`)).body, before);
});

test.serial('a fold killed midway leaves every use a record and counts none; the next fold counts each once', async (t) => {
  const { db, staff, gate, pki } = await fixture();
  const gym = await serviceWithMember(staff, gate, pki);
  await insertUses(db, gym.id, gate.id, Array.from({ length: 10 }, (_, n) => new Date(LONG_AGO + n * 60_000)));
  // Another transaction holds the service's row: the fold, having locked the uses, waits at adding
  // the counts (their foreign key) until its connection is killed there.
  const holder = await db.transaction();
  try {
    await holder('services').where({ id: gym.id }).forUpdate().first('id');
    const fold = foldExpiredUses(db, silentLog, RETENTION_DAYS);
    fold.catch(() => {});
    let waiting: { ID: number } | undefined;
    while (!waiting) {
      // This file's database only: the suite's other files share the server, and their folds are theirs.
      [waiting] = (await db.raw("SELECT ID FROM information_schema.PROCESSLIST WHERE DB = DATABASE() AND INFO LIKE 'insert into `service_use_counts`%'"))[0];
      if (!waiting) await new Promise((resolve) => setTimeout(resolve, 20));
    }
    await db.raw('KILL ?', [Number(waiting.ID)]);
    await t.throwsAsync(fold);
  } finally {
    await holder.rollback();
  }
  t.deepEqual(await countRows(db, gym.id), { records: 10, counted: 0 });
  t.true(await foldExpiredUses(db, silentLog, RETENTION_DAYS) >= 10);
  t.deepEqual(await countRows(db, gym.id), { records: 0, counted: 10 });
  t.like((await staff.get(`/api/v1/services/${gym.id}/uses?from=2026-03-31&to=2026-04-01`)).body, { services: [{ total: 10 }] });
});
