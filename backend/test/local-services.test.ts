// The MariaDB the project starts for itself (`npm start`, the suite, a test's dedicated one).
import test from 'ava';
import { readdirSync } from 'node:fs';
import path from 'node:path';
import { dataDir } from '@mykey/dev-tools/paths.ts';
import { dedicatedServices } from './helpers/dedicated-services.ts';
import { fileFixture, testPool } from './helpers/env.ts';

const setup = fileFixture(test, async (cleanup) => {
  const services = await dedicatedServices(cleanup);
  const db = testPool(services.databaseUrl);
  cleanup(() => db.destroy());
  return db;
});

// Temporary tables are files named by the server's pid, a thread and a counter. In /tmp, shared
// with every other server on the machine (in other containers a pid can be the same), a file of
// this server's was gone when it came to delete it: 'Error on delete of /tmp/#sql-temptable-…'
// failed an information_schema query in CI.
test('a MariaDB started by the project keeps its temporary tables in a folder of its own', async (t) => {
  const db = await setup();
  await db.transaction(async (trx) => {
    const [[{ tmpdir }]] = await trx.raw('SELECT @@tmpdir AS tmpdir');
    t.true(path.resolve(tmpdir).startsWith(path.join(dataDir, 'test') + path.sep), tmpdir);
    await trx.raw('CREATE TEMPORARY TABLE scratch (n INT) ENGINE=Aria');
    t.true(readdirSync(tmpdir).some((name) => name.startsWith('#sql')), 'the temporary table is a file in that folder');
    await trx.raw('DROP TEMPORARY TABLE scratch');
  });
});
