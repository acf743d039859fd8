import { existsSync } from 'node:fs';
import { join, resolve } from 'node:path';

const REPO = resolve(import.meta.dirname, '../..');

/**
 * The folder of shared tools beside the repository (`../shared/tools`, which
 * holds containerd 1.7.13's and cri-tools' sources and build scripts). A
 * worktree one level deeper finds it at `../../shared/tools`;
 * `BERTH_SHARED_TOOLS` overrides both. Undefined when there is none.
 */
export function sharedToolsDir(): string | undefined {
  const candidates = [
    process.env.BERTH_SHARED_TOOLS,
    join(REPO, '../shared/tools'),
    join(REPO, '../../shared/tools'),
  ];
  return candidates.find((d): d is string => d !== undefined && d !== '' && existsSync(d));
}

/** containerd 1.7.13's source tarball in the shared tools, if present. */
export function containerd17Tarball(): string | undefined {
  const dir = sharedToolsDir();
  const path = dir === undefined ? undefined : join(dir, 'containerd-1.7/containerd-1.7.13.tar.gz');
  return path !== undefined && existsSync(path) ? path : undefined;
}

/** cri-tools 1.26.1's source tarball in the shared tools, if present. */
export function criToolsTarball(): string | undefined {
  const dir = sharedToolsDir();
  const path = dir === undefined ? undefined : join(dir, 'cri-tools/cri-tools-1.26.1.tar.gz');
  return path !== undefined && existsSync(path) ? path : undefined;
}
