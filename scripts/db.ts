// `npm run db:migrate` and `npm run db:seed` against DATABASE_URL or the local MariaDB.
import { provideServices } from '@mykey/dev-tools/services.ts';
import { migrateAndSeed } from '@mykey/backend/database-admin.ts';

const command = process.argv[2];
if (command !== 'migrate' && command !== 'seed') {
  console.error('usage: scripts/db.ts migrate|seed');
  process.exit(2);
}
const services = await provideServices();
try {
  await migrateAndSeed(services.databaseUrl, { seed: command === 'seed' });
} finally {
  await services.stop();
}
