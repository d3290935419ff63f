// The development tools' places on this machine.
import path from 'node:path';
import { fileURLToPath } from 'node:url';

/** The repository root, whatever the current directory. */
export const rootDir = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..', '..');

/** Where local services keep their data; git-ignored. A contract: production looks there too, to refuse what development left. */
export { dataDir, DEV_CA_DIR, devCaFiles, type DevCaFiles } from '@mykey/contracts/local-data.ts';
