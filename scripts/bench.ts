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
const only = process.argv.slice(2);
const selected = files.filter((f) => only.length === 0 || only.some((o) => f.includes(o)));
const services: Services | undefined = selected.some((f) => f.startsWith('backend/')) ? await provideServices() : undefined;
const env = { ...process.env, ...(services && { DATABASE_URL: services.databaseUrl, REDIS_URL: services.redisUrl }) };
const results: unknown[] = [];
let failed = false;
for (const file of selected) {
  console.log(`[bench] ${file}`);
  const run = spawnSync(process.execPath, ['--import', 'tsx', file], { cwd: rootDir, env, encoding: 'utf8', stdio: ['ignore', 'pipe', 'inherit'] });
  process.stdout.write(run.stdout);
  const last = run.stdout.trim().split('\n').at(-1) ?? '';
  if (run.status !== 0 || !last.startsWith('{')) {
    console.error(`[bench] ${file} failed`);
    failed = true;
    continue;
  }
  results.push(JSON.parse(last));
}
await services?.stop();
console.log(JSON.stringify({ benchmarks: results }));
process.exit(failed ? 1 : 0);
