import assert from 'node:assert/strict';
import { mkdtempSync, rmdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { MS_BIND, MS_NODEV, MS_NOSUID, MS_PRIVATE, MS_RDONLY, MS_REC } from './linux.js';
import { parseMountOptions, splitLowerdir, unmountAll } from './mount.js';

describe('mount options', () => {
  it('splits flags, propagation and data as containerd does', () => {
    assert.deepEqual(parseMountOptions(['ro', 'rbind']), {
      flags: MS_RDONLY | MS_BIND | MS_REC,
      propagation: 0,
      data: [],
    });
    assert.deepEqual(parseMountOptions(['rw', 'bind', 'nosuid', 'nodev', 'rprivate']), {
      flags: MS_BIND | MS_NOSUID | MS_NODEV,
      propagation: MS_PRIVATE | MS_REC,
      data: [],
    });
    assert.deepEqual(
      parseMountOptions(['index=off', 'workdir=/w', 'upperdir=/u', 'lowerdir=/a:/b', 'ro']),
      {
        flags: MS_RDONLY,
        propagation: 0,
        data: ['index=off', 'workdir=/w', 'upperdir=/u', 'lowerdir=/a:/b'],
      },
    );
    // Later options win, as in mount(8).
    assert.equal(parseMountOptions(['ro', 'rw']).flags, 0);
    assert.equal(parseMountOptions(['nosuid', 'suid']).flags, 0);
  });

  it('refuses what berth does not do', () => {
    for (const o of ['loop', 'X-containerd.mkdir.path=/x', 'uidmap=0:1000:1', 'idmap']) {
      assert.throws(() => parseMountOptions([o]), /not supported/);
    }
  });

  it('splits lowerdir on unescaped colons', () => {
    assert.deepEqual(splitLowerdir('/a:/b:/c'), ['/a', '/b', '/c']);
    assert.deepEqual(splitLowerdir('/a\\:b:/c'), ['/a:b', '/c']);
    assert.deepEqual(splitLowerdir('/only'), ['/only']);
  });
});

describe('unmountAll', () => {
  it('does nothing for a directory that is not a mount point, or a missing one, root or not', () => {
    const dir = mkdtempSync(join(tmpdir(), 'berth-unmount-'));
    try {
      unmountAll(dir);
      unmountAll(join(dir, 'missing'));
    } finally {
      rmdirSync(dir);
    }
  });
});
