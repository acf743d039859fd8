import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, readdirSync, statSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { mountsUnder } from '../../../test/helpers/daemon.js';
import { removeTree } from '../../sys/remove-tree.js';
import { SnapshotFileReader } from './rootfs-reader.js';

/** The rootfs reader on a real read-only bind mount: paths never leave the rootfs. Root only. */
describe('SnapshotFileReader', { skip: process.getuid?.() !== 0 && 'needs root' }, () => {
  const dir = mkdtempSync(join(tmpdir(), 'berth-cri-rootfs-'));
  after(() => removeTree(dir, tmpdir()));

  it('reads files inside the rootfs, follows links only inside it, copies volumes', async () => {
    const fs = join(dir, 'fs');
    mkdirSync(join(fs, 'etc'), { recursive: true });
    mkdirSync(join(fs, 'data/sub'), { recursive: true });
    writeFileSync(join(fs, 'etc/passwd'), 'root:x:0:0::/:/bin/sh\n');
    writeFileSync(join(fs, 'data/sub/f'), 'volume content\n');
    writeFileSync(join(dir, 'host-secret'), 'host\n');
    // An absolute link and a climbing one: both resolve inside the rootfs, where nothing is.
    symlinkSync(join(dir, 'host-secret'), join(fs, 'etc/group'));
    symlinkSync('../../../../../../host-secret', join(fs, 'etc/shadow'));
    symlinkSync('/etc/passwd', join(fs, 'etc/passwd-link'));
    const target = join(dir, 'mnt');
    const reader = new SnapshotFileReader(
      [{ type: 'bind', source: fs, options: ['rbind', 'rw'] }],
      target,
    );
    try {
      assert.equal((await reader.readFile('/etc/passwd'))?.toString(), 'root:x:0:0::/:/bin/sh\n');
      assert.equal(
        (await reader.readFile('/etc/passwd-link'))?.toString(),
        'root:x:0:0::/:/bin/sh\n',
      );
      assert.equal(await reader.readFile('/etc/group'), undefined);
      assert.equal(await reader.readFile('/etc/shadow'), undefined);
      assert.equal(await reader.readFile('/no/such'), undefined);
      await assert.rejects(reader.readFile('/etc'), /not a regular file/);
      // Read-only: the mount refuses writes.
      assert.throws(() => writeFileSync(join(target, 'etc/new'), 'x'), /EROFS/);
      const vol = join(dir, 'vol');
      mkdirSync(vol);
      await reader.copyDirInto('/data', vol);
      assert.deepEqual(readdirSync(vol), ['sub']);
      assert.ok(statSync(join(vol, 'sub/f')).isFile());
      const none = join(dir, 'vol2');
      mkdirSync(none);
      await reader.copyDirInto('/not/there', none);
      assert.deepEqual(readdirSync(none), []);
    } finally {
      reader.close();
      reader.close();
    }
    assert.equal(mountsUnder(dir).length, 0);
  });
});
