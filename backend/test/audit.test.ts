import test, { type ExecutionContext } from 'ava';
import { execFile } from 'node:child_process';
import { createHash, createHmac, hkdfSync } from 'node:crypto';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { appendAudit, canonicalJson, eventsAbout, verifyAuditChain, type AuditEvent, type ExportedHead } from '../src/audit/chain.ts';
import { exportAuditHead, HEADS_FILE, readExportedHeads } from '../src/audit/heads.ts';
import { auditKeysOf } from '../src/audit/keys.ts';
import { mykeySecret } from '../src/config.ts';
import type { Db } from '../src/db.ts';
import { queuePrefix, redisUrl, testDatabase } from './helpers/env.ts';
import { startBackend } from './helpers/processes.ts';
import { waitFor } from '@mykey/dev-tools/wait.ts';

const repoRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');

// The secret the tests' helpers key the log with (helpers/env.ts), and the chain key it gives, by the documented label.
const secret = mykeySecret({ NODE_ENV: 'test' });
const chainKey = Buffer.from(hkdfSync('sha256', secret, Buffer.alloc(0), 'mykey/audit-chain/v1', 32));

// Tampering breaks a chain for good, so every test has a database of its own. They are made one
// after the other: two dozen schema migrations at once, on a loaded machine, kept MariaDB's DDL
// waiting on each other past its lock wait timeout (ER_LOCK_WAIT_TIMEOUT adding a foreign key).
let migrating: Promise<unknown> = Promise.resolve();
function freshDatabase(t: ExecutionContext, options: { migrate?: boolean } = {}) {
  const made = migrating.then(() => testDatabase((fn) => t.teardown(fn), options));
  migrating = made.catch(() => undefined);
  return made;
}

const event = (n: number): AuditEvent => ({ action: 'test.event', actor: { kind: 'system', id: 'audit-test' }, subject: `subject:${n}`, details: { n } });

async function appendMany(db: Db, count: number): Promise<void> {
  await db.transaction(async (trx) => {
    for (let n = 1; n <= count; n++) await appendAudit(trx, event(n));
  });
}

/** The test-only privileged step: without the triggers, the table can be edited like any other. */
async function tamper(db: Db, sql: string, bindings: unknown[] = []): Promise<void> {
  await db.raw('DROP TRIGGER IF EXISTS audit_events_refuse_update');
  await db.raw('DROP TRIGGER IF EXISTS audit_events_refuse_delete');
  await db.raw(sql, bindings as never);
}

interface CliRun { status: number; stdout: string; stderr: string }

/** A folder of the test's own for exported heads, removed at its end. */
async function exportFolder(t: ExecutionContext): Promise<string> {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'mykey-audit-'));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  return dir;
}

/** `npm run mykey -- COMMAND ...` with the tests' secret, so it holds the keys the tests append with. */
function mykeyCli(databaseUrl: string, args: string[], env: Record<string, string> = {}): Promise<CliRun> {
  return new Promise((resolve) => {
    execFile(process.execPath, ['--import', 'tsx', 'scripts/mykey.ts', ...args], {
      cwd: repoRoot, timeout: 60_000,
      env: { PATH: process.env.PATH, DATABASE_URL: databaseUrl, NODE_ENV: 'test', MYKEY_SECRET: secret.toString('hex'), ...env },
    }, (error, stdout, stderr) => resolve({ status: error ? Number(error.code) : 0, stdout, stderr }));
  });
}

/** audit-verify with an export folder of the test's own (so no other run's heads are in it) unless `--heads` names a file. */
const auditVerifyCli = async (t: ExecutionContext, databaseUrl: string, ...args: string[]) =>
  mykeyCli(databaseUrl, ['audit-verify', ...args], { AUDIT_EXPORT_DIR: await exportFolder(t) });

/** The canonical JSON that a row's hash covers (docs/audit-log.md). */
function hashedBody(row: { seq: number; occurred_at: Date; action: string; actor_kind: string; actor_id: string; subject: string; details: unknown }): string {
  const details = typeof row.details === 'string' ? JSON.parse(row.details) : row.details;
  const { seq, action, actor_kind, actor_id, subject } = row;
  return canonicalJson({ action, actor_id, actor_kind, details, occurred_at: row.occurred_at.toISOString(), seq, subject });
}

