import { execFileSync } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import { join } from 'node:path';
import { it } from 'node:test';
import { type TempDir, tempDir } from '../../test/helpers/tmp.js';
import { nullLogger } from '../core/log/index.js';
import type { Mount } from '../core/mount/index.js';
import type { OpContext } from '../core/namespaces/index.js';
import { type MountedTree, snapshotSuite } from '../core/snapshots/testsuite.js';
import { OverlaySnapshotter } from './overlay.js';

const ctx: OpContext = { signal: new AbortController().signal, log: nullLogger };
const isRoot = process.getuid?.() === 0;

/**
 * Performs containerd mounts with util-linux `mount` (the suite's view into
 * a snapshot) and undoes them. Root only.
 */
function mounter(dir: TempDir) {
  const mounted = new Set<string>();
  const mount = async (mounts: readonly Mount[]): Promise<MountedTree> => {
    const [m] = mounts;
    if (mounts.length !== 1 || !m) throw new Error(`expected one mount, got ${mounts.length}`);
    const target = mkdtempSync(join(dir.path, 'mnt-'));
    execFileSync('mount', ['-t', m.type, '-o', m.options.join(','), '--', m.source, target]);
    mounted.add(target);
    return {
      path: target,
      release: async () => {
        execFileSync('umount', [target]);
        mounted.delete(target);
      },
    };
  };
  /** Unmounts whatever a failed case left mounted. */
  const releaseAll = () => {
    for (const target of mounted) execFileSync('umount', ['-l', target]);
    mounted.clear();
  };
  return { mount, releaseAll };
}

if (isRoot) {
  snapshotSuite(
    'overlayfs (mounted)',
    async () => {
      const dir = tempDir();
      const root = join(dir.path, 'io.containerd.snapshotter.v1.overlayfs');
      const m = mounter(dir);
      let sn = new OverlaySnapshotter(root);
      return {
        snapshotter: sn,
        ctx,
        mount: m.mount,
        reopen: async () => {
          sn.close();
          sn = new OverlaySnapshotter(root);
          return sn;
        },
        cleanup: async () => {
          m.releaseAll();
          sn.close();
          dir.remove();
        },
      };
    },
    { readOnlyViews: true },
  );
} else {
  it('overlayfs conformance (needs root)', (t) => t.skip('not root'));
}
