import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

/** The package root: two levels above this file in src/ and in dist/. */
const PACKAGE_ROOT = fileURLToPath(new URL('../../', import.meta.url));

export interface ClientVersion {
  version: string;
  /** The git commit of the build (dist/REVISION), or "unknown". */
  revision: string;
  nodeVersion: string;
  os: string;
  arch: string;
}

/** berth's own version, read from package.json and dist/REVISION: no daemon, no client library. */
export function clientVersion(): ClientVersion {
  let version = 'unknown';
  let revision = 'unknown';
  try {
    version = (
      JSON.parse(readFileSync(`${PACKAGE_ROOT}package.json`, 'utf8')) as { version: string }
    ).version;
  } catch {
    // running from an unusual layout
  }
  try {
    revision = readFileSync(`${PACKAGE_ROOT}dist/REVISION`, 'utf8').trim() || revision;
  } catch {
    // not built, or built outside git
  }
  return {
    version,
    revision,
    nodeVersion: process.version,
    os: process.platform,
    arch: process.arch,
  };
}