/**
 * What a DBA without the key can do: rewrite the events from `fromSeq` on (`change` edits their
 * details) and chain them again with plain SHA-256, the head too, as the unkeyed chain was.
 */
async function rehashTail(db: Db, fromSeq: number, change: (details: Record<string, unknown>) => Record<string, unknown>): Promise<void> {
  await tamper(db, 'SELECT 1');
  const rows = await db('audit_events').where('seq', '>=', fromSeq).orderBy('seq');
  let prevHash: Buffer = rows[0].prev_hash;
  for (const row of rows) {
    const details = change(typeof row.details === 'string' ? JSON.parse(row.details) : row.details);
    const hash = createHash('sha256').update(prevHash).update(hashedBody({ ...row, details })).digest();
    await db('audit_events').where({ seq: row.seq }).update({ details: canonicalJson(details), prev_hash: prevHash, hash });
    prevHash = hash;
  }
  await db('audit_head').update({ last_hash: prevHash });
}

test('appended events form a chain: gapless seq, each prev_hash the hash before, the head at the last', async (t) => {
  const { db } = await freshDatabase(t);
  await appendMany(db, 3);
  const rows = await db('audit_events').orderBy('seq');
  t.deepEqual(rows.map((r) => r.seq), [1, 2, 3]);
  t.deepEqual(rows[0].prev_hash, Buffer.alloc(32));
  t.deepEqual(rows[1].prev_hash, rows[0].hash);
  t.deepEqual(rows[2].prev_hash, rows[1].hash);
  t.deepEqual(await db('audit_head').first('last_seq', 'last_hash'), { last_seq: 3, last_hash: rows[2].hash });
  t.deepEqual(await verifyAuditChain(db), { ok: true, events: 3, keyedFrom: 1, heads: 0 });
});

test('the hash is HMAC-SHA-256 under the chain key of prev_hash and the canonical JSON of the fields, as documented', async (t) => {
  const { db } = await freshDatabase(t);
  const { seq } = await db.transaction((trx) => appendAudit(trx, {
    action: 'mykey.issued', actor: { kind: 'staff', id: '7' }, subject: 'RKLZY5YR',
    details: { z: 'last', a: { y: [true, null, 1.5], b: '日本' }, skipped: undefined },
  }));
  const row = await db('audit_events').where({ seq }).first();
  const canonical = '{"action":"mykey.issued","actor_id":"7","actor_kind":"staff",'
    + `"details":{"a":{"b":"日本","y":[true,null,1.5]},"z":"last"},"occurred_at":"${row.occurred_at.toISOString()}","seq":1,"subject":"RKLZY5YR"}`;
  t.deepEqual(row.hash, createHmac('sha256', chainKey).update(Buffer.alloc(32)).update(canonical).digest());
  t.notDeepEqual(row.hash, createHash('sha256').update(Buffer.alloc(32)).update(canonical).digest(), 'not the unkeyed hash');
  const [[stored]] = await db.raw('SELECT CONCAT(details) AS text FROM audit_events WHERE seq = ?', [seq]);
  t.is(stored.text, '{"a":{"b":"日本","y":[true,null,1.5]},"z":"last"}', 'stored in its canonical form');
  t.regex(row.occurred_at.toISOString(), /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/);
});

test('20 concurrent transactions append a gapless, intact chain', async (t) => {
  const { db } = await freshDatabase(t);
  const seqs = await Promise.all(Array.from({ length: 20 }, (_, n) => db.transaction((trx) => appendAudit(trx, event(n)))));
  t.deepEqual(seqs.map((s) => s.seq).sort((a, b) => a - b), Array.from({ length: 20 }, (_, i) => i + 1));
  t.like(await verifyAuditChain(db), { ok: true, events: 20 });
});

test('a rolled-back transaction leaves no event and no gap', async (t) => {
  const { db } = await freshDatabase(t);
  await t.throwsAsync(db.transaction(async (trx) => {
    await appendAudit(trx, event(1));
    throw new Error('the change failed');
  }), { message: 'the change failed' });
  t.is((await db('audit_events').count({ n: '*' }))[0]!.n, 0);
  t.deepEqual(await db.transaction((trx) => appendAudit(trx, event(2))), { seq: 1 });
  t.like(await verifyAuditChain(db), { ok: true, events: 1 });
});

