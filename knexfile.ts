// For the knex CLI (run it under tsx: `NODE_OPTIONS=--import=tsx npx knex migrate:status`).
// The platform itself migrates through `npm run db:migrate` and at `npm start`.
import { knexConfig } from '@mykey/backend/db.ts';

const url = process.env.DATABASE_URL;
if (!url) throw new Error('DATABASE_URL is not set: the knex CLI needs a mysql:// URL in DATABASE_URL.');

export default knexConfig(url);
