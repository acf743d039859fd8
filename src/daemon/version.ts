import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

/** The package root: two levels above this file in src/ and in dist/. */
const PACKAGE_ROOT = fileURLToPath(new URL('../../', import.meta.url));

/**
 * berthd's version (package.json) and revision (the git commit written to
 * `dist/REVISION` by the build; "unknown" when running from source).
 */
export function readVersion(): { version: string; revision: string } {
  const pkg = JSON.parse(readFileSync(`${PACKAGE_ROOT}package.json`, 'utf8')) as {
    version: string;
  };
  let revision = 'unknown';
  try {
    revision = readFileSync(`${PACKAGE_ROOT}dist/REVISION`, 'utf8').trim() || revision;
  } catch {
    // not built, or built outside git
  }
  return { version: pkg.version, revision };
}