test('an append whose transaction the server already ended (as a deadlock does) is refused, and the chain stays whole', async (t) => {
  const { db } = await freshDatabase(t);
  await t.throwsAsync(db.transaction(async (trx) => {
    // What a deadlock leaves: the server rolled the transaction back, while knex holds it open.
    await trx.raw('ROLLBACK');
    await appendAudit(trx, event(1));
  }), { message: /appended outside a transaction/ });
  t.is((await db('audit_events').count({ n: '*' }))[0]!.n, 0);
  t.like(await verifyAuditChain(db), { ok: true, events: 0 });
});

test('a head left behind its last event is caught up: the next event follows the last one, and the chain verifies', async (t) => {
  const { db } = await freshDatabase(t);
  await db.transaction((trx) => appendAudit(trx, event(1)));
  const head = await db('audit_head').first('last_seq', 'last_hash');
  // The head behind its last event, as an event committed without its head leaves it.
  await db('audit_head').update({ last_seq: 0, last_hash: Buffer.alloc(32) });
  t.deepEqual(await db.transaction((trx) => appendAudit(trx, event(2))), { seq: 2 });
  t.is(Number((await db('audit_head').first('last_seq')).last_seq), 2, 'the head is at the end again');
  t.like(await verifyAuditChain(db), { ok: true, events: 2 });
  t.notDeepEqual(head.last_hash, Buffer.alloc(32));
});

test('the database refuses UPDATE and DELETE of an event', async (t) => {
  const { db } = await freshDatabase(t);
  await appendMany(db, 2);
  const before = await db('audit_events').orderBy('seq');
  const update = await t.throwsAsync(db('audit_events').where({ seq: 1 }).update({ details: '{"n":99}' }));
  t.like(update, { sqlState: '45000', sqlMessage: 'audit_events is append-only: an event cannot be changed' });
  const remove = await t.throwsAsync(db.raw('DELETE FROM audit_events WHERE seq = 2'));
  t.like(remove, { sqlState: '45000', sqlMessage: 'audit_events is append-only: an event cannot be deleted' });
  t.deepEqual(await db('audit_events').orderBy('seq'), before);
  t.like(await verifyAuditChain(db), { ok: true, events: 2 });
});

test('event fields that would not survive storage unchanged are refused before anything is written', async (t) => {
  const { db } = await freshDatabase(t);
  const bad: AuditEvent[] = [
    { ...event(1), subject: 'x'.repeat(65) },
    { ...event(1), action: '' },
    { ...event(1), actor: { kind: 'staff', id: '\ud800' } },
    { ...event(1), details: { at: new Date() } },
    { ...event(1), details: { certificate: Buffer.from('30', 'hex') } },
    { ...event(1), details: { ratio: Number.NaN } },
    { ...event(1), details: { list: [undefined] } },
  ];
  for (const e of bad) await t.throwsAsync(db.transaction((trx) => appendAudit(trx, e)), { instanceOf: TypeError });
  t.is((await db('audit_events').count({ n: '*' }))[0]!.n, 0);
  t.deepEqual(await db.transaction((trx) => appendAudit(trx, { ...event(1), subject: 'あ'.repeat(64) })), { seq: 1 });
  t.like(await verifyAuditChain(db), { ok: true, events: 1 });
});

test('tampering: changed details are found at their seq', async (t) => {
  const { db } = await freshDatabase(t);
  await appendMany(db, 5);
  await tamper(db, 'UPDATE audit_events SET details = ? WHERE seq = 3', ['{"n":33}']);
  t.deepEqual(await verifyAuditChain(db), { ok: false, events: 2, firstBroken: { seq: 3, reason: 'hash does not match the event\'s contents' } });
});

test('tampering: a changed row with its hash recomputed with the key breaks the next link', async (t) => {
  const { db } = await freshDatabase(t);
  await appendMany(db, 5);
  const row = await db('audit_events').where({ seq: 3 }).first();
  const forged = createHmac('sha256', chainKey).update(row.prev_hash).update(hashedBody({ ...row, details: { n: 33 } })).digest();
  await tamper(db, 'UPDATE audit_events SET details = ?, hash = ? WHERE seq = 3', ['{"n":33}', forged]);
  t.deepEqual(await verifyAuditChain(db), { ok: false, events: 3, firstBroken: { seq: 4, reason: 'prev_hash does not match the hash of seq 3' } });
});

