// Every benchmark runs to its end at a tiny size, so a change that breaks one (a renamed column,
// a role its setup lacks) fails the suite instead of being found sessions later. The figures of
// such a run mean nothing (the suite loads the machine): this checks only that each bench
// completes and prints its JSON line; `npm run bench` measures.
import test from 'ava';
import { execFile } from 'node:child_process';
import { readdirSync } from 'node:fs';
import path from 'node:path';
import { rootDir } from '@mykey/dev-tools/paths.ts';

const TINY = {
  BENCH_SECONDS: '1', BENCH_BASELINE_SECONDS: '1', BENCH_KEYS: '4', BENCH_CRL_ENTRIES: '10',
  BENCH_CARDS: '16', BENCH_CONCURRENCY: '4', BENCH_DEVICES: '2',
  BENCH_COUNTERS: '4', BENCH_RESIDENTS: '16', BENCH_REGISTERS: '4', BENCH_SHOPS: '2',
  BENCH_CONVERSIONS: '200', BENCH_BATCH_LINES: '100', BENCH_BATCH_FILE_LINES: '200', BENCH_UPLOADS: '1', BENCH_SINGLE: '100', BENCH_SINGLE_CONCURRENCY: '8',
  BENCH_RAW_CONCURRENCY: '4', BENCH_BULL_JOBS: '100', BENCH_BARE_APDUS: '4', BENCH_SESSIONS: '2', BENCH_SETTLE: '0',
  // A small grown town under the benchmarks that take one; each ends with the ledger check, and fails unless it is clean.
  BENCH_GROWN_RESIDENTS: '2000', BENCH_GROWN_ENTRIES: '20000',
};

const benches = ['backend/bench', 'reader-agent/bench'].flatMap((dir) =>
  readdirSync(path.join(rootDir, dir)).filter((name) => name.endsWith('.bench.ts')).map((name) => path.join(dir, name)));

for (const bench of benches) {
  test(`${bench} runs to its end at a tiny size and prints its figures as JSON`, async (t) => {
    const { code, stdout, stderr } = await new Promise<{ code: number; stdout: string; stderr: string }>((resolve) => {
      execFile(process.execPath, ['--import', 'tsx', bench], { cwd: rootDir, env: { ...process.env, ...TINY }, timeout: 600_000, maxBuffer: 64 * 1024 * 1024 },
        (error, out, err) => resolve({ code: error ? Number(error.code ?? 1) : 0, stdout: out, stderr: err }));
    });
    t.is(code, 0, `${stderr.slice(-3000)}\n${stdout.slice(-2000)}`);
    const last = stdout.trim().split('\n').at(-1) ?? '';
    t.notThrows(() => JSON.parse(last), `its last line is its figures: ${last.slice(0, 300)}`);
  });
}
