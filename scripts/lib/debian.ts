// Installs the Debian packages the platform runs on, so that a fresh machine needs
// nothing by hand. Only root may install; anyone else is told the exact command.
import { execFileSync, spawnSync } from 'node:child_process';

export interface NeededPackage {
  /** Debian package name. */
  pkg: string;
  /** A file whose presence proves the package is installed. */
  provides: string;
}

function present(file: string): boolean {
  return spawnSync('sh', ['-c', `command -v ${file} || test -e ${file}`], { stdio: 'ignore' }).status === 0;
}

function aptInstall(pkgs: string[]): boolean {
  const env = { ...process.env, DEBIAN_FRONTEND: 'noninteractive' };
  const args = ['install', '-y', '--no-install-recommends', ...pkgs];
  return spawnSync('apt-get', args, { stdio: 'inherit', env }).status === 0;
}

/** Ensures every package is installed; throws with the command to run when it cannot. */
export function ensureDebianPackages(needed: NeededPackage[]): void {
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