test('tampering: a tail re-hashed without the key, head and all, is found at its first changed event', async (t) => {
  const { db } = await freshDatabase(t);
  await appendMany(db, 6);
  await rehashTail(db, 4, (details) => ({ ...details, n: 44 }));
  t.deepEqual(await verifyAuditChain(db), { ok: false, events: 3, firstBroken: { seq: 4, reason: 'hash does not match the event\'s contents' } });
  t.like(await verifyAuditChain(db, { keys: auditKeysOf(Buffer.alloc(32, 7)) }), { ok: false, firstBroken: { seq: 1 } }, 'another key checks nothing');
});

test('tampering: a deleted middle event is named as missing', async (t) => {
  const { db } = await freshDatabase(t);
  await appendMany(db, 5);
  await tamper(db, 'DELETE FROM audit_events WHERE seq = 3');
  t.deepEqual(await verifyAuditChain(db), { ok: false, events: 2, firstBroken: { seq: 3, reason: 'seq 3 is missing (the next event is seq 4)' } });
});

test('tampering: a changed hash is found at its seq', async (t) => {
  const { db } = await freshDatabase(t);
  await appendMany(db, 5);
  await tamper(db, 'UPDATE audit_events SET hash = ? WHERE seq = 2', [Buffer.alloc(32, 1)]);
  t.like(await verifyAuditChain(db), { ok: false, firstBroken: { seq: 2, reason: 'hash does not match the event\'s contents' } });
});

test('tampering: a removed last event, an event past the head, or a changed head disagree with the head', async (t) => {
  const { db } = await freshDatabase(t);
  await appendMany(db, 5);
  const head = await db('audit_head').first();
  await tamper(db, 'DELETE FROM audit_events WHERE seq = 5');
  t.deepEqual(await verifyAuditChain(db), { ok: false, events: 4, firstBroken: { seq: 5, reason: 'the head records 5 events but the log ends at seq 4' } });

  await db('audit_head').update({ last_seq: 3 });
  t.deepEqual(await verifyAuditChain(db), { ok: false, events: 3, firstBroken: { seq: 4, reason: 'the log goes on past the head, which records 3 events' } });

  await db('audit_head').update({ last_seq: 4, last_hash: head.last_hash });
  t.deepEqual(await verifyAuditChain(db), { ok: false, events: 3, firstBroken: { seq: 4, reason: 'the head\'s hash differs from the hash of seq 4' } });
});

test('verification reads the log a page at a time and finds a break past the first pages', async (t) => {
  const { db } = await freshDatabase(t);
  await appendMany(db, 2_500);
  t.like(await verifyAuditChain(db), { ok: true, events: 2_500 });
  await tamper(db, 'UPDATE audit_events SET subject = ? WHERE seq = 2345', ['subject:0']);
  t.like(await verifyAuditChain(db), { ok: false, events: 2_344, firstBroken: { seq: 2_345 } });
});

test('npm run mykey -- audit-verify: exit 0 and the verdict on an intact chain, exit 1 naming the first broken link', async (t) => {
  const { db, url } = await freshDatabase(t);
  await appendMany(db, 4);
  const intact = await auditVerifyCli(t, url);
  t.is(intact.status, 0, intact.stderr);
  t.deepEqual(JSON.parse(intact.stdout), { ok: true, events: 4, keyedFrom: 1, heads: 0 });
  t.is(intact.stdout.trim().split('\n').length, 1, 'one JSON object');

  await tamper(db, 'UPDATE audit_events SET action = ? WHERE seq = 2', ['test.forged']);
  const broken = await auditVerifyCli(t, url);
  t.is(broken.status, 1, broken.stderr);
  t.deepEqual(JSON.parse(broken.stdout), { ok: false, events: 1, firstBroken: { seq: 2, reason: 'hash does not match the event\'s contents' } });
});

test('npm run mykey -- audit-verify: exit 2 when the log cannot be read', async (t) => {
  const { url } = await freshDatabase(t);
  const missing = new URL(url);
  missing.pathname = '/mykey_test_no_such_database';
  const run = await auditVerifyCli(t, missing.toString());
  t.is(run.status, 2);
  t.is(run.stdout, '');
  t.regex(run.stderr, /audit-verify: could not read the audit log: .*Unknown database/);
});

