// `npm test`: provisions like `npm start` (MySQL, Redis, the Debian packages the suite
// drives: Chromium, pcscd, the virtual reader, OpenSC), builds the console, then runs the
// whole ava suite against the real services. Every test file makes its own database.
// Ends with one line "N passed, N failed, N skipped" and ava's honest exit code.
import { spawn } from 'node:child_process';
import { provideServices, TEST_PROFILE } from '@mykey/dev-tools/services.ts';
import { ensureDebianPackages, VIRTUAL_READER_PACKAGES } from '@mykey/dev-tools/debian.mjs';
import { buildConsoleIfStale, consoleDir } from './lib/console-build.ts';
import { adminConnection, dropDatabase, ensureDatabase } from '@mykey/backend/database-admin.ts';
import { rootDir } from '@mykey/dev-tools/paths.ts';
import { TEST_DATABASE_PREFIX } from '@mykey/backend/test/helpers/names.ts';
import { devCaEnv } from './lib/jpki.ts';

ensureDebianPackages([
  { pkg: 'chromium', provides: '/usr/bin/chromium' },
  // Japanese glyphs, so the console's screens render (and screenshot) as residents see them.
  { pkg: 'fonts-noto-cjk', provides: '/usr/share/fonts/opentype/noto/NotoSansCJK-Regular.ttc' },
  ...VIRTUAL_READER_PACKAGES,
  { pkg: 'opensc', provides: 'pkcs15-tool' },
]);

/** Drops databases left behind by test runs that were killed before their teardown. */
async function dropLeftoverTestDatabases(databaseUrl: string): Promise<void> {
  await ensureDatabase(databaseUrl);
  const db = adminConnection(databaseUrl);
  try {
    const [rows] = await db.raw('SHOW DATABASES LIKE ?', [`${TEST_DATABASE_PREFIX}%`]);
    for (const row of rows as Array<Record<string, string>>) {
      await dropDatabase(db, Object.values(row)[0]!);
    }
  } finally {
    await db.destroy();
  }
}

interface Counts { passed: number; failed: number; skipped: number }

/**
 * Reads ava's closing lines ("12 tests passed", "1 test failed", "2 tests skipped"). When
 * something failed ava leaves out the passed line, so passes are also counted by their ✔ lines.
 * A test still pending when ava's timeout ends the run counts as failed: it did not pass.
 */
function countResults(output: string): Counts {
  const count = (pattern: RegExp) => [...output.matchAll(pattern)].reduce((sum, m) => sum + Number(m[1]), 0);
  return {
    passed: Math.max(count(/^\s*(\d+) tests? passed/gm), (output.match(/^\s*✔ /gm) ?? []).length),
    failed: count(/^\s*(\d+) (?:tests? failed|uncaught exceptions?|unhandled rejections?|known failures?|tests? remained pending after a timeout)/gm),
    skipped: count(/^\s*(\d+) (?:tests? skipped|tests? todo)/gm),
  };
}

function runAva(args: string[], env: NodeJS.ProcessEnv): Promise<{ code: number; output: string }> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, ['node_modules/ava/entrypoints/cli.mjs', ...args], { cwd: rootDir, env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
    let output = '';
    const tee = (chunk: Buffer, out: NodeJS.WriteStream) => { output += chunk.toString('utf8'); out.write(chunk); };
    child.stdout.on('data', (chunk: Buffer) => tee(chunk, process.stdout));
    child.stderr.on('data', (chunk: Buffer) => tee(chunk, process.stderr));
    child.on('exit', (code) => resolve({ code: code ?? 1, output }));
  });
}

const services = await provideServices(TEST_PROFILE);
let exitCode = 1;
try {
  buildConsoleIfStale();
  await dropLeftoverTestDatabases(services.databaseUrl);
  const { code, output } = await runAva(process.argv.slice(2), {
    DATABASE_URL: services.databaseUrl,
    REDIS_URL: services.redisUrl,
    CONSOLE_DIR: consoleDir,
    // The servers and workers the tests start trust the development CA (backend/test/helpers/processes.ts);
    // no CRL, so a test's database holds only the CRLs the test puts there.
    ...(await devCaEnv(process.env, { crl: false })),
    // Staff passwords at scrypt's least cost: the suite signs in hundreds of times, and at OWASP's
    // 2^17 two suites on one 2-core machine made sign-ins outlast a browser test's wait. The cost
    // production keeps has a test of its own (staff.test.ts).
    STAFF_PASSWORD_SCRYPT_N: String(2 ** 10),
  });
  const counts = countResults(output);
  exitCode = code !== 0 || counts.failed > 0 ? Math.max(code, 1) : 0;
  console.log(`\n${counts.passed} passed, ${counts.failed} failed, ${counts.skipped} skipped`);
} finally {
  await services.stop();
}
process.exit(exitCode);
