export interface NeededPackage {
  /** Debian package name. */
  pkg: string;
  /** A command on PATH or an absolute path whose presence proves the package is installed. */
  provides: string;
}
export function ensureDebianPackages(needed: NeededPackage[]): void;
export const BUILD_PACKAGES: NeededPackage[];
export const VIRTUAL_READER_PACKAGES: NeededPackage[];