// --- the keyed boundary of an upgraded log ----------------------------------------------------

const KEYED_MIGRATION = '20261205030000_audit_keyed_texts.ts';

/** A database migrated up to the audit log as it was before it was keyed. */
async function databaseBeforeKeying(t: ExecutionContext): Promise<Db> {
  const { db } = await freshDatabase(t, { migrate: false });
  for (;;) {
    const [, pending] = await db.migrate.list();
    if ((pending as Array<{ file: string }>)[0]!.file === KEYED_MIGRATION) return db;
    await db.migrate.up();
  }
}

/** An event as the unkeyed code appended it: plain SHA-256, the reason among the details. */
async function appendUnkeyed(db: Db, n: number): Promise<void> {
  await db.transaction(async (trx) => {
    const head = await trx('audit_head').forUpdate().first();
    const row = { seq: Number(head.last_seq) + 1, occurred_at: new Date(), action: 'test.event', actor_kind: 'system', actor_id: 'audit-test', subject: `subject:${n}`, details: { n, reason: 'written before the upgrade' } };
    const hash = createHash('sha256').update(head.last_hash).update(hashedBody(row)).digest();
    await trx('audit_events').insert({ ...row, details: canonicalJson(row.details), prev_hash: head.last_hash, hash });
    await trx('audit_head').update({ last_seq: row.seq, last_hash: hash });
  });
}

test('upgrade: events written before keying stay plain SHA-256, the chain is keyed from the next one, and both verify', async (t) => {
  const db = await databaseBeforeKeying(t);
  for (let n = 1; n <= 3; n++) await appendUnkeyed(db, n);
  await db.migrate.latest();
  t.like(await db('audit_head').first(), { last_seq: 3, keyed_from: 4 });
  await appendMany(db, 2);
  t.deepEqual(await verifyAuditChain(db), { ok: true, events: 5, keyedFrom: 4, heads: 0 });
  // Newest first: the old event is the last of subject:1.
  const old = (await eventsAbout(db, 'subject:1')).at(-1);
  t.deepEqual(old!.details, { n: 1, reason: 'written before the upgrade' }, 'an old reason reads as it was written');
});

test('upgrade: a DBA who moves the boundary to pass off a plain-SHA tail is caught by an exported head', async (t) => {
  const { db } = await freshDatabase(t);
  const dir = await exportFolder(t);
  await appendMany(db, 3);
  const exported = await exportAuditHead(db, dir);
  t.like(exported, { seq: 3, keyedFrom: 1 });
  await appendMany(db, 2);
  // Everything re-chained as if written before keying: the database alone cannot tell.
  await rehashTail(db, 1, (details) => ({ ...details, n: 0 }));
  await db('audit_head').update({ keyed_from: 6 });
  t.like(await verifyAuditChain(db), { ok: true, events: 5, keyedFrom: 6 });
  const heads = await readExportedHeads(path.join(dir, HEADS_FILE));
  t.deepEqual(await verifyAuditChain(db, { heads }), {
    ok: false, events: 0, firstBroken: { seq: 1, reason: `the database keys the chain from seq 6, but the head exported at ${exported.at} from seq 1` },
  });
});

// --- exported heads ----------------------------------------------------------------------------

test('export: each export appends the head (seq, hash, keyed boundary, time) as a line of JSON', async (t) => {
  const { db } = await freshDatabase(t);
  const dir = path.join(await exportFolder(t), 'nested');
  const empty = await exportAuditHead(db, dir, new Date('2026-12-05T00:00:00.000Z'));
  t.deepEqual(empty, { at: '2026-12-05T00:00:00.000Z', seq: 0, hash: '0'.repeat(64), keyedFrom: 1 });
  await appendMany(db, 2);
  const head = await db('audit_head').first();
  const second = await exportAuditHead(db, dir, new Date('2026-12-06T00:00:00.000Z'));
  t.deepEqual(second, { at: '2026-12-06T00:00:00.000Z', seq: 2, hash: head.last_hash.toString('hex'), keyedFrom: 1 });
  t.is(await readFile(path.join(dir, HEADS_FILE), 'utf8'), `${JSON.stringify(empty)}\n${JSON.stringify(second)}\n`);
  t.deepEqual(await readExportedHeads(path.join(dir, HEADS_FILE)), [empty, second]);
  t.deepEqual(await verifyAuditChain(db, { heads: [empty, second] }), { ok: true, events: 2, keyedFrom: 1, heads: 2 });
});

