// Production by default: with NODE_ENV unset (production) the server and the worker refuse to
// start with anything of development — a development MyKey secret, a development CA among the
// trust anchors, a demo staff account in the database — each with a message saying what to change;
// with none of them, production starts.
import test from 'ava';
import { execFileSync, spawn } from 'node:child_process';
import { once } from 'node:events';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { randomBytes } from 'node:crypto';
import { createCa } from '@mykey/dev-tools/dev-ca/index.ts';
import { DEMO_SECOND_STAFF, DEMO_STAFF } from '@mykey/dev-tools/demo-towns.ts';
import { mykeySecret } from '../src/config.ts';
import { fileFixture, queuePrefix, redisUrl, testDatabase, type Cleanup } from './helpers/env.ts';
import { startServer, startWorker } from './helpers/processes.ts';
import { freePort } from '@mykey/dev-tools/ports.ts';
import { rootDir } from '@mykey/dev-tools/paths.ts';

/** A CA certificate as J-LIS's would be to the platform: made by openssl, without the development CA's mark. */
function productionCaPem(): string {
  return execFileSync('openssl', ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', '/dev/null', '-days', '2',
    '-subj', '/C=JP/O=JPKI/OU=JPKI for user authentication/OU=Japan Agency for Local Authority Information Systems',
    '-addext', 'basicConstraints=critical,CA:TRUE', '-addext', 'keyUsage=critical,keyCertSign,cRLSign'], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] });
}

