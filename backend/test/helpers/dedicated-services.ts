// A MariaDB and a Redis of one test file's own, on free ports with their data under
// .data/test/dedicated-*/, for tests that kill or restart them: every other test file shares
// the suite's pair (3417/6390), which must never go down under it. Started the way `npm start`
// starts its own (@mykey/dev-tools/services.ts); stopped and deleted when the file ends.
import { randomBytes } from 'node:crypto';
import { existsSync, readFileSync, rmSync } from 'node:fs';
import path from 'node:path';
import { dataDir } from '@mykey/dev-tools/paths.ts';
import { freePort } from '@mykey/dev-tools/ports.ts';
import { localMariaDb, localRedis, type LocalServer, type Profile } from '@mykey/dev-tools/services.ts';
import { migrateAndSeed } from '../../src/database-admin.ts';
import { waitFor } from '@mykey/dev-tools/wait.ts';
import type { Cleanup } from './env.ts';

export interface DedicatedServices {
  /** The `mykey` database on the dedicated MariaDB, migrated (not seeded). */
  databaseUrl: string;
  redisUrl: string;
  /** kill -9 MariaDB, then start it again on the same data: InnoDB recovers what was committed. */
  crashMariaDb(): Promise<void>;
  /** kill -9 Redis and (with `loseData`) delete its data before starting it again: every queued job is gone. */
  crashRedis(options: { loseData: boolean }): Promise<void>;
  /** What MariaDB has logged so far (its crash recovery among it), for a failing test to show. */
  mariaDbLog(): string;
}

/** kill -9 the server whose pid file this is, and wait until it is gone. */
async function kill9(pidFile: string, what: string): Promise<void> {
  const pid = Number(readFileSync(pidFile, 'utf8').trim());
  process.kill(pid, 'SIGKILL');
  await waitFor(`${what} (pid ${pid}) to die`, async () => {
    try { process.kill(pid, 0); return false; } catch { return true; }
  }, 30_000);
}

export async function dedicatedServices(cleanup: Cleanup): Promise<DedicatedServices> {
  const profile: Profile = { dataDir: path.join(dataDir, 'test', `dedicated-${randomBytes(4).toString('hex')}`), mariadbPort: await freePort(), redisPort: await freePort() };
  const running: { mariadb?: LocalServer; redis?: LocalServer } = {};
  cleanup(async () => {
    await Promise.allSettled([running.mariadb?.stop(), running.redis?.stop()]);
    rmSync(profile.dataDir, { recursive: true, force: true });
  });
  [running.mariadb, running.redis] = await Promise.all([localMariaDb(profile), localRedis(profile)]);
  const databaseUrl = running.mariadb.url;
  await migrateAndSeed(databaseUrl, { seed: false });
  return {
    databaseUrl,
    redisUrl: running.redis.url,
    async crashMariaDb() {
      await kill9(path.join(profile.dataDir, 'mariadb', 'mariadbd.pid'), 'MariaDB');
      running.mariadb = await localMariaDb(profile);
    },
    mariaDbLog: () => readFileSync(path.join(profile.dataDir, 'mariadb', 'mariadbd.log'), 'utf8'),
    async crashRedis({ loseData }) {
      const dir = path.join(profile.dataDir, 'redis');
      await kill9(path.join(dir, 'redis.pid'), 'Redis');
      if (loseData) {
        for (const file of ['appendonlydir', 'dump.rdb']) if (existsSync(path.join(dir, file))) rmSync(path.join(dir, file), { recursive: true, force: true });
      }
      running.redis = await localRedis(profile);
    },
  };
}