test('export: a tail deleted after an exported head is caught, though the database alone looks intact', async (t) => {
  const { db } = await freshDatabase(t);
  const dir = await exportFolder(t);
  await appendMany(db, 5);
  const exported = await exportAuditHead(db, dir);
  const third = await db('audit_events').where({ seq: 3 }).first();
  await tamper(db, 'DELETE FROM audit_events WHERE seq > 3');
  await db('audit_head').update({ last_seq: 3, last_hash: third.hash });
  t.like(await verifyAuditChain(db), { ok: true, events: 3 });
  t.deepEqual(await verifyAuditChain(db, { heads: [exported] }), {
    ok: false, events: 3, firstBroken: { seq: 4, reason: `the log ends at seq 3, but the head exported at ${exported.at} records seq 5` },
  });
});

test('export: a head the chain passes with another hash is named at its seq', async (t) => {
  const { db } = await freshDatabase(t);
  await appendMany(db, 3);
  const head = await db('audit_head').first();
  const other: ExportedHead = { at: '2026-12-05T00:00:00.000Z', seq: 2, hash: head.last_hash.toString('hex'), keyedFrom: 1 };
  t.deepEqual(await verifyAuditChain(db, { heads: [other] }), { ok: false, events: 1, firstBroken: { seq: 2, reason: 'hash differs from the head exported at 2026-12-05T00:00:00.000Z' } });
});

test('npm run mykey -- audit-export and audit-verify: the export folder\'s heads are checked, or --heads FILE; a truncated tail exits 1', async (t) => {
  const { db, url } = await freshDatabase(t);
  const dir = await exportFolder(t);
  await appendMany(db, 4);
  const exported = await mykeyCli(url, ['audit-export'], { AUDIT_EXPORT_DIR: dir });
  t.is(exported.status, 0, exported.stderr + exported.stdout);
  const head = JSON.parse(exported.stdout);
  t.like(head, { file: path.join(dir, HEADS_FILE), seq: 4, keyedFrom: 1 });
  t.deepEqual(await readExportedHeads(path.join(dir, HEADS_FILE)), [{ at: head.at, seq: 4, hash: head.hash, keyedFrom: 1 }]);

  const intact = await mykeyCli(url, ['audit-verify'], { AUDIT_EXPORT_DIR: dir });
  t.is(intact.status, 0, intact.stderr);
  t.deepEqual(JSON.parse(intact.stdout), { ok: true, events: 4, keyedFrom: 1, heads: 1 });

  const third = await db('audit_events').where({ seq: 3 }).first();
  await tamper(db, 'DELETE FROM audit_events WHERE seq = 4');
  await db('audit_head').update({ last_seq: 3, last_hash: third.hash });
  const truncated = await mykeyCli(url, ['audit-verify'], { AUDIT_EXPORT_DIR: dir });
  t.is(truncated.status, 1, truncated.stderr);
  t.deepEqual(JSON.parse(truncated.stdout), { ok: false, events: 3, firstBroken: { seq: 4, reason: `the log ends at seq 3, but the head exported at ${head.at} records seq 4` } });
  const elsewhere = path.join(await exportFolder(t), 'copy.jsonl');
  await writeFile(elsewhere, await readFile(path.join(dir, HEADS_FILE)));
  t.is((await auditVerifyCli(t, url, '--heads', elsewhere)).status, 1, 'the same heads from --heads FILE');

  const badHeads = path.join(await exportFolder(t), 'bad.jsonl');
  await writeFile(badHeads, '{"seq":1}\n');
  const unreadable = await auditVerifyCli(t, url, '--heads', badHeads);
  t.is(unreadable.status, 2);
  t.regex(unreadable.stderr, /bad\.jsonl line 1 is not an exported audit head/);
  t.is((await auditVerifyCli(t, url, '--head', badHeads)).status, 2, 'a misspelt option is bad usage');
});

