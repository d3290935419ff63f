// Provides MySQL and Redis to `npm start` and `npm test`: the ones named by DATABASE_URL
// and REDIS_URL when set, otherwise a project-local MariaDB and Redis on loopback with
// their data under .data/. A server already started by another run (its pid file is
// alive) is reused and left running; one started here is stopped by `stop()`.
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { existsSync, mkdirSync, openSync, readFileSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { dataDir } from './paths.ts';
import { ensureDebianPackages } from './debian.mjs';
import { waitFor } from './wait.ts';

export interface Services {
  databaseUrl: string;
  redisUrl: string;
  /** Stops the servers this run started; data stays on disk. */
  stop(): Promise<void>;
}

function port(variable: string, fallback: number): number {
  const value = Number(process.env[variable] ?? fallback);
  if (!Number.isInteger(value) || value < 1 || value > 65535) {
    throw new Error(`${variable} must be a TCP port number, got "${process.env[variable]}"`);
  }
  return value;
}

const LOCAL_DB = { user: 'mykey', password: 'mykey', database: 'mykey' };

/**
 * Where local services live. `npm test` has its own (ports and folder), so a test run can
 * never stop or fill the MariaDB and Redis that `npm start` is using, nor they it.
 */
export interface Profile { dataDir: string; mariadbPort: number; redisPort: number }

export const START_PROFILE: Profile = {
  dataDir,
  mariadbPort: port('MYKEY_MARIADB_PORT', 3407),
  redisPort: port('MYKEY_REDIS_PORT', 6380),
};

export const TEST_PROFILE: Profile = {
  dataDir: path.join(dataDir, 'test'),
  mariadbPort: port('MYKEY_TEST_MARIADB_PORT', 3417),
  redisPort: port('MYKEY_TEST_REDIS_PORT', 6390),
};

export function alivePid(pidFile: string): number | undefined {
  if (!existsSync(pidFile)) return undefined;
  const pid = Number(readFileSync(pidFile, 'utf8').trim());
  try {
    process.kill(pid, 0);
    return pid;
  } catch {
    return undefined;
  }
}

export function portOpen(portNumber: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = net.connect(portNumber, '127.0.0.1');
    socket.once('connect', () => { socket.destroy(); resolve(true); });
    socket.once('error', () => resolve(false));
  });
}

/** Starts a server detached (own process group) so Ctrl-C reaches only the orchestrator, which stops it in order. */
export function startDetached(command: string, args: string[], logFile: string): ChildProcess {
  const log = openSync(logFile, 'a');
  const child = spawn(command, args, { detached: true, stdio: ['ignore', log, log] });
  child.unref();
  return child;
}

export async function stopPid(pid: number, what: string, signal: NodeJS.Signals = 'SIGTERM'): Promise<void> {
  await signalUntilGone(pid, what, signal, Infinity);
}

/**
 * Stops a Redis server with SIGTERM, sent again every second while it runs: a replica writing its
 * first append-only file after a full sync refuses to exit ("Writing initial AOF, can't exit") and
 * forgets the signal. Once the file is written the next signal stops it, nothing lost.
 */
export async function stopRedis(pid: number, what: string): Promise<void> {
  await signalUntilGone(pid, what, 'SIGTERM', 1000);
}

/** Sends `signal`, again every `resendEveryMs` while the process lives; resolves when it is gone, throws after 60 s. */
async function signalUntilGone(pid: number, what: string, signal: NodeJS.Signals, resendEveryMs: number): Promise<void> {
  let sentAt = -Infinity;
  await waitFor(`${what} (pid ${pid}) to stop`, async () => {
    try {
      if (Date.now() - sentAt >= resendEveryMs) {
        process.kill(pid, signal);
        sentAt = Date.now();
      } else {
        process.kill(pid, 0);
      }
      return false;
    } catch {
      return true;
    }
  }, 60_000);
}

export interface LocalServer { url: string; stop(): Promise<void> }

export async function localMariaDb(profile: Profile): Promise<LocalServer> {
  const dbPort = profile.mariadbPort;
  const url = mariadbUrl(dbPort);
  const dir = path.join(profile.dataDir, 'mariadb');
  const pidFile = path.join(dir, 'mariadbd.pid');
  if (alivePid(pidFile)) return { url, stop: async () => {} };
  if (await portOpen(dbPort)) {
    throw new Error(`Port ${dbPort} is taken by another program; set DATABASE_URL, or choose another port (docs/operations.md).`);
  }
  const child = startDetached('mariadbd', mariadbArgs(dir, dbPort, { initFile: true }), path.join(dir, 'mariadbd.log'));
  console.log(`[services] starting MariaDB on 127.0.0.1:${dbPort} (log: ${path.join(dir, 'mariadbd.log')})`);
  await waitFor('MariaDB to accept connections', async () => (await portOpen(dbPort)) && alivePid(pidFile));
  const pid = child.pid!;
  return { url, stop: () => stopPid(pid, 'MariaDB') };
}

/** The application's URL on a local MariaDB (the user and database init.sql makes). */
export function mariadbUrl(dbPort: number): string {
  return `mysql://${LOCAL_DB.user}:${LOCAL_DB.password}@127.0.0.1:${dbPort}/${LOCAL_DB.database}`;
}

/**
 * A local MariaDB's command line, its data folder under `dir` made when missing. `initFile`:
 * make the application user and database at every start (a Galera node that joins gets them from
 * the cluster instead). `rootAs`: the account root runs the server as (root unless told).
 */
