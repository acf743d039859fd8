import { createHash, randomBytes } from 'node:crypto';
import { mkdir, readFile, rename, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { IdFileStore } from '../../client/oci/user.js';

const ABSENT = 0;
const PRESENT = 1;

/**
 * The client's /etc/passwd and /etc/group reads, kept on disk under `dir`
 * (berth's data root): every `berth run` of an image otherwise reads them
 * from its layers again (a gunzip and tar walk of the layer holding them),
 * where containerd's ctr mounts the snapshot. Keys name layer digests, so
 * an entry never goes stale; one file per key, its first byte saying
 * whether the image has the file. Failures only cost the read again.
 */
export function diskIdFileStore(dir: string): IdFileStore {
  const pathOf = (key: string) => join(dir, createHash('sha256').update(key).digest('hex'));
  return {
    async get(key) {
      let b: Buffer;
      try {
        b = await readFile(pathOf(key));
      } catch {
        return undefined;
      }
      if (b[0] === ABSENT && b.length === 1) return null;
      if (b[0] === PRESENT) return b.subarray(1);
      return undefined;
    },
    async set(key, data) {
      await mkdir(dir, { recursive: true, mode: 0o700 });
      const path = pathOf(key);
      const tmp = `${path}.${randomBytes(4).toString('hex')}.tmp`;
      const body = data === null ? Buffer.of(ABSENT) : Buffer.concat([Buffer.of(PRESENT), data]);
      try {
        await writeFile(tmp, body, { mode: 0o600 });
        await rename(tmp, path);
      } catch (err) {
        await rm(tmp, { force: true });
        throw err;
      }
    },
  };
}
