// Enrolling the reader agent as a device, against a real backend: the CLI, the file it
// leaves, what the agent then reports, and the backend client's typed errors.
import test from 'ava';
import { execFile } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileFixture, testDatabase } from '@mykey/backend/test/helpers/env.ts';
import { startApp } from '@mykey/backend/test/helpers/server.ts';
import { signInStaff } from '@mykey/backend/test/helpers/identity.ts';
import { problemKinds } from '@mykey/contracts/problem-kinds.ts';
import { freePort } from '@mykey/dev-tools/ports.ts';
import { BackendClient, BackendError, insecureBackendProblem } from '../src/agent/backend-client.ts';
import { writeEnrollment } from '../src/agent/enrollment.ts';
import { startAgent } from './helpers/agent.ts';

const fixture = fileFixture(test, async (cleanup) => {
  const { db } = await testDatabase(cleanup);
  await db.seed.run();
  const base = await startApp(cleanup, db);
  return { db, base, staff: await signInStaff(base, 'demo-city') };
});

/** A config directory of the test's own, as XDG_CONFIG_HOME: the agent keeps its files in <dir>/mykey. */
function configHome(t: { teardown: (fn: () => void) => void }): { home: string; file: string } {
  const home = mkdtempSync(path.join(tmpdir(), 'mykey-enroll-'));
  t.teardown(() => rmSync(home, { recursive: true, force: true }));
  return { home, file: path.join(home, 'mykey', 'reader-agent-enrollment.json') };
}

/** `env` adds to (or, undefined, removes from) the test's environment. */
function cli(args: string[], home: string, env: Record<string, string | undefined> = {}): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(process.execPath, ['--import', 'tsx', 'reader-agent/src/agent/main.ts', ...args], { env: { ...process.env, XDG_CONFIG_HOME: home, ...env }, timeout: 60_000 },
      (error, stdout, stderr) => resolve({ code: error ? (typeof error.code === 'number' ? error.code : -1) : 0, stdout, stderr }));
  });
}

async function issueCode(name = 'カウンターPC'): Promise<string> {
  const { staff } = await fixture();
  const issued = await staff.post('/api/v1/staff/device-enrollment-codes', { name });
  if (issued.status !== 201) throw new Error(JSON.stringify(issued.body));
  return issued.body.code;
}