export function mariadbArgs(dir: string, dbPort: number, options: { initFile: boolean; rootAs?: string }): string[] {
  const files = path.join(dir, 'data');
  const asRoot = process.getuid?.() === 0;
  // mariadbd refuses to run as root unless told to; a non-root user runs it as themselves.
  const user = asRoot ? [`--user=${options.rootAs ?? 'root'}`] : [];
  // Temporary tables are files named by pid, thread and counter: in a /tmp shared with servers in
  // other containers, whose pids can coincide, one server deleted another's (CI, 'Error on delete').
  // mariadb-install-db's bootstrap server makes them too (two suites at once: 'Error on delete').
  const tmp = path.join(dir, 'tmp');
  mkdirSync(tmp, { recursive: true });
  // Started by root as another account (a Galera node), the servers write their temporary files as it.
  if (asRoot && options.rootAs) spawnSync('chown', [`${options.rootAs}:`, tmp]);
  if (!existsSync(path.join(files, 'mysql'))) {
    mkdirSync(files, { recursive: true });
    console.log(`[services] creating a MariaDB data folder in ${files}`);
    const init = spawnSync('mariadb-install-db', ['--no-defaults', `--datadir=${files}`, `--tmpdir=${tmp}`,
      '--auth-root-authentication-method=normal', '--skip-test-db', ...user], { encoding: 'utf8' });
    if (init.status !== 0) throw new Error(`mariadb-install-db failed:\n${init.stderr}`);
  }
  const initSql = path.join(dir, 'init.sql');
  // Runs at every start: the application user and database exist however the folder was made.
  if (options.initFile) {
    writeFileSync(initSql, [
      `CREATE USER IF NOT EXISTS '${LOCAL_DB.user}'@'127.0.0.1' IDENTIFIED BY '${LOCAL_DB.password}';`,
      `GRANT ALL PRIVILEGES ON *.* TO '${LOCAL_DB.user}'@'127.0.0.1';`,
      `CREATE DATABASE IF NOT EXISTS ${LOCAL_DB.database} CHARACTER SET utf8mb4 COLLATE utf8mb4_bin;`,
    ].join('\n'));
  }
  return ['--no-defaults', `--datadir=${files}`, `--port=${dbPort}`,
    '--bind-address=127.0.0.1', `--socket=${path.join(dir, 'mariadbd.sock')}`, `--pid-file=${path.join(dir, 'mariadbd.pid')}`, `--tmpdir=${tmp}`,
    ...(options.initFile ? [`--init-file=${initSql}`] : []), '--skip-name-resolve', '--max-connections=1000',
    '--innodb-buffer-pool-size=256M', '--character-set-server=utf8mb4', '--collation-server=utf8mb4_bin',
    // A national CRL runs to tens of MB and is stored in one statement (docs/operations.md).
    '--max-allowed-packet=256M',
    // MariaDB drops a client that has not answered its greeting within 10 s; a test process
    // held busy that long on a loaded machine then saw its handshake reset (ECONNRESET).
    '--connect-timeout=60',
    ...user];
}

export async function localRedis(profile: Profile): Promise<LocalServer> {
  const redisPort = profile.redisPort;
  const url = `redis://127.0.0.1:${redisPort}`;
  const dir = path.join(profile.dataDir, 'redis');
  const pidFile = path.join(dir, 'redis.pid');
  if (alivePid(pidFile)) return { url, stop: async () => {} };
  if (await portOpen(redisPort)) {
    throw new Error(`Port ${redisPort} is taken by another program; set REDIS_URL, or choose another port (docs/operations.md).`);
  }
  mkdirSync(dir, { recursive: true });
  // Append-only file: queued jobs survive a restart of Redis (the ledger never depends on it).
  const child = startDetached('redis-server', ['--port', String(redisPort), '--bind', '127.0.0.1',
    '--dir', dir, '--pidfile', pidFile, '--appendonly', 'yes', '--save', '', '--daemonize', 'no'],
  path.join(dir, 'redis.log'));
  console.log(`[services] starting Redis on 127.0.0.1:${redisPort}`);
  await waitFor('Redis to accept connections', async () => (await portOpen(redisPort)) && alivePid(pidFile));
  const pid = child.pid!;
  return { url, stop: () => stopRedis(pid, 'Redis') };
}

async function external(url: string): Promise<LocalServer> {
  return { url, stop: async () => {} };
}

export async function provideServices(profile: Profile = START_PROFILE): Promise<Services> {
  // Installed one after the other up front: apt cannot run twice at once.
  ensureDebianPackages([
    ...(process.env.DATABASE_URL ? [] : [{ pkg: 'mariadb-server', provides: 'mariadbd' }]),
    ...(process.env.REDIS_URL ? [] : [{ pkg: 'redis-server', provides: 'redis-server' }]),
  ]);
  const [db, redis] = await Promise.all([
    process.env.DATABASE_URL ? external(process.env.DATABASE_URL) : localMariaDb(profile),
    process.env.REDIS_URL ? external(process.env.REDIS_URL) : localRedis(profile),
  ]);
  return {
    databaseUrl: db.url,
    redisUrl: redis.url,
    stop: async () => { await Promise.all([redis.stop(), db.stop()]); },
  };
}

/** For a command that needs only the database: DATABASE_URL, else the local MariaDB of `npm start`. */
export async function withDatabase<T>(work: (databaseUrl: string) => Promise<T>): Promise<T> {
  if (process.env.DATABASE_URL) return work(process.env.DATABASE_URL);
  const services = await provideServices();
  try {
    return await work(services.databaseUrl);
  } finally {
    await services.stop();
  }
}
