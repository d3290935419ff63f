import test, { type ExecutionContext } from 'ava';
import { execFile } from 'node:child_process';
import { createHash } from 'node:crypto';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { appendAudit, verifyAuditChain, type AuditEvent } from '../src/audit/chain.ts';
import type { Db } from '../src/db.ts';
import { testDatabase } from './helpers/env.ts';

const repoRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');

// Tampering breaks a chain for good, so every test has a database of its own.
const freshDatabase = (t: ExecutionContext) => testDatabase((fn) => t.teardown(fn));

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

function auditVerifyCli(databaseUrl: string): Promise<CliRun> {
  return new Promise((resolve) => {
    execFile(process.execPath, ['--import', 'tsx', 'scripts/mykey.ts', 'audit-verify'],
      { cwd: repoRoot, env: { PATH: process.env.PATH, DATABASE_URL: databaseUrl }, timeout: 60_000 },
      (error, stdout, stderr) => resolve({ status: error ? Number(error.code) : 0, stdout, stderr }));
  });
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
  t.deepEqual(await verifyAuditChain(db), { ok: true, events: 3 });
});

test('the hash is SHA-256 of prev_hash and the canonical JSON of the fields, as documented', async (t) => {
  const { db } = await freshDatabase(t);
  const { seq } = await db.transaction((trx) => appendAudit(trx, {
    action: 'mykey.issued', actor: { kind: 'staff', id: '7' }, subject: 'RKLZY5YR',
    details: { z: 'last', a: { y: [true, null, 1.5], b: '日本' }, skipped: undefined },
  }));
  const row = await db('audit_events').where({ seq }).first();
  const canonical = '{"action":"mykey.issued","actor_id":"7","actor_kind":"staff",'
    + `"details":{"a":{"b":"日本","y":[true,null,1.5]},"z":"last"},"occurred_at":"${row.occurred_at.toISOString()}","seq":1,"subject":"RKLZY5YR"}`;
  t.deepEqual(row.hash, createHash('sha256').update(Buffer.alloc(32)).update(canonical).digest());
  const [[stored]] = await db.raw('SELECT CONCAT(details) AS text FROM audit_events WHERE seq = ?', [seq]);
  t.is(stored.text, '{"a":{"b":"日本","y":[true,null,1.5]},"z":"last"}', 'stored in its canonical form');
  t.regex(row.occurred_at.toISOString(), /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/);
});

test('20 concurrent transactions append a gapless, intact chain', async (t) => {
  const { db } = await freshDatabase(t);
  const seqs = await Promise.all(Array.from({ length: 20 }, (_, n) => db.transaction((trx) => appendAudit(trx, event(n)))));
  t.deepEqual(seqs.map((s) => s.seq).sort((a, b) => a - b), Array.from({ length: 20 }, (_, i) => i + 1));
  t.deepEqual(await verifyAuditChain(db), { ok: true, events: 20 });
});

test('a rolled-back transaction leaves no event and no gap', async (t) => {
  const { db } = await freshDatabase(t);
  await t.throwsAsync(db.transaction(async (trx) => {
    await appendAudit(trx, event(1));
    throw new Error('the change failed');
  }), { message: 'the change failed' });
  t.is((await db('audit_events').count({ n: '*' }))[0]!.n, 0);
  t.deepEqual(await db.transaction((trx) => appendAudit(trx, event(2))), { seq: 1 });
  t.deepEqual(await verifyAuditChain(db), { ok: true, events: 1 });
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
  t.deepEqual(await verifyAuditChain(db), { ok: true, events: 2 });
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
  t.deepEqual(await verifyAuditChain(db), { ok: true, events: 1 });
});

test('tampering: changed details are found at their seq', async (t) => {
  const { db } = await freshDatabase(t);
  await appendMany(db, 5);
  await tamper(db, 'UPDATE audit_events SET details = ? WHERE seq = 3', ['{"n":33}']);
  t.deepEqual(await verifyAuditChain(db), { ok: false, events: 2, firstBroken: { seq: 3, reason: 'hash does not match the event\'s contents' } });
});

test('tampering: a changed row with its hash recomputed breaks the next link', async (t) => {
  const { db } = await freshDatabase(t);
  await appendMany(db, 5);
  const row = await db('audit_events').where({ seq: 3 }).first();
  const forged = createHash('sha256').update(row.prev_hash).update(`{"action":"test.event","actor_id":"audit-test","actor_kind":"system","details":{"n":33},"occurred_at":"${row.occurred_at.toISOString()}","seq":3,"subject":"subject:3"}`).digest();
  await tamper(db, 'UPDATE audit_events SET details = ?, hash = ? WHERE seq = 3', ['{"n":33}', forged]);
  t.deepEqual(await verifyAuditChain(db), { ok: false, events: 3, firstBroken: { seq: 4, reason: 'prev_hash does not match the hash of seq 3' } });
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
  t.deepEqual(await verifyAuditChain(db), { ok: true, events: 2_500 });
  await tamper(db, 'UPDATE audit_events SET subject = ? WHERE seq = 2345', ['subject:0']);
  t.like(await verifyAuditChain(db), { ok: false, events: 2_344, firstBroken: { seq: 2_345 } });
});

test('npm run mykey -- audit-verify: exit 0 and the verdict on an intact chain, exit 1 naming the first broken link', async (t) => {
  const { db, url } = await freshDatabase(t);
  await appendMany(db, 4);
  const intact = await auditVerifyCli(url);
  t.is(intact.status, 0, intact.stderr);
  t.deepEqual(JSON.parse(intact.stdout), { ok: true, events: 4 });
  t.is(intact.stdout.trim().split('\n').length, 1, 'one JSON object');

  await tamper(db, 'UPDATE audit_events SET action = ? WHERE seq = 2', ['test.forged']);
  const broken = await auditVerifyCli(url);
  t.is(broken.status, 1, broken.stderr);
  t.deepEqual(JSON.parse(broken.stdout), { ok: false, events: 1, firstBroken: { seq: 2, reason: 'hash does not match the event\'s contents' } });
});

test('npm run mykey -- audit-verify: exit 2 when the log cannot be read', async (t) => {
  const { url } = await freshDatabase(t);
  const missing = new URL(url);
  missing.pathname = '/mykey_test_no_such_database';
  const run = await auditVerifyCli(missing.toString());
  t.is(run.status, 2);
  t.is(run.stdout, '');
  t.regex(run.stderr, /audit-verify: could not read the audit log: .*Unknown database/);
});
