// The API server and the Bull worker as child processes, as in production: for tests that kill
// a worker with SIGKILL or restart the services under them, and for benchmarks that must not
// share an event loop with their own client.
import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { openSync, readFileSync } from 'node:fs';
import { rootDir } from '@mykey/dev-tools/paths.ts';
import { waitFor } from '@mykey/dev-tools/wait.ts';
import { backendNodeArgs } from '@mykey/dev-tools/backend-command.ts';

export interface BackendProcess {
  pid: number;
  child: ChildProcess;
  /** What it printed: kept in memory, or read back from its log file. */
  output(): string;
  /** SIGTERM (or `signal`), then waits for it to exit; answers its exit code (null when killed by a signal). */
  stop(signal?: NodeJS.Signals): Promise<number | null>;
}

/**
 * backend/src/<script>.ts in a process of its own, with the Node options production starts it with
 * (backend/package.json's script) and `nodeArgs`, and exactly `env` (and PATH; NODE_ENV=test, the
 * trust anchors npm test names, the development CA's, and its staff password cost (scripts/test.ts),
 * unless `env` says otherwise). Its output is kept in memory, or appended to `logFile` when given
 * (a benchmark's server logs a line per request).
 */
export function startBackend(script: 'server' | 'worker', env: Record<string, string>, options: { logFile?: string; nodeArgs?: string[] } = {}): BackendProcess {
  const { logFile, nodeArgs = [] } = options;
  const stdio = logFile ? ['ignore', openSync(logFile, 'a'), openSync(logFile, 'a')] as const : ['ignore', 'pipe', 'pipe'] as const;
  const child = spawn(process.execPath, [...nodeArgs, ...backendNodeArgs(script)], {
    cwd: rootDir, env: { PATH: process.env.PATH, LOG_LEVEL: 'info', NODE_ENV: 'test', ...npmTestSettings(env), ...env }, stdio: [...stdio],
  });
  let output = '';
  child.stdout?.on('data', (chunk) => { output += chunk; });
  child.stderr?.on('data', (chunk) => { output += chunk; });
  const exited = once(child, 'exit').then(([code]) => code as number | null);
  return {
    pid: child.pid!,
    child,
    output: () => (logFile ? readFileSync(logFile, 'utf8') : output),
    async stop(signal: NodeJS.Signals = 'SIGTERM') {
      if (child.exitCode === null && child.signalCode === null) child.kill(signal);
      return exited;
    },
  };
}

/**
 * What npm test names for the processes of the suite: the trust anchors, and the staff passwords'
 * cost for a process in the test setting (one started as production keeps OWASP's, as it must).
 */
function npmTestSettings(env: Record<string, string>): Record<string, string> {
  const { JPKI_TRUST_ANCHORS, STAFF_PASSWORD_SCRYPT_N } = process.env;
  const testSetting = (env.NODE_ENV ?? 'test') === 'test';
  return { ...(JPKI_TRUST_ANCHORS ? { JPKI_TRUST_ANCHORS } : {}), ...(STAFF_PASSWORD_SCRYPT_N && testSetting ? { STAFF_PASSWORD_SCRYPT_N } : {}) };
}

/**
 * How long a server or worker may take to be ready: a ceiling. With two suites on 2 cores (load
 * ~30), two benchmarks' servers were still loading their modules after 60 s (not one line printed;
 * the first comes once they are loaded).
 */
export const READY_WITHIN_MS = 180_000;

/** The API server on `port`, once /readyz says ready; its last output is shown if it never gets there. */
export async function startServer(port: number, env: Record<string, string>, options: { logFile?: string; nodeArgs?: string[] } = {}): Promise<BackendProcess> {
  const server = startBackend('server', { ...env, HOST: '127.0.0.1', PORT: String(port) }, options);
  try {
    await waitFor('the API server to be ready', async () => {
      if (server.child.exitCode !== null) throw new Error(`the server exited with code ${server.child.exitCode}`);
      return (await fetch(`http://127.0.0.1:${port}/readyz`)).ok;
    }, READY_WITHIN_MS);
  } catch (error) {
    await server.stop();
    process.stderr.write(server.output().slice(-4000));
    throw error;
  }
  return server;
}

/** A Bull worker, once it says it is ready. */
export async function startWorker(env: Record<string, string>, options: { logFile?: string } = {}): Promise<BackendProcess> {
  const worker = startBackend('worker', env, options);
  try {
    await waitFor('the worker to be ready', async () => {
      if (worker.child.exitCode !== null) throw new Error(`the worker exited with code ${worker.child.exitCode}`);
      return worker.output().includes('worker ready');
    }, READY_WITHIN_MS);
  } catch (error) {
    await worker.stop('SIGKILL');
    process.stderr.write(worker.output().slice(-4000));
    throw error;
  }
  return worker;
}
