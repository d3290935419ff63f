// Installs the Debian packages the platform runs on, so that a fresh machine needs nothing
// by hand. Only root may install; anyone else is told the exact command. Plain JavaScript
// because scripts/bootstrap.mjs needs it before npm dependencies (and tsx) exist.
import { execFileSync, spawnSync } from 'node:child_process';

/** @param {string} file a command on PATH or an absolute path */
function present(file) {
  return spawnSync('sh', ['-c', `command -v ${file} || test -e ${file}`], { stdio: 'ignore' }).status === 0;
}

/** @param {string[]} pkgs */
function aptInstall(pkgs) {
  const env = { ...process.env, DEBIAN_FRONTEND: 'noninteractive' };
  const args = ['install', '-y', '--no-install-recommends', ...pkgs];
  return spawnSync('apt-get', args, { stdio: 'inherit', env }).status === 0;
}

/**
 * Ensures every package is installed; throws with the command to run when it cannot.
 * @param {Array<{ pkg: string, provides: string }>} needed `provides`: a file proving the package is there
 */
export function ensureDebianPackages(needed) {
  const missing = needed.filter((n) => !present(n.provides)).map((n) => n.pkg);
  if (missing.length === 0) return;
  const command = `apt-get update && apt-get install -y --no-install-recommends ${missing.join(' ')}`;
  if (process.getuid?.() !== 0) {
    throw new Error(`Missing Debian packages: ${missing.join(', ')}. Run as root:\n  sudo sh -c '${command}'`);
  }
  console.log(`[setup] installing Debian packages: ${missing.join(' ')}`);
  // A fresh machine often has no package lists yet; update only when the first try fails.
  if (!aptInstall(missing)) {
    execFileSync('apt-get', ['update'], { stdio: 'inherit' });
    if (!aptInstall(missing)) throw new Error(`apt-get could not install: ${missing.join(' ')}`);
  }
}

/** Headers that npm dependencies compile against: the pcsclite addon needs PC/SC's. */
export const BUILD_PACKAGES = [{ pkg: 'libpcsclite-dev', provides: '/usr/include/PCSC/winscard.h' }];

/** pcscd and its virtual reader driver: what the simulated card (`npm run card-sim`) plugs into. */
export const VIRTUAL_READER_PACKAGES = [
  { pkg: 'pcscd', provides: '/usr/sbin/pcscd' },
  { pkg: 'vsmartcard-vpcd', provides: '/usr/lib/pcsc/drivers/serial/libifdvpcd.so' },
];
