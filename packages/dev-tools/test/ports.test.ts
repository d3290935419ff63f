// Ports the tests pick for the servers they start: outside the kernel's ephemeral range (where
// any program's listen(0) or outgoing connection could take one before it is used) and never
// the same for two living processes of this machine.
import test from 'ava';
import { execFile } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import net from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { freePort } from '../src/ports.ts';

const ephemeralStart = Number(readFileSync('/proc/sys/net/ipv4/ip_local_port_range', 'utf8').trim().split(/\s+/)[0]);
const mark = (port: number) => join(tmpdir(), 'mykey-ports', String(port));

/** Runs a Node process that picks `count` ports, prints them and exits. */
async function pickInAnotherProcess(count: number): Promise<number[]> {
  const script = `import { freePort } from ${JSON.stringify(new URL('../src/ports.ts', import.meta.url).pathname)};
const ports = []; for (let i = 0; i < ${count}; i++) ports.push(await freePort()); console.log(JSON.stringify(ports));`;
  const { stdout } = await promisify(execFile)(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', script]);
  return JSON.parse(stdout) as number[];
}

test('a picked port is below the ephemeral range, free to listen on, and marked as this process\'s', async (t) => {
  const port = await freePort();
  t.true(port >= 20_000 && port < ephemeralStart, `${port} outside [20000, ${ephemeralStart})`);
  t.is(readFileSync(mark(port), 'utf8'), String(process.pid));
  const server = net.createServer().listen(port, '127.0.0.1');
  await new Promise((resolve, reject) => server.once('listening', resolve).once('error', reject));
  await new Promise((resolve) => server.close(resolve));
  t.pass();
});

test('another living process never picks a port this one holds; its own marks go when it exits', async (t) => {
  // 400 random picks on each side of ~12,800 ports would share about a dozen without the marks.
  const ours = new Set<number>();
  for (let i = 0; i < 400; i++) ours.add(await freePort());
  const theirs = await pickInAnotherProcess(400);
  t.is(theirs.length, 400);
  t.deepEqual(theirs.filter((port) => ours.has(port)), []);
  t.deepEqual(theirs.filter((port) => existsSync(mark(port))), [], 'the exited process left no mark');
});
