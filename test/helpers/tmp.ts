import { mkdtempSync, realpathSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { removeTree } from '../../src/sys/remove-tree.js';

export interface TempDir {
  readonly path: string;
  /** Removes the directory; refuses anything not created by this helper. */
  remove(): void;
}

/** A fresh directory under the system temp dir, named berth-test-*. */
export function tempDir(prefix = 'berth-test-'): TempDir {
  const base = realpathSync(tmpdir());
  const path = mkdtempSync(join(base, prefix));
  return {
    path,
    remove: () => removeTree(path, base),
  };
}
