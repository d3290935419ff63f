import { chmodSync, closeSync, mkdirSync, openSync, readFileSync, unlinkSync, writeSync } from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';

/**
 * Ports are picked from here up to the kernel's first ephemeral port. Inside the ephemeral range
 * any program's listen(0) or outgoing connection may take a port between its pick and its use: a
 * Galera node started a minute after its ports were picked once found one so taken.
 */
const FIRST_PORT = 20_000;

/** Where the ports this machine's processes have picked are marked, one file per port holding the picker's pid. */
const RESERVED_DIR = path.join(os.tmpdir(), 'mykey-ports');

/** The ports this process has marked. */
const kept = new Set<number>();
let prepared = false;

/** The first port of the kernel's ephemeral range (Linux's default when it cannot be read). */
const EPHEMERAL_START = (() => {
  try {
    return Number(readFileSync('/proc/sys/net/ipv4/ip_local_port_range', 'utf8').trim().split(/\s+/)[0]);
  } catch {
    return 32_768;
  }
})();

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/** Marks `port` as this process's; false when a living process marked it first. */
function reserve(port: number): boolean {
  const file = path.join(RESERVED_DIR, String(port));
  try {
    const fd = openSync(file, 'wx');
    writeSync(fd, String(process.pid));
    closeSync(fd);
    return true;
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error;
    const owner = Number(readFileSync(file, 'utf8'));
    if (!owner || alive(owner)) return false;
    unlinkSync(file);
    return reserve(port);
  }
}

function listenable(port: number): Promise<boolean> {
  const server = net.createServer();
  return new Promise((resolve) => {
    server.once('error', () => resolve(false));
    server.listen(port, '127.0.0.1', () => server.close(() => resolve(true)));
  });
}

function releaseAll(): void {
  for (const port of kept) {
    try {
      unlinkSync(path.join(RESERVED_DIR, String(port)));
    } catch {
      // Already gone: a later picker found this process dead and took the mark.
    }
  }
}

function prepare(): void {
  prepared = true;
  mkdirSync(RESERVED_DIR, { recursive: true });
  // Shared by every user's tests, as /tmp is.
  try { chmodSync(RESERVED_DIR, 0o1777); } catch { /* made by another user, who set it */ }
  process.once('exit', releaseAll);
}

/**
 * A loopback TCP port that is free and stays this process's to use: outside the ephemeral range,
 * so no program is handed it by the kernel, and marked so that no other process of ours picks it
 * while this one lives (the mark goes when the process exits).
 */
export async function freePort(): Promise<number> {
  if (!prepared) prepare();
  const end = EPHEMERAL_START;
  if (end - FIRST_PORT < 1_000) throw new Error(`The ephemeral port range starts at ${end}: tests need ports ${FIRST_PORT}–${FIRST_PORT + 1_000} outside it (net.ipv4.ip_local_port_range).`);
  for (let attempt = 0; attempt < 1_000; attempt++) {
    const port = FIRST_PORT + Math.floor(Math.random() * (end - FIRST_PORT));
    if (kept.has(port) || !reserve(port)) continue;
    kept.add(port);
    if (await listenable(port)) return port;
  }
  throw new Error(`No free port between ${FIRST_PORT} and ${end} after 1,000 tries.`);
}
