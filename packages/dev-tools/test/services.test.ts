// Stopping the servers the tests and `npm run cluster` start, as those servers answer a stop.
import test from 'ava';
import { execFile } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { freePort } from '../src/ports.ts';
import { portOpen, startDetached, stopRedis } from '../src/services.ts';
import { waitFor } from '../src/wait.ts';

const redisCli = async (port: number, ...args: string[]) => (await promisify(execFile)('redis-cli', ['-p', String(port), ...args])).stdout;

function startRedis(dir: string, port: number, extra: string[]) {
  const child = startDetached('redis-server', ['--port', String(port), '--bind', '127.0.0.1', '--dir', dir,
    '--appendonly', 'yes', '--save', '', '--daemonize', 'no', ...extra], path.join(dir, 'redis.log'));
  return child.pid!;
}

test('a Redis replica writing its first append-only file after a full sync, which refuses to exit, is stopped once it has written it', async (t) => {
  const dir = mkdtempSync(path.join(tmpdir(), 'mykey-redis-stop-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const [masterDir, replicaDir] = ['master', 'replica'].map((name) => mkdtempSync(path.join(dir, name)));
  const [masterPort, replicaPort] = [await freePort(), await freePort()];
  const master = startRedis(masterDir!, masterPort, []);
  t.teardown(() => stopRedis(master, 'Redis master'));
  await waitFor('the master to listen', () => portOpen(masterPort));
  await redisCli(masterPort, 'MSET', ...Array.from({ length: 30 }, (_, i) => [`k${i}`, `v${i}`]).flat());
  // A tenth of a second per key makes the replica's rewrite of its loaded data last 3 s.
  const replica = startRedis(replicaDir!, replicaPort, ['--replicaof', '127.0.0.1', String(masterPort), '--rdb-key-save-delay', '100000']);
  // Should the stop fail, the replica is not left running.
  t.teardown(() => { try { process.kill(replica, 'SIGKILL'); } catch { /* gone, as it should be */ } });
  await waitFor('the replica to rewrite its append-only file', async () =>
    (await redisCli(replicaPort, 'INFO', 'persistence').catch(() => '')).includes('aof_rewrite_in_progress:1'));

  await stopRedis(replica, 'Redis replica');

  const log = readFileSync(path.join(replicaDir!, 'redis.log'), 'utf8');
  t.regex(log, /Writing initial AOF, can't exit/, 'the first SIGTERM came during the rewrite and was refused');
  t.regex(log, /ready to exit, bye bye/);
  t.throws(() => process.kill(replica, 0), { code: 'ESRCH' });
});
