// A private PC/SC stack for one test file: pcscd with only the vpcd reader, and the card
// simulator (its CLI, as a child process) plugged into it.
//
// Test files run in parallel, so every stack must be private. Two things make that work:
// - the vpcd driver listens on a TCP port named in reader.conf ("DEVICENAME /dev/null:0x<port>";
//   it also takes port+1 for a second slot), and `pcscd --config <file>` loads only that file;
// - pcscd 1.9.9 (Debian 12) ignores PCSCLITE_CSOCK_NAME and always creates
//   /run/pcscd/pcscd.comm (and deletes /run/pcscd's files on exit). So pcscd runs in its own
//   mount namespace (unshare) where /run is a fresh tmpfs and /run/pcscd is a bind mount of
//   this stack's directory. The socket file then appears in that directory, where clients
//   (libpcsclite honours PCSCLITE_CSOCK_NAME) find it.
import { spawn, execFile, type ChildProcess } from 'node:child_process';
import { closeSync, existsSync, mkdirSync, mkdtempSync, openSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { setTimeout as sleep } from 'node:timers/promises';
import { ensureDebianPackages, VIRTUAL_READER_PACKAGES } from '@mykey/dev-tools/debian.mjs';
import type { LogRecord } from '../../src/simulator/apdu-log.ts';
import { READY_WITHIN_MS } from '@mykey/backend/test/helpers/processes.ts';

const REPO_ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '../../..');
const SIMULATOR_CLI = join(REPO_ROOT, 'reader-agent/src/simulator/cli.ts');
const VPCD_DRIVER = '/usr/lib/pcsc/drivers/serial/libifdvpcd.so';

/** The reader pcscd shows for vpcd's first slot, the one the simulator connects to. */
export const READER_NAME = 'Virtual PCD 00 00';
export const OPENSC_PKCS11 = '/usr/lib/x86_64-linux-gnu/opensc-pkcs11.so';

export function ensureStackPackages(): void {
  ensureDebianPackages([
    ...VIRTUAL_READER_PACKAGES,
    { pkg: 'opensc', provides: 'opensc-tool' },
    // Tests check OpenSC's signatures with an independent verifier.
    { pkg: 'openssl', provides: 'openssl' },
  ]);
}

export interface StackOptions {
  /** Extra simulator CLI arguments, e.g. ['--pin', '4321', '--latency-ms', '5']. */
  simulatorArgs?: string[];
  /** Start with the card in the reader (default true). */
  inserted?: boolean;
}

export interface RunResult {
  code: number;
  stdout: string;
  stderr: string;
}

export interface PcscStack {
  dir: string;
  /** Environment for PC/SC clients: points PCSCLITE_CSOCK_NAME at this stack's pcscd. */
  env: NodeJS.ProcessEnv;
  socketPath: string;
  vpcdPort: number;
  /** PEM files the card holds: auth-cert.pem, auth-key.pem, auth-ca.pem. */
  identityDir: string;
  certificatePem: string;
  insertCard(): Promise<void>;
  removeCard(): Promise<void>;
  /**
   * Stops pcscd (the reader vanishes for every client; the simulator keeps retrying vpcd).
   * Resolves once the daemon has exited.
   */
  stopPcscd(): Promise<void>;
  /**
   * Starts pcscd again (stopping it first if it runs) on the same vpcd port and socket
   * directory, so clients holding `env` and the still-running simulator find it again.
   * Resolves when the simulator's card is back in the reader (unless it was removed).
   */
  restartPcscd(): Promise<void>;
  apduLog(): LogRecord[];
  /** The user-authentication PIN's tries left, as the simulated card's EEPROM holds them (asked of the simulator, not through PC/SC). */
  pinTriesLeft(): Promise<number>;
  /**
   * The APDU log as text with the card's responses left out. A PIN only ever travels in
   * commands; responses (random certificates, their UTCTime digits, signatures) hold any
   * four digits by chance now and then, so a leak check must look at commands alone.
   */
  sentToCard(): string;
  /** Runs a program (async, so the event loop stays free) with this stack's environment. */
  run(command: string, args: string[]): Promise<RunResult>;
  stop(): Promise<void>;
}

export async function startPcscStack(options: StackOptions = {}): Promise<PcscStack> {
  ensureStackPackages();
  const dir = mkdtempSync(join(tmpdir(), 'pcsc-stack-'));
  const daemon = await startPcscdWithRetries(dir);
  const simulator = startSimulator(dir, daemon.port, options);
  const stack = buildStack(dir, daemon, simulator, options.inserted ?? true);
  try {
    // A start-up, as a server's: with every test file's stack starting at once beside another
    // suite (load ~17), a card was not yet in its reader after 60 s.
    if (options.inserted ?? true) await daemon.waitForLog(`Card inserted into ${READER_NAME}`, 1, READY_WITHIN_MS);
    else await simulator.waitFor('ready', 1, READY_WITHIN_MS);
  } catch (error) {
    await stack.stop();
    throw new Error(`${(error as Error).message}; the simulator said:\n${simulator.output()}`);
  }
  return stack;
}

