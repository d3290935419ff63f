// `npm start`: the whole platform from one command, for development and demos. Provides MySQL
// and Redis, migrates, seeds the demo towns (into its own local database; into a configured
// DATABASE_URL only with --seed-demo) and makes their recent activity, builds the console,
// starts the API server and the Bull worker in development (NODE_ENV=development), prints the
// URLs, and on Ctrl-C stops every part it started, in order, leaving the data in place.
// `npm run dev` does the same with the console served by Vite (hot reload) instead.
import { provideServices, type Services } from '@mykey/dev-tools/services.ts';
import { migrateAndSeed } from '@mykey/backend/database-admin.ts';
import { buildConsoleIfStale } from './lib/console-build.ts';
import { startChild, stopChild, type Child } from './lib/children.ts';
import { waitFor } from '@mykey/dev-tools/wait.ts';
import { backendNodeArgs } from '@mykey/dev-tools/backend-command.ts';
import { developmentAuditEnv } from './lib/audit.ts';
import { developmentJpkiEnv } from './lib/jpki.ts';
import { DEMO_PASSWORD, DEMO_STAFF, DEMO_SECOND_STAFF } from '@mykey/dev-tools/demo-towns.ts';
import { demoActivity } from './lib/demo-activity.ts';

const dev = process.argv.includes('--dev');
// Demo accounts have a published password: only npm start's own database gets them unasked.
const seedDemo = !process.env.DATABASE_URL || process.argv.includes('--seed-demo');
const host = process.env.HOST ?? '127.0.0.1';
const apiPort = Number(process.env.PORT ?? 3000);
const vitePort = Number(process.env.MYKEY_VITE_PORT ?? 5173);
// Prometheus scrapes each process on a loopback port of its own (docs/operations.md#metrics).
const metricsPorts = { server: Number(process.env.MYKEY_SERVER_METRICS_PORT ?? 9464), worker: Number(process.env.MYKEY_WORKER_METRICS_PORT ?? 9465) };
const apiUrl = `http://${host}:${apiPort}`;

let services: Services | undefined;
let children: Child[] = [];
let stopping = false;

async function stopAll(exitCode: number): Promise<never> {
  if (!stopping) {
    stopping = true;
    console.log('[start] stopping…');
    await Promise.all(children.map((child) => stopChild(child)));
    await services?.stop();
    console.log('[start] stopped; data is kept in place');
  }
  process.exit(exitCode);
}

process.on('SIGINT', () => void stopAll(0));
process.on('SIGTERM', () => void stopAll(0));

async function apiReady(): Promise<boolean> {
  const response = await fetch(`${apiUrl}/readyz`);
  return response.ok;
}

/** Resolves when a child exits while we still want it, naming it. */
function anyChildExit(): Promise<string> {
  return Promise.race(children.map((child) => child.exited.then((code) => `${child.name} exited with code ${code}`)));
}

async function main(): Promise<void> {
  services = await provideServices();
  await migrateAndSeed(services.databaseUrl, { seed: seedDemo });
  if (!seedDemo) console.log('[db] demo towns not seeded: DATABASE_URL is configured (npm start -- --seed-demo seeds them)');
  if (!dev) buildConsoleIfStale();
  const parts = {
    DATABASE_URL: services.databaseUrl,
    REDIS_URL: services.redisUrl,
    HOST: host,
    PORT: String(apiPort),
    // Development, said explicitly: an unset NODE_ENV is production, which refuses the demo.
    NODE_ENV: 'development',
  };
  // Unless configured: the development CA that `npm run card-sim` issues from and its CRL, and
  // .data/audit-heads for the worker's export of the audit head.
  const env = { ...parts, ...(await developmentJpkiEnv({ ...process.env, ...parts })), ...developmentAuditEnv({ ...process.env, ...parts }) };
  // The demo towns' recent activity, with the secret and anchors the server gets. Without it the
  // platform still runs: the towns are there, only quieter.
  if (seedDemo) await demoActivity(services.databaseUrl, { ...process.env, ...env }).catch((error: unknown) => console.error(`[demo] no demo activity: ${error instanceof Error ? error.message : String(error)}`));
  children = [
    startChild('server', backendNodeArgs('server'), { ...env, METRICS_PORT: String(metricsPorts.server) }),
    startChild('worker', backendNodeArgs('worker'), { ...env, METRICS_PORT: String(metricsPorts.worker) }),
  ];
  if (dev) {
    children.push(startChild('vite', ['node_modules/vite/bin/vite.js', 'frontend', '--host', host, '--port', String(vitePort), '--strictPort'],
      { MYKEY_API_PORT: String(apiPort) }));
  }
  const exit = anyChildExit();
  const ready = waitFor('the API to be ready', apiReady, 120_000).then(() => undefined);
  const failure = await Promise.race([ready, exit]);
  if (failure) throw new Error(failure);
  void exit.then((reason) => {
    if (stopping) return;
    console.error(`[start] ${reason}; stopping everything`);
    void stopAll(1);
  });
  const consoleUrl = dev ? `http://${host}:${vitePort}/` : `${apiUrl}/`;
  console.log([
    '',
    'MyKey platform is running.',
    `  Console (コンソール):   ${consoleUrl}`,
    `  API:                    ${apiUrl}/api/v1/`,
    `  Health / readiness:     ${apiUrl}/healthz  ${apiUrl}/readyz`,
    `  Metrics (Prometheus):   http://127.0.0.1:${metricsPorts.server}/metrics (server)  http://127.0.0.1:${metricsPorts.worker}/metrics (worker)`,
    `  Queues (Bull Board):    http://127.0.0.1:${metricsPorts.worker}/queues`,
    ...(seedDemo ? [`  Demo sign-in:           ${DEMO_STAFF.map((s) => s.login_id).join(' or ')} (みらい市), ${DEMO_SECOND_STAFF.map((s) => s.login_id).join(' or ')} (あおば町), password ${DEMO_PASSWORD}`] : []),
    '  Press Ctrl-C to stop.',
    '',
  ].join('\n'));
}

main().catch((error: unknown) => {
  console.error(`[start] ${error instanceof Error ? error.message : String(error)}`);
  void stopAll(1);
});
