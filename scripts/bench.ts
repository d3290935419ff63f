// `npm run bench`: every benchmark in the repository, one after the other (they would
// disturb each other's timings in parallel). Each prints its figures, with baselines
// measured in the same run, as its last line of JSON; this collects those lines.
// Backend benchmarks get MySQL and Redis as `npm start` does (DATABASE_URL and REDIS_URL, else
// the local ones on 3407/6380, never the test pair); each makes its own database and drops it.
import { spawnSync } from 'node:child_process';
import { readdirSync } from 'node:fs';
import path from 'node:path';
import { rootDir } from '@mykey/dev-tools/paths.ts';
import { provideServices, type Services } from '@mykey/dev-tools/services.ts';

const benchDirs = ['backend/bench', 'reader-agent/bench'];
const files = benchDirs.flatMap((dir) => {
  try {
    return readdirSync(path.join(rootDir, dir)).filter((name) => name.endsWith('.bench.ts')).map((name) => path.join(dir, name));
  } catch {
    return [];
  }
});
// `--grown`: each benchmark that can (those below) runs twice, in a small town and then in a
// grown one (BENCH_GROWN_RESIDENTS and BENCH_GROWN_ENTRIES, else 1,000,000 and 10,000,000), and
// the ratio of its two ratios is printed: how much of its speed it keeps as the town grows.
const GROWN_BENCHES = ['redemption', 'card-session'];
const GROWN_TOWN = { BENCH_GROWN_RESIDENTS: process.env.BENCH_GROWN_RESIDENTS ?? '1000000', BENCH_GROWN_ENTRIES: process.env.BENCH_GROWN_ENTRIES ?? '10000000' };
const SMALL_TOWN = { BENCH_GROWN_RESIDENTS: '0', BENCH_GROWN_ENTRIES: '0' };

const grown = process.argv.includes('--grown');
const only = process.argv.slice(2).filter((arg) => arg !== '--grown');
const selected = files.filter((f) => (only.length === 0 || only.some((o) => f.includes(o))) && (!grown || GROWN_BENCHES.some((name) => f.endsWith(`/${name}.bench.ts`))));
const services: Services | undefined = selected.some((f) => f.startsWith('backend/')) ? await provideServices() : undefined;
const env = { ...process.env, ...(services && { DATABASE_URL: services.databaseUrl, REDIS_URL: services.redisUrl }) };
const results: unknown[] = [];
let failed = false;

/** Runs one benchmark with `extra` in its environment; its figures, or undefined when it failed. */
function runBench(file: string, extra: Record<string, string> = {}): Record<string, any> | undefined {
  console.log(`[bench] ${file} ${Object.entries(extra).map(([name, value]) => `${name}=${value}`).join(' ')}`);
  const run = spawnSync(process.execPath, ['--import', 'tsx', file], { cwd: rootDir, env: { ...env, ...extra }, encoding: 'utf8', stdio: ['ignore', 'pipe', 'inherit'] });
  process.stdout.write(run.stdout);
  const last = run.stdout.trim().split('\n').at(-1) ?? '';
  if (run.status !== 0 || !last.startsWith('{')) {
    console.error(`[bench] ${file} failed`);
    failed = true;
    return undefined;
  }
  return JSON.parse(last);
}

for (const file of selected) {
  if (!grown) {
    const figures = runBench(file);
    if (figures) results.push(figures);
    continue;
  }
  const small = runBench(file, SMALL_TOWN);
  const large = small && runBench(file, GROWN_TOWN);
  if (small && large) {
    const ratioOfRatios = Math.round((large.ratio / small.ratio) * 1000) / 1000;
    console.log(`[bench] ${small.benchmark}: ratio ${small.ratio} small, ${large.ratio} grown: grown ÷ small = ${ratioOfRatios} (aim ≥ 0.8)`);
    results.push({ benchmark: small.benchmark, ratioOfRatios, aim: { ratioOfRatiosAtLeast: 0.8 }, small, grown: large });
  }
}
await services?.stop();
console.log(JSON.stringify({ benchmarks: results }));
process.exit(failed ? 1 : 0);