test('the worker exports the head when it starts and then at every interval', async (t) => {
  const { db, url } = await freshDatabase(t);
  const dir = await exportFolder(t);
  await appendMany(db, 2);
  const worker = startBackend('worker', { DATABASE_URL: url, REDIS_URL: redisUrl(), QUEUE_PREFIX: queuePrefix((fn) => t.teardown(fn)), AUDIT_EXPORT_DIR: dir, AUDIT_EXPORT_INTERVAL_MS: '500' });
  t.teardown(() => worker.stop('SIGKILL'));
  const file = path.join(dir, HEADS_FILE);
  const heads = await waitFor('three exported heads', async () => {
    const lines = await readExportedHeads(file).catch(() => []);
    return lines.length >= 3 && lines;
  }, 60_000);
  const head = await db('audit_head').first();
  t.like(heads[0], { seq: 2, hash: head.last_hash.toString('hex'), keyedFrom: 1 });
  t.like(await verifyAuditChain(db, { heads }), { ok: true, events: 2 });
  t.is(await worker.stop(), 0);
});

// --- free texts beside the chain ----------------------------------------------------------------

const reasoned = (n: number, reason: string): AuditEvent => ({ ...event(n), texts: { reason } });

test('texts: stored beside the chain under a keyed reference; readers see them among the details', async (t) => {
  const { db } = await freshDatabase(t);
  await db.transaction(async (trx) => {
    await appendAudit(trx, reasoned(1, 'カード紛失の届出'));
    await appendAudit(trx, reasoned(1, 'カード紛失の届出'));
  });
  const rows = await db('audit_events').orderBy('seq');
  const texts = await db('audit_texts').orderBy('seq');
  t.deepEqual(texts.map((r) => [r.seq, r.name, r.text]), [[1, 'reason', 'カード紛失の届出'], [2, 'reason', 'カード紛失の届出']]);
  const textKey = Buffer.from(hkdfSync('sha256', secret, Buffer.alloc(0), 'mykey/audit-text/v1', 32));
  for (const [i, row] of rows.entries()) {
    const details = typeof row.details === 'string' ? JSON.parse(row.details) : row.details;
    t.deepEqual(details, { n: 1, texts: { reason: texts[i].ref.toString('hex') } }, 'the chain holds the reference, not the text');
    t.deepEqual(texts[i].ref, createHmac('sha256', textKey).update(texts[i].nonce).update('カード紛失の届出').digest());
  }
  t.notDeepEqual(texts[0].ref, texts[1].ref, 'equal texts do not show as equal');
  t.deepEqual((await eventsAbout(db, 'subject:1')).map((e) => e.details), [{ n: 1, reason: 'カード紛失の届出' }, { n: 1, reason: 'カード紛失の届出' }]);
  t.like(await verifyAuditChain(db), { ok: true, events: 2 });

  for (const bad of [{ ...event(1), details: { texts: {} } }, { ...event(1), texts: { n: 'the same name as a detail' } }, { ...event(1), texts: { 'not a name': 'x' } }, reasoned(1, ''), reasoned(1, 'x'.repeat(2001))]) {
    await t.throwsAsync(db.transaction((trx) => appendAudit(trx, bad)), { instanceOf: TypeError });
  }
});

test('texts: a text changed in the database, or emptied without an erasure event, is named at its event', async (t) => {
  const { db } = await freshDatabase(t);
  await db.transaction(async (trx) => {
    for (let n = 1; n <= 3; n++) await appendAudit(trx, reasoned(n, `理由 ${n}`));
  });
  await tamper(db, 'DROP TRIGGER audit_texts_erase_only');
  await db('audit_texts').where({ seq: 2 }).update({ text: '別の理由' });
  t.deepEqual(await verifyAuditChain(db), { ok: false, events: 1, firstBroken: { seq: 2, reason: 'its text "reason" does not match its hash' } });
  await db('audit_texts').where({ seq: 2 }).update({ text: null, nonce: null, erased_at: new Date(), erased_seq: 3 });
  t.deepEqual(await verifyAuditChain(db), { ok: false, events: 1, firstBroken: { seq: 2, reason: 'its text "reason" is erased, but seq 3 does not record the erasure' } });
  await db('audit_texts').where({ seq: 2 }).update({ erased_seq: 9 });
  t.deepEqual(await verifyAuditChain(db), { ok: false, events: 1, firstBroken: { seq: 2, reason: 'its text "reason" is erased without a later erasure event' } });
  await tamper(db, 'DROP TRIGGER audit_texts_refuse_delete');
  await db('audit_texts').where({ seq: 2 }).delete();
  t.deepEqual(await verifyAuditChain(db), { ok: false, events: 1, firstBroken: { seq: 2, reason: 'its text "reason" is missing' } });
});

