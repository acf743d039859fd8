import { execFile } from 'node:child_process';
import { cpSync, existsSync, mkdirSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { promisify } from 'node:util';

const run = promisify(execFile);
const REPO = resolve(import.meta.dirname, '../../../..');

/** The cri-tools 1.26.1 source tarball of the shared tools (it vendors client-go), or undefined. */
export function criToolsTarball(): string | undefined {
  const candidates = [
    process.env.BERTH_SHARED_TOOLS,
    join(REPO, '../shared/tools'),
    join(REPO, '../../shared/tools'),
  ]
    .filter((d): d is string => d !== undefined && d !== '')
    .map((d) => join(d, 'cri-tools/cri-tools-1.26.1.tar.gz'));
  return candidates.find((p) => existsSync(p));
}

/**
 * Builds `test/go/streamclient` offline inside the cri-tools 1.26.1 module (extracted from `tarball` under `dir`),
 * against its vendored k8s.io/client-go, as crictl is built: -mod=vendor, no module proxy, no user go env; the
 * build cache is BERTH_GOCACHE when set. Resolves with the binary's path.
 */
export async function buildStreamClient(dir: string, tarball: string): Promise<string> {
  await run('tar', ['-xzf', tarball, '-C', dir], { timeout: 120_000 });
  const module = join(dir, 'cri-tools-1.26.1');
  const pkg = join(module, 'cmd/berth-streamclient');
  mkdirSync(pkg, { recursive: true });
  cpSync(join(REPO, 'test/go/streamclient'), pkg, { recursive: true });
  const tmp = join(dir, 'gotmp');
  mkdirSync(tmp, { recursive: true });
  const bin = join(dir, 'streamclient');
  try {
    await run('go', ['build', '-buildvcs=false', '-o', bin, './cmd/berth-streamclient'], {
      cwd: module,
      env: {
        PATH: process.env.PATH ?? '/usr/bin:/bin',
        HOME: dir,
        TMPDIR: tmp,
        GOENV: 'off',
        GO111MODULE: 'on',
        GOFLAGS: '-mod=vendor',
        GOPROXY: 'off',
        GOPATH: join(dir, 'gopath'),
        GOCACHE: process.env.BERTH_GOCACHE || join(dir, 'gocache'),
        CGO_ENABLED: '0',
      },
      timeout: 10 * 60_000,
      maxBuffer: 16 << 20,
    });
  } catch (err) {
    const e = err as { stderr?: string; message: string };
    throw new Error(`go build test/go/streamclient failed: ${e.message}\n${e.stderr ?? ''}`);
  }
  return bin;
}
