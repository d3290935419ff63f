// `npm run stress`: the whole suite (or the test files named) several times over, with processes
// that keep every CPU busy beside it, as on a loaded 2-core CI machine. A test that fails here
// fails by chance somewhere else too; docs/testing.md says what to do with one.
//
//   npm run stress                         3 runs of `npm test`, one busy loop per CPU
//   npm run stress -- --runs 5 --hogs 4    5 runs, 4 busy loops
//   npm run stress -- --runs 10 backend/test/partner-sim.test.ts
//   npm run stress -- --loop-delay         also: the test files that held their event loop longest
//
// Prints each run's counts and failed tests, then one JSON line with the totals; exits 1 when a
// run failed.
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, rmSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { dataDir, rootDir } from '@mykey/dev-tools/paths.ts';

const { values, positionals } = parseArgs({
  options: {
    runs: { type: 'string', default: '3' },
    hogs: { type: 'string', default: String(availableParallelism()) },
    'loop-delay': { type: 'boolean', default: false },
  },
  allowPositionals: true,
});
const count = (name: string, text: string) => {
  const value = Number(text);
  if (!Number.isInteger(value) || value < 0) {
    console.error(`--${name} must be a whole number, got "${text}"`);
    process.exit(2);
  }
  return value;
};
const runs = count('runs', values.runs);
const hogs = count('hogs', values.hogs);

/** A process that does nothing but take a CPU, until killed. */
const hog = (): ChildProcess => spawn(process.execPath, ['-e', 'for (;;) {}'], { stdio: 'ignore' });

interface Run { run: number; passed: number; failed: number; skipped: number; seconds: number; failures: string[] }

const stressDir = path.join(dataDir, 'stress');
const loopDelayFile = (run: number) => path.join(stressDir, `loop-delay-${run}.jsonl`);

/** With --loop-delay, every ava worker records its longest event-loop stall (scripts/lib/loop-delay.mjs). */
function runEnv(run: number): NodeJS.ProcessEnv {
  if (!values['loop-delay']) return process.env;
  mkdirSync(stressDir, { recursive: true });
  rmSync(loopDelayFile(run), { force: true });
  const preload = `--import=${path.join(rootDir, 'scripts', 'lib', 'loop-delay.mjs')}`;
  return { ...process.env, NODE_OPTIONS: `${process.env.NODE_OPTIONS ?? ''} ${preload}`.trim(), MYKEY_LOOP_DELAY_FILE: loopDelayFile(run) };
}

/** The test files whose event loop was held longest in `run`, worst first. */
function longestStalls(run: number, count = 5): Array<{ file: string; maxMs: number }> {
  // Without --loop-delay a file there is an earlier invocation's.
  if (!values['loop-delay'] || !existsSync(loopDelayFile(run))) return [];
  const worst = new Map<string, number>();
  for (const line of readFileSync(loopDelayFile(run), 'utf8').split('\n').filter(Boolean)) {
    const { file, maxMs } = JSON.parse(line) as { file: string; maxMs: number };
    const name = path.relative(rootDir, file);
    worst.set(name, Math.max(maxMs, worst.get(name) ?? 0));
  }
  return [...worst].map(([file, maxMs]) => ({ file, maxMs })).sort((a, b) => b.maxMs - a.maxMs).slice(0, count);
}

/** One `npm test` (with the files named), its output shown as it comes and read for the counts. */
function testRun(run: number): Promise<Run> {
  const started = Date.now();
  return new Promise((resolve) => {
    const child = spawn(process.execPath, ['scripts/bootstrap.mjs', 'scripts/test.ts', ...positionals], { cwd: rootDir, env: runEnv(run), stdio: ['ignore', 'pipe', 'inherit'] });
    let output = '';
    child.stdout!.on('data', (chunk: Buffer) => { output += chunk.toString('utf8'); process.stdout.write(chunk); });
    child.on('exit', (code) => {
      const totals = /^(\d+) passed, (\d+) failed, (\d+) skipped$/m.exec(output);
      const failures = [...new Set([...output.matchAll(/^\s*✘ (.+)$/gm)].map((m) => m[1]!.trim()))];
      const [passed, failed, skipped] = totals ? totals.slice(1).map(Number) : [0, 1, 0];
      // A run that died before its counts (setup failed, say) counts as one failure.
      resolve({ run, passed: passed!, failed: code === 0 ? failed! : Math.max(failed!, 1), skipped: skipped!, seconds: Math.round((Date.now() - started) / 1000), failures });
    });
  });
}

const busy = Array.from({ length: hogs }, hog);
const stopHogs = () => { for (const child of busy) child.kill('SIGKILL'); };
process.on('exit', stopHogs);
process.on('SIGINT', () => process.exit(130));

const results: Run[] = [];
for (let run = 1; run <= runs; run++) {
  console.log(`[stress] run ${run} of ${runs}, ${hogs} busy loop(s) beside it`);
  results.push(await testRun(run));
}
stopHogs();

console.log('\n[stress] run  passed  failed  skipped  seconds');
for (const r of results) {
  console.log(`[stress] ${String(r.run).padStart(3)}  ${String(r.passed).padStart(6)}  ${String(r.failed).padStart(6)}  ${String(r.skipped).padStart(7)}  ${String(r.seconds).padStart(7)}`);
  for (const failure of r.failures) console.log(`[stress]        ✘ ${failure}`);
  for (const { file, maxMs } of longestStalls(r.run)) console.log(`[stress]        event loop held ${maxMs} ms at most: ${file}`);
}
const failedRuns = results.filter((r) => r.failed > 0).length;
console.log(JSON.stringify({ runs, hogs, failedRuns, failures: results.flatMap((r) => r.failures.map((test) => ({ run: r.run, test }))) }));
process.exit(failedRuns > 0 ? 1 : 0);
