import path from 'node:path';
import { fileURLToPath } from 'node:url';

/** The repository root, whatever the current directory. */
export const rootDir = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');

/** Where local services keep their data; git-ignored. */
export const dataDir = path.resolve(process.env.MYKEY_DATA_DIR ?? path.join(rootDir, '.data'));