test('texts: the database refuses to change or delete a text, and to erase one twice', async (t) => {
  const { db } = await freshDatabase(t);
  await db.transaction((trx) => appendAudit(trx, reasoned(1, '理由')));
  t.like(await t.throwsAsync(db('audit_texts').update({ text: '別の理由' })), { sqlState: '45000', sqlMessage: 'audit_texts: a text can only be erased, once' });
  t.like(await t.throwsAsync(db('audit_texts').delete()), { sqlState: '45000', sqlMessage: 'audit_texts: a text is erased, never deleted' });
  await db('audit_texts').update({ text: null, nonce: null, erased_at: new Date(), erased_seq: 2 });
  t.like(await t.throwsAsync(db('audit_texts').update({ erased_at: new Date(), erased_seq: 3 })), { sqlState: '45000' });
});

test('npm run mykey -- audit-erase-text: the text is gone, the erasure is its own event, views say erased and the chain still verifies', async (t) => {
  const { db, url } = await freshDatabase(t);
  const dir = await exportFolder(t);
  await db.transaction(async (trx) => {
    await appendAudit(trx, reasoned(1, '本人の申出による利用停止'));
    await appendAudit(trx, reasoned(2, '二つ目の理由'));
  });
  t.is((await mykeyCli(url, ['audit-export'], { AUDIT_EXPORT_DIR: dir })).status, 0);
  const ref = (await db('audit_texts').where({ seq: 1 }).first()).ref.toString('hex');

  const erased = await mykeyCli(url, ['audit-erase-text', '--seq', '1', '--by', '運用担当 山田', '--why', '個人情報保護法に基づく削除請求（受付番号 12）'], { AUDIT_EXPORT_DIR: dir });
  t.is(erased.status, 0, erased.stderr + erased.stdout);
  t.deepEqual(JSON.parse(erased.stdout), { seq: 3, erased: [{ seq: 1, name: 'reason', ref }] });
  t.like(await db('audit_texts').where({ seq: 1 }).first(), { text: null, nonce: null, erased_seq: 3 });
  t.deepEqual((await eventsAbout(db, 'subject:1'))[0]!.details, { n: 1, reason: null });
  t.deepEqual((await eventsAbout(db, 'subject:2'))[0]!.details, { n: 2, reason: '二つ目の理由' }, 'other texts stay');
  t.like((await eventsAbout(db, 'audit:1'))[0], {
    action: 'audit.text_erased', actor: { kind: 'system', id: 'operator' },
    details: { erased: [{ seq: 1, name: 'reason', ref }], by: '運用担当 山田', why: '個人情報保護法に基づく削除請求（受付番号 12）' },
  });
  const verified = await mykeyCli(url, ['audit-verify'], { AUDIT_EXPORT_DIR: dir });
  t.is(verified.status, 0, verified.stdout);
  t.deepEqual(JSON.parse(verified.stdout), { ok: true, events: 3, keyedFrom: 1, heads: 1 });

  const again = await mykeyCli(url, ['audit-erase-text', '--ref', ref, '--by', 'x', '--why', 'y']);
  t.is(again.status, 1);
  t.like(JSON.parse(again.stdout), { error: 'text_already_erased' });
  t.like(JSON.parse((await mykeyCli(url, ['audit-erase-text', '--seq', '9', '--by', 'x', '--why', 'y'])).stdout), { error: 'text_not_found' });
  const byRef = await mykeyCli(url, ['audit-erase-text', '--ref', (await db('audit_texts').where({ seq: 2 }).first()).ref.toString('hex'), '--by', 'x', '--why', 'y']);
  t.is(byRef.status, 0, byRef.stdout);
  for (const args of [['--seq', '1'], ['--seq', '1', '--ref', ref, '--by', 'x', '--why', 'y'], ['--seq', '0', '--by', 'x', '--why', 'y'], ['--ref', 'abc', '--by', 'x', '--why', 'y']]) {
    const run = await mykeyCli(url, ['audit-erase-text', ...args]);
    t.is(run.status, 2, args.join(' '));
    t.like(JSON.parse(run.stdout), { error: 'usage' });
  }
  t.like(await verifyAuditChain(db), { ok: true, events: 4 });
});
