import path from 'node:path';
import { fileURLToPath } from 'node:url';

const repoRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');

/**
 * Where development keeps its local data, git-ignored: the MariaDB and Redis of `npm start` and
 * `npm test`, the development CA, an old development secret. `.data/` unless MYKEY_DATA_DIR says
 * otherwise. Production keeps nothing there; it only looks, to refuse what development left.
 */
export const dataDir = path.resolve(process.env.MYKEY_DATA_DIR ?? path.join(repoRoot, '.data'));
