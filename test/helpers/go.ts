import { execFile } from 'node:child_process';
import { cpSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { REPO } from './berthd.js';
import type { TempDir } from './tmp.js';

const run = promisify(execFile);

/** Where Debian's -dev packages install Go sources (GOPATH layout). */
export const DEBIAN_GOPATH = '/usr/share/gocode';

/**
 * Builds the Go program `test/go/<name>` offline in GOPATH mode against
 * Debian's containerd sources: a copy of the source in a temporary GOPATH
 * under `dir` whose second entry is Debian's tree, no
 * module proxy, no user go env file; a fresh build cache unless
 * BERTH_GOCACHE names one. Resolves with the binary's path
 * (`<dir>/<name>`).
 */
export async function buildGoProgram(dir: TempDir, name: string): Promise<string> {
  if (!/^[a-z][a-z0-9-]*$/.test(name)) throw new Error(`not a test/go program name: ${name}`);
  const gopath = join(dir.path, 'gopath');
  const src = join(gopath, 'src', 'berth.test', name);
  mkdirSync(src, { recursive: true });
  cpSync(join(REPO, 'test/go', name), src, { recursive: true });
  const tmp = join(dir.path, `gotmp-${name}`);
  mkdirSync(tmp, { recursive: true });
  const bin = join(dir.path, name);
  try {
    await run('go', ['build', '-buildvcs=false', '-o', bin, '.'], {
      cwd: src,
      env: {
        PATH: process.env.PATH ?? '/usr/bin:/bin',
        HOME: dir.path,
        TMPDIR: tmp,
        GOENV: 'off',
        GO111MODULE: 'off',
        GOPATH: `${gopath}:${DEBIAN_GOPATH}`,
        // scripts/test.sh shares one cache across the run's Go builds (it removes it after).
        GOCACHE: process.env.BERTH_GOCACHE || join(dir.path, 'gocache'),
        GOFLAGS: '',
        GOPROXY: 'off',
        CGO_ENABLED: '0',
      },
      timeout: 10 * 60_000,
      maxBuffer: 16 << 20,
    });
  } catch (err) {
    const e = err as { stderr?: string; message: string };
    throw new Error(`go build test/go/${name} failed: ${e.message}\n${e.stderr ?? ''}`);
  }
  return bin;
}
