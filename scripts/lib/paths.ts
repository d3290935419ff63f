import path from 'node:path';
import { fileURLToPath } from 'node:url';

/** The repository root, whatever the current directory. */
export const rootDir = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');

/** Where local services keep their data; git-ignored. Defined by the backend, which looks there in production too. */
export { dataDir } from '../../backend/src/data-dir.ts';
