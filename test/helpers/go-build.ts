import { execFile } from 'node:child_process';
import { cpSync, mkdirSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { promisify } from 'node:util';
import type { TempDir } from './tmp.js';

const run = promisify(execFile);
const REPO = resolve(import.meta.dirname, '../..');

/** Where Debian's -dev packages install Go sources (GOPATH layout). */
export const DEBIAN_GOPATH = '/usr/share/gocode';

/**
 * Builds the Go program in test/go/<name> offline, in GOPATH mode: a copy
 * of its source in a temporary GOPATH whose second entry is Debian's tree,
 * a fresh build cache, no module proxy, no user go env file. Returns the
 * binary's path inside `dir`.
 */
export async function buildGoProgram(dir: TempDir, name: string): Promise<string> {
  const gopath = join(dir.path, 'gopath');
  const src = join(gopath, 'src', 'berth.test', name);
  mkdirSync(src, { recursive: true });
  cpSync(join(REPO, 'test/go', name), src, { recursive: true });
  const tmp = join(dir.path, 'gotmp');
  mkdirSync(tmp, { recursive: true });
  const bin = join(dir.path, name);
  await run('go', ['build', '-buildvcs=false', '-o', bin, '.'], {
    cwd: src,
    env: {
      PATH: process.env.PATH ?? '/usr/bin:/bin',
      HOME: dir.path,
      TMPDIR: tmp,
      GOENV: 'off',
      GO111MODULE: 'off',
      GOPATH: `${gopath}:${DEBIAN_GOPATH}`,
      GOCACHE: join(dir.path, 'gocache'),
      GOFLAGS: '',
      GOPROXY: 'off',
      CGO_ENABLED: '0',
    },
    timeout: 10 * 60_000,
    maxBuffer: 16 << 20,
  });
  return bin;
}