function tempDir(cleanup: Cleanup): string {
  const dir = mkdtempSync(path.join(tmpdir(), 'mykey-production-'));
  cleanup(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

const fixture = fileFixture(test, async (cleanup) => {
  const dir = tempDir(cleanup);
  const file = (name: string, content: string) => {
    writeFileSync(path.join(dir, name), content);
    return path.join(dir, name);
  };
  const productionCa = productionCaPem();
  const { url } = await testDatabase(cleanup);
  const seeded = await testDatabase(cleanup);
  await seeded.db.seed.run();
  // What a production machine has: a database without the demo, a secret and anchors of its own,
  // a data folder (MYKEY_DATA_DIR) with no development CA or secret in it, and a folder for the
  // audit log's exported heads.
  const production = {
    PATH: process.env.PATH!, DATABASE_URL: url, REDIS_URL: redisUrl(), QUEUE_PREFIX: queuePrefix(cleanup),
    MYKEY_SECRET: randomBytes(32).toString('hex'), JPKI_TRUST_ANCHORS: file('anchors.pem', productionCa), MYKEY_DATA_DIR: tempDir(cleanup),
    AUDIT_EXPORT_DIR: tempDir(cleanup),
  };
  return { production, file, productionCa, seededUrl: seeded.url, devCa: (await createCa({ kind: 'auth' })).certificatePem };
});

/** backend/src/<part>.ts with exactly `env`; resolves to its exit code and output once it exits (it is killed after 2 minutes). */
async function run(part: string, env: Record<string, string>): Promise<{ code: number | null; stderr: string }> {
  const child = spawn(process.execPath, ['--import', 'tsx', `backend/src/${part}.ts`], { cwd: rootDir, env, stdio: ['ignore', 'ignore', 'pipe'] });
  let stderr = '';
  child.stderr.on('data', (chunk) => { stderr += chunk; });
  const timer = setTimeout(() => child.kill('SIGKILL'), 120_000);
  const [code] = await once(child, 'exit');
  clearTimeout(timer);
  return { code, stderr };
}

/**
 * The server, and the worker too when `worker` (each kind of check once: the two share its code),
 * exit 1 with a configuration error matching every one of `messages`. One process at a time,
 * and one test at a time (test.serial): each start costs seconds of CPU on a shared machine.
 */
async function refuses(t: import('ava').ExecutionContext, { worker }: { worker: boolean }, env: Record<string, string>, ...messages: RegExp[]): Promise<void> {
  for (const part of worker ? ['server', 'worker'] : ['server']) {
    const { code, stderr } = await run(part, env);
    t.is(code, 1, stderr);
    t.regex(stderr, /^Configuration error:\n/);
    for (const message of messages) t.regex(stderr, message);
    t.notRegex(stderr, /\n\s+at /, `${part}: no stack trace`);
  }
}

test.serial('an unset NODE_ENV is production: no fallback on the development secret or CA', async (t) => {
  const { production } = await fixture();
  const { MYKEY_SECRET: _secret, JPKI_TRUST_ANCHORS: _anchors, ...unset } = production;
  await refuses(t, { worker: true }, unset, /MYKEY_SECRET: required in production: make one with `openssl rand -hex 32`.*development needs NODE_ENV=development/,
    /JPKI_TRUST_ANCHORS: required in production: .*development needs NODE_ENV=development/);
});

test.serial('production refuses the public development secret', async (t) => {
  const { production } = await fixture();
  await refuses(t, { worker: false }, { ...production, MYKEY_SECRET: mykeySecret({ NODE_ENV: 'test' }).toString('hex') },
    /MYKEY_SECRET: is a development secret .*`openssl rand -hex 32`/);
});

test.serial('production refuses the secret an earlier npm start made for this machine in .data/mykey-secret', async (t) => {
  const { production } = await fixture();
  const local = randomBytes(32).toString('hex');
  const dataDir = tempDir((fn) => t.teardown(fn));
  writeFileSync(path.join(dataDir, 'mykey-secret'), `${local}\n`);
  await refuses(t, { worker: false }, { ...production, MYKEY_DATA_DIR: dataDir, MYKEY_SECRET: local }, /MYKEY_SECRET: is a development secret \(the public one, or .*mykey-secret\)/);
});

test.serial('production refuses an anchor bundle holding a development CA, however it got there', async (t) => {
  const { production, file, productionCa, devCa } = await fixture();
  await refuses(t, { worker: true }, { ...production, JPKI_TRUST_ANCHORS: file('with-dev-ca.pem', productionCa + devCa) },
    /JPKI_TRUST_ANCHORS: .*with-dev-ca\.pem: certificate 2 of 2 is a development CA .*NODE_ENV=development/);
});

test.serial('production refuses this machine\'s development CA even from before development CAs were marked', async (t) => {
  const { production, file } = await fixture();
  const unmarked = productionCaPem();
  const dataDir = tempDir((fn) => t.teardown(fn));
  mkdirSync(path.join(dataDir, 'dev-ca'));
  writeFileSync(path.join(dataDir, 'dev-ca', 'auth-ca.pem'), unmarked);
  await refuses(t, { worker: false }, { ...production, MYKEY_DATA_DIR: dataDir, JPKI_TRUST_ANCHORS: file('old-dev-ca.pem', unmarked) },
    /certificate 1 of 1 is a development CA/);
});

const demoLogins = [...DEMO_STAFF, ...DEMO_SECOND_STAFF].map((staff) => staff.login_id).sort();

test.serial('production refuses a database holding demo staff accounts, naming them', async (t) => {
  const { production, seededUrl } = await fixture();
  await refuses(t, { worker: true }, { ...production, DATABASE_URL: seededUrl },
    new RegExp(`DATABASE_URL: the database holds demo staff accounts \\(${demoLogins.join(', ')}\\), whose password is published`));
});

test.serial('production does not start when it cannot check for demo accounts', async (t) => {
  const { production } = await fixture();
  await refuses(t, { worker: false }, { ...production, DATABASE_URL: 'mysql://mykey:mykey@127.0.0.1:1/none' },
    /DATABASE_URL: cannot check the database for demo staff accounts \(ECONNREFUSED\)/);
});

test.serial('with a secret, anchors and a database of its own, production starts, keeping idle connections longer than a proxy', async (t) => {
  const { production } = await fixture();
  // startBackend's NODE_ENV=test is overridden: this is production, said as an operator would.
  const env = { ...production, NODE_ENV: 'production' };
  const port = await freePort();
  const server = await startServer(port, env);
  t.teardown(() => server.stop());
  // Node's own 5 s made a reused connection fail now and then (http/listen.ts); a proxy keeps its own 60 s.
  t.is((await fetch(`http://127.0.0.1:${port}/healthz`)).headers.get('keep-alive'), 'timeout=65');
  const worker = await startWorker(env);
  t.teardown(() => worker.stop());
  t.is(await server.stop(), 0);
  t.is(await worker.stop(), 0);
});