test('enroll keeps the device token in a file only this user can read, and never prints it', async (t) => {
  const { base } = await fixture();
  const { home, file } = configHome(t);
  const run = await cli(['enroll', await issueCode(), '--backend', `${base}/`, '--name', '窓口A'], home);
  t.is(run.code, 0, run.stderr);
  t.regex(run.stdout, /端末として登録しました/);
  t.regex(run.stdout, /Enrolled this PC's reader agent as a device/);
  t.regex(run.stdout, /「窓口A」/);
  t.regex(run.stdout, /みらい市（デモ） \(Mirai City \(demo\)\)/);
  t.true(run.stdout.includes(file));

  t.is(statSync(file).mode & 0o777, 0o600);
  const saved = JSON.parse(readFileSync(file, 'utf8'));
  t.deepEqual(Object.keys(saved).sort(), ['backendUrl', 'deviceId', 'token']);
  t.is(saved.backendUrl, base);
  t.regex(saved.token, /^mkd_[A-Za-z0-9_-]{43}$/);
  t.false(run.stdout.includes(saved.token) || run.stderr.includes(saved.token), 'token printed');
  t.false(run.stdout.includes(saved.token.slice(4, 20)), 'part of the token printed');
  t.like(await new BackendClient(base, saved.token).self(), { deviceId: saved.deviceId, organization: { kind: 'municipality' } });
});

test('the agent says whether it is enrolled, and to which server, but not the token', async (t) => {
  const { base } = await fixture();
  const { home, file } = configHome(t);
  // No pcscd behind this socket: enrollment does not need a reader.
  const env = { ...process.env, XDG_CONFIG_HOME: home, PCSCLITE_CSOCK_NAME: path.join(home, 'no-pcscd.comm') };
  const before = await startAgent({ env }, { seeReader: false });
  t.teardown(() => before.stop());
  t.like((await before.call('GET', '/v1/status')).body, { enrolled: false, deviceId: null, backendUrl: null });
  t.regex(before.output(), /not enrolled/);
  await before.stop();

  t.is((await cli(['enroll', await issueCode(), '--backend', base], home)).code, 0);
  const again = await cli(['enroll', await issueCode(), '--backend', base], home);
  t.regex(again.stdout, /Replaced the earlier enrollment/, 'enrolling again replaces the first');
  const { token, deviceId } = JSON.parse(readFileSync(file, 'utf8'));

  const after = await startAgent({ env }, { seeReader: false });
  t.teardown(() => after.stop());
  const status = await after.call('GET', '/v1/status');
  t.like(status.body, { enrolled: true, deviceId, backendUrl: base });
  t.false(JSON.stringify(status.body).includes(token));
  t.false(after.output().includes(token), 'token in the agent log');
});

test('a wrong code: the backend\'s message in Japanese and English, exit 1, nothing saved', async (t) => {
  const { base } = await fixture();
  const { home, file } = configHome(t);
  const run = await cli(['enroll', 'ZZZZ-ZZZZ-ZZ', '--backend', base], home);
  t.is(run.code, 1);
  const { messages } = problemKinds.device_enrollment_code_invalid;
  t.true(run.stderr.includes(`登録できませんでした: ${messages.ja}`), run.stderr);
  t.true(run.stderr.includes(`Enrollment failed: ${messages.en}`));
  t.regex(run.stderr, /\(device_enrollment_code_invalid, request [0-9a-f-]{36}\)/);
  t.false(existsSync(file));
});

test('an unreachable server and wrong usage are told apart by exit status', async (t) => {
  const { home, file } = configHome(t);
  const nowhere = `http://127.0.0.1:${await freePort()}`;
  const unreachable = await cli(['enroll', 'K7QM-3XPA-9D', '--backend', nowhere], home);
  t.is(unreachable.code, 1);
  t.true(unreachable.stderr.includes(`MyKey のサーバーに接続できません。ネットワークとサーバーのアドレス（${nowhere}）を確認してください。`), unreachable.stderr);
  t.regex(unreachable.stderr, /\(backend_unreachable\)/);
  for (const args of [['enroll', 'K7QM-3XPA-9D'], ['enroll', '--backend', nowhere], ['enroll', 'K7QM-3XPA-9D', '--backend', 'ftp://example.jp'], ['enroll', 'A', 'B', '--backend', nowhere], ['enroll', 'K7QM-3XPA-9D', '--backend', nowhere, '--bogus']]) {
    const run = await cli(args, home);
    t.is(run.code, 2, args.join(' '));
    t.regex(run.stderr, /Usage: npm run reader-agent -- enroll/);
  }
  t.false(existsSync(file));
});

test('the backend client: problems come back as typed errors with the backend\'s code and messages', async (t) => {
  const { base } = await fixture();
  const error = await t.throwsAsync(new BackendClient(base, `mkd_${'A'.repeat(43)}`).self(), { instanceOf: BackendError });
  t.like(error, { code: 'device_unknown', status: 401, messages: problemKinds.device_unknown.messages });
  t.regex(error!.requestId ?? '', /^[0-9a-f-]{36}$/);
  const html = await t.throwsAsync(new BackendClient(base).request('GET', '/'), { instanceOf: BackendError });
  t.is(html!.code, 'backend_unexpected_response', 'the console page is not an API answer');
});

test('plain http:// to another host is refused by enroll and at the agent\'s start, unless NODE_ENV=development', async (t) => {
  const { home, file } = configHome(t);
  const production = { NODE_ENV: undefined };
  const clear = 'http://mykey.example.jp';
  const refused = await cli(['enroll', 'K7QM-3XPA-9D', '--backend', clear], home, production);
  t.is(refused.code, 2);
  const { ja, en } = insecureBackendProblem(clear, {})!;
  t.true(refused.stderr.includes(ja) && refused.stderr.includes(en), refused.stderr);
  t.regex(ja, /https:\/\//);
  t.false(existsSync(file), 'nothing saved, and no code spent');

  // Loopback is this PC: allowed in production too (nothing listens there, so it fails after the check).
  for (const host of ['127.0.0.1', 'localhost', '[::1]']) {
    const run = await cli(['enroll', 'K7QM-3XPA-9D', '--backend', `http://${host}:${await freePort()}`], home, production);
    t.is(run.code, 1, `${host}: ${run.stderr}`);
    t.regex(run.stderr, /\(backend_unreachable\)/);
  }
  // In development another host may be plain http (192.0.2.1 is a documentation address: nothing answers).
  const development = await cli(['enroll', 'K7QM-3XPA-9D', '--backend', 'http://192.0.2.1:9'], home, { NODE_ENV: 'development' });
  t.is(development.code, 1, development.stderr);
  t.regex(development.stderr, /\((backend_unreachable|backend_timeout)\)/);
  t.false(development.stderr.includes(en));

  // An enrollment on file with a plain http:// server (written by an older agent, or by hand): the agent does not start.
  writeEnrollment(file, { backendUrl: clear, deviceId: 1, token: `mkd_${'A'.repeat(43)}` });
  const start = await cli([], home, production);
  t.is(start.code, 1);
  t.true(start.stderr.includes(`リーダーエージェントを起動できません: ${ja}`), start.stderr);
  t.true(start.stderr.includes(`The reader agent cannot start: ${en}`));
  const env = { ...process.env, XDG_CONFIG_HOME: home, NODE_ENV: 'development', PCSCLITE_CSOCK_NAME: path.join(home, 'no-pcscd.comm') };
  const agent = await startAgent({ env }, { seeReader: false });
  t.teardown(() => agent.stop());
  t.like((await agent.call('GET', '/v1/status')).body, { enrolled: true, backendUrl: clear });
});