interface Daemon {
  child: ChildProcess;
  port: number;
  runDir: string;
  socketPath: string;
  logPath: string;
  waitForLog(text: string, occurrence: number, timeoutMs?: number): Promise<void>;
  count(text: string): number;
}

interface Simulator {
  child: ChildProcess;
  waitFor(text: string, occurrence: number, timeoutMs?: number): Promise<void>;
  count(text: string): number;
  output(): string;
}

/** Two adjacent free ports (vpcd opens port and port+1); another process may still race us. */
async function freePortPair(): Promise<number> {
  for (;;) {
    const port = await listenAndRelease(0);
    if (port < 65535 && (await listenAndRelease(port + 1).catch(() => 0)) === port + 1) return port;
  }
}

function listenAndRelease(port: number): Promise<number> {
  return new Promise((done, fail) => {
    const server = createServer();
    server.once('error', fail);
    server.listen(port, '0.0.0.0', () => {
      const address = server.address();
      server.close(() => done(typeof address === 'object' && address ? address.port : 0));
    });
  });
}

async function startPcscdWithRetries(dir: string): Promise<Daemon> {
  for (let attempt = 1; ; attempt++) {
    const runDir = join(dir, `run-${attempt}`);
    mkdirSync(runDir);
    const daemon = startPcscd(dir, runDir, await freePortPair(), `${attempt}`);
    await daemon.waitForLog('daemon ready', 1);
    // vpcd could not bind its port: another process took it between our check and now.
    if (daemon.count('Could not initialize connection to virtual ICC') === 0) return daemon;
    await stopChild(daemon.child);
    if (attempt === 3) throw new Error(`vpcd could not listen; see ${daemon.logPath}`);
  }
}

/** `runDir` becomes /run/pcscd inside pcscd's namespace; `tag` names its log file. */
function startPcscd(dir: string, runDir: string, port: number, tag: string): Daemon {
  const conf = join(dir, 'reader.conf');
  const hexPort = `0x${port.toString(16).toUpperCase()}`;
  writeFileSync(conf, `FRIENDLYNAME "Virtual PCD"\nDEVICENAME /dev/null:${hexPort}\nLIBPATH ${VPCD_DRIVER}\n`);
  const logPath = join(dir, `pcscd-${tag}.log`);
  const out = openSync(logPath, 'w');
  // "$1" and "$2" keep the paths out of the shell's parsing.
  const script = 'mount -t tmpfs pcsc-stack /run && mkdir /run/pcscd && mount --bind "$1" /run/pcscd && exec pcscd --foreground --info --config "$2"';
  const namespace = process.getuid?.() === 0 ? ['--mount'] : ['--user', '--map-root-user', '--mount'];
  const child = spawn('unshare', [...namespace, 'sh', '-c', script, 'sh', runDir, conf], { stdio: ['ignore', out, out] });
  closeSync(out);
  const read = (): string => (existsSync(logPath) ? readFileSync(logPath, 'utf8') : '');
  const count = (text: string): number => read().split(text).length - 1;
  const waitForLog = (text: string, occurrence: number, timeoutMs?: number): Promise<void> =>
    waitUntil(() => count(text) >= occurrence, child, `pcscd log line "${text}" (${logPath})`, timeoutMs);
  return { child, port, runDir, socketPath: join(runDir, 'pcscd.comm'), logPath, waitForLog, count };
}

function startSimulator(dir: string, port: number, options: StackOptions): Simulator {
  const args = [
    '--import',
    'tsx',
    SIMULATOR_CLI,
    '--vpcd',
    `127.0.0.1:${port}`,
    '--apdu-log',
    join(dir, 'apdu.jsonl'),
    '--save-identity',
    join(dir, 'identity'),
    ...(options.inserted === false ? ['--removed'] : []),
    ...(options.simulatorArgs ?? []),
  ];
  const child = spawn(process.execPath, args, { cwd: REPO_ROOT, stdio: ['pipe', 'ignore', 'pipe'] });
  let stderr = '';
  child.stderr?.setEncoding('utf8').on('data', (text: string) => {
    stderr += text;
  });
  const count = (text: string): number => stderr.split(text).length - 1;
  const waitFor = (text: string, occurrence: number, timeoutMs?: number): Promise<void> =>
    waitUntil(() => count(text) >= occurrence, child, `simulator output "${text}"; so far:\n${stderr}`, timeoutMs);
  return { child, waitFor, count, output: () => stderr };
}

function buildStack(dir: string, firstDaemon: Daemon, simulator: Simulator, inserted: boolean): PcscStack {
  // Replaced by restartPcscd(); everything below reads the current one.
  let daemon = firstDaemon;
  let restarts = 0;
  let cardIn = inserted;
  const env = { ...process.env, PCSCLITE_CSOCK_NAME: daemon.socketPath };
  const identityDir = join(dir, 'identity');
  let stopped = false;
  const killOnExit = (): void => {
    simulator.child.kill('SIGKILL');
    daemon.child.kill('SIGTERM');
  };
  process.once('exit', killOnExit);
  return {
    dir,
    env,
    socketPath: daemon.socketPath,
    vpcdPort: daemon.port,
    identityDir,
    get certificatePem() {
      return readFileSync(join(identityDir, 'auth-cert.pem'), 'utf8');
    },
    async insertCard() {
      const seen = daemon.count(`Card inserted into ${READER_NAME}`);
      simulator.child.stdin?.write('i');
      cardIn = true;
      await daemon.waitForLog(`Card inserted into ${READER_NAME}`, seen + 1);
    },
    async removeCard() {
      const seen = daemon.count(`Card Removed From ${READER_NAME}`);
      simulator.child.stdin?.write('r');
      cardIn = false;
      await daemon.waitForLog(`Card Removed From ${READER_NAME}`, seen + 1);
    },
    async stopPcscd() {
      await stopChild(daemon.child);
    },
    async restartPcscd() {
      await stopChild(daemon.child);
      restarts += 1;
      // Same port: the simulator only knows that one. Same run directory: clients find the
      // socket where PCSCLITE_CSOCK_NAME says. The old pcscd removed its files there on exit.
      daemon = startPcscd(dir, daemon.runDir, daemon.port, `restart-${restarts}`);
      await daemon.waitForLog('daemon ready', 1);
      if (daemon.count('Could not initialize connection to virtual ICC') > 0) {
        throw new Error(`vpcd could not listen on port ${daemon.port} again (another process took it); see ${daemon.logPath}`);
      }
      // The simulator retries vpcd every 250 ms while its card is "in" the reader. If it gets
      // in while pcscd is still starting, pcscd finds the card already there and logs only
      // its ATR, without "Card inserted"; the ATR line comes in both cases.
      if (!cardIn) return;
      await daemon.waitForLog('Card ATR:', 1);
    },
    apduLog() {
      const text = readFileSync(join(dir, 'apdu.jsonl'), 'utf8');
      return text.split('\n').filter(Boolean).map((line) => JSON.parse(line) as LogRecord);
    },
    async pinTriesLeft() {
      const line = 'auth PIN tries left';
      const seen = simulator.count(line);
      simulator.child.stdin?.write('s');
      await simulator.waitFor(line, seen + 1);
      return Number([...simulator.output().matchAll(/auth PIN tries left (\d+)/g)].at(-1)![1]);
    },
    sentToCard() {
      return JSON.stringify(this.apduLog().map((r) => (r.type === 'apdu' ? { ...r, response: '' } : r)));
    },
    run: (command, args) => runProgram(command, args, env),
    async stop() {
      if (stopped) return;
      stopped = true;
      process.removeListener('exit', killOnExit);
      await Promise.all([stopChild(simulator.child), stopChild(daemon.child)]);
      if (!process.env.KEEP_PCSC_STACK) rmSync(dir, { recursive: true, force: true });
    },
  };
}

// Generous: a simulator mints four RSA-2048 keys at start, and with every test file's stack
// starting at once on a small, busy machine that alone has taken over 20 s. The bound only
// says how long a broken stack hangs before its test fails.
async function waitUntil(done: () => boolean, child: ChildProcess, what: string, timeoutMs = 60_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!done()) {
    if (child.exitCode !== null || child.signalCode !== null) throw new Error(`process exited while waiting for ${what}`);
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await sleep(50);
  }
}

/** SIGTERM, then SIGKILL if the process has not gone within 5 s. */
async function stopChild(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise<void>((done) => child.once('exit', () => done()));
  child.kill('SIGTERM');
  const timer = setTimeout(() => child.kill('SIGKILL'), 5000);
  await exited;
  clearTimeout(timer);
}

function runProgram(command: string, args: string[], env: NodeJS.ProcessEnv): Promise<RunResult> {
  return new Promise((done) => {
    execFile(command, args, { env, encoding: 'utf8', timeout: 60_000 }, (error, stdout, stderr) => {
      const code = error ? (typeof error.code === 'number' ? error.code : 1) : 0;
      done({ code, stdout, stderr });
    });
  });
}
