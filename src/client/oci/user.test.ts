import assert from 'node:assert/strict';
import { mkdirSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { tempDir } from '../../../test/helpers/tmp.js';
import { isInvalidArgument, isNotFound } from '../../core/errdefs/index.js';
import { generateSpec } from './spec.js';
import { withRootFSPath } from './spec-opts.js';
import { type LayerEntry, MemoryContent } from './testing/images.js';
import type { Spec, SpecContainer } from './types.js';
import {
  withAdditionalGIDs,
  withAppendAdditionalGroups,
  withUIDGID,
  withUser,
  withUserID,
  withUsername,
} from './user.js';

const PASSWD = [
  'root:x:0:0:root:/root:/bin/sh',
  'daemon:x:1:1:daemon:/usr/sbin:/usr/sbin/nologin',
  'app:x:1000:1000:app:/home/app:/bin/sh',
  'web:x:1001:1002::/srv:/bin/sh',
].join('\n');
const GROUP = [
  '# comment line',
  'root:x:0:',
  'daemon:x:1:app',
  'app:x:1000:app',
  'staff:x:50:app,web',
  'www:x:1002:',
  'audio:x:29:web',
].join('\n');

/** An image whose one layer holds PASSWD and GROUP; its container has a snapshot. */
async function baseImage(content = new MemoryContent(), name = 'base') {
  const layer = await content.layer([
    { type: 'dir', path: 'etc' },
    { type: 'file', path: 'etc/passwd', content: PASSWD },
    { type: 'file', path: 'etc/group', content: GROUP },
  ]);
  const image = content.image(name, {}, [layer]);
  const container: SpecContainer = {
    id: 'c1',
    image: name,
    snapshotter: 'overlayfs',
    snapshotKey: 'c1',
  };
  return { content, image, container, client: content.client('ns') };
}

function userOf(spec: Spec) {
  return spec.process?.user;
}

describe('withUser from an image layer', () => {
  const cases: [string, { uid: number; gid: number; additionalGids: number[] }][] = [
    ['app', { uid: 1000, gid: 1000, additionalGids: [1000] }],
    ['1000', { uid: 1000, gid: 1000, additionalGids: [1000] }],
    // a uid with no entry: gid 0, as containerd's WithUserID
    ['4242', { uid: 4242, gid: 0, additionalGids: [0] }],
    ['1000:50', { uid: 1000, gid: 50, additionalGids: [50] }],
    // name:group takes only the uid from passwd
    ['web:staff', { uid: 1001, gid: 50, additionalGids: [50] }],
    ['app:7', { uid: 1000, gid: 7, additionalGids: [7] }],
    ['7:audio', { uid: 7, gid: 29, additionalGids: [29] }],
    // an empty group part is no group: gid 0
    ['1000:', { uid: 1000, gid: 0, additionalGids: [0] }],
  ];
  for (const [userstr, want] of cases) {
    it(`"${userstr}"`, async () => {
      const { client, container } = await baseImage();
      const spec = await generateSpec(client, container, withUser(userstr));
      assert.deepEqual(userOf(spec), want);
    });
  }

  it('fails for an unknown name, naming the user and the image', async () => {
    const { client, container } = await baseImage();
    await assert.rejects(generateSpec(client, container, withUser('nobody')), (err: Error) => {
      assert.ok(isNotFound(err));
      assert.match(err.message, /user "nobody": no such user in \/etc\/passwd of image "base"/);
      return true;
    });
    await assert.rejects(
      generateSpec(client, container, withUser('app:nogroup')),
      (err: Error) => isNotFound(err) && /group "nogroup"/.test(err.message),
    );
  });

  it('refuses more than one colon', async () => {
    const { client, container } = await baseImage();
    await assert.rejects(
      generateSpec(client, container, withUser('1:2:3')),
      (err: Error) => isInvalidArgument(err) && /invalid USER value 1:2:3/.test(err.message),
    );
  });

  it('needs no image for uid:gid', async () => {
    const content = new MemoryContent();
    const spec = await generateSpec(content.client(), { id: 'x' }, withUser('5:6'));
    assert.deepEqual(spec.process?.user, { uid: 5, gid: 6, additionalGids: [6] });
    assert.equal(content.reads.length, 0);
  });

  it('without passwd: a named user fails, a uid gets gid 0', async () => {
    const content = new MemoryContent();
    const layer = await content.layer([{ type: 'dir', path: 'bin' }]);
    content.image('bare', {}, [layer]);
    const container = { id: 'c', image: 'bare', snapshotter: 'overlayfs', snapshotKey: 'c' };
    await assert.rejects(
      generateSpec(content.client(), container, withUsername('app')),
      (err: Error) => isNotFound(err) && /image "bare" has no \/etc\/passwd/.test(err.message),
    );
    const spec = await generateSpec(content.client(), container, withUserID(33));
    assert.deepEqual(spec.process?.user, { uid: 33, gid: 0, additionalGids: [0] });
  });

  it('a container with a snapshot but no image cannot resolve names', async () => {
    const content = new MemoryContent();
    const container = { id: 'c', snapshotter: 'overlayfs', snapshotKey: 'c' };
    await assert.rejects(generateSpec(content.client(), container, withUser('app')), (err: Error) =>
      /has a snapshot but no image/.test(err.message),
    );
    // and no snapshot, no absolute root: containerd's message
    await assert.rejects(
      generateSpec(content.client(), { id: 'c' }, withUser('app')),
      (err: Error) => /rootfs absolute path is required/.test(err.message),
    );
  });

  it('withUIDGID sets ids without reading', async () => {
    const content = new MemoryContent();
    const spec = await generateSpec(content.client(), { id: 'c' }, withUIDGID(3, 4));
    assert.deepEqual(spec.process?.user, { uid: 3, gid: 4, additionalGids: [4] });
  });
});

describe('layers: the union as containerd unpacks it', () => {
  /** Resolves `user` in an image of these layers (bottom first). */
  async function resolve(layers: LayerEntry[][], user: string) {
    const content = new MemoryContent();
    const descs = [];
    for (const l of layers) descs.push(await content.layer(l));
    content.image('img', {}, descs);
    const spec = await generateSpec(
      content.client(),
      { id: 'c', image: 'img', snapshotter: 'overlayfs', snapshotKey: 'c' },
      withUser(user),
      withAdditionalGIDs(user),
    );
    return { user: spec.process?.user, content };
  }
  const lower: LayerEntry[] = [
    { type: 'dir', path: 'etc' },
    { type: 'file', path: 'etc/passwd', content: 'app:x:1000:1000::/:/bin/sh\n' },
    { type: 'file', path: 'etc/group', content: 'extra:x:77:app\n' },
  ];

  it('reads passwd from a lower layer', async () => {
    const { user } = await resolve(
      [
        lower,
        [
          { type: 'dir', path: 'srv' },
          { type: 'file', path: 'srv/x', content: 'x' },
        ],
      ],
      'app',
    );
    assert.deepEqual(user, { uid: 1000, gid: 1000, additionalGids: [1000, 77] });
  });

  it('an upper layer changes passwd', async () => {
    const upper: LayerEntry[] = [
      { type: 'file', path: 'etc/passwd', content: 'app:x:2000:2001::/:/bin/sh\n' },
    ];
    const { user } = await resolve([lower, upper], 'app');
    assert.deepEqual(user, { uid: 2000, gid: 2001, additionalGids: [2001, 77] });
  });

  it('a whiteout deletes passwd, and a later layer brings it back', async () => {
    await assert.rejects(
      resolve([lower, [{ type: 'whiteout', path: 'etc/passwd' }]], 'app'),
      (err: Error) => /has no \/etc\/passwd/.test(err.message),
    );
    const back: LayerEntry[] = [
      { type: 'file', path: 'etc/passwd', content: 'app:x:3000:3000::/:/bin/sh\n' },
    ];
    const { user } = await resolve(
      [lower, [{ type: 'whiteout', path: 'etc/passwd' }], back],
      'app',
    );
    assert.equal(user?.uid, 3000);
  });

  it('a whiteout of the directory deletes what is under it', async () => {
    await assert.rejects(
      resolve([lower, [{ type: 'whiteout', path: 'etc' }]], 'app'),
      /has no \/etc\/passwd/,
    );
  });

  it('an opaque directory hides the layers beneath, not its own layer', async () => {
    const opaque: LayerEntry[] = [
      { type: 'opaque', path: 'etc' },
      { type: 'file', path: 'etc/passwd', content: 'app:x:4000:4000::/:/bin/sh\n' },
    ];
    const { user } = await resolve([lower, opaque], 'app');
    // /etc/group of the lower layer is hidden: only the primary gid
    assert.deepEqual(user, { uid: 4000, gid: 4000, additionalGids: [4000] });
    await assert.rejects(
      resolve([lower, [{ type: 'opaque', path: 'etc' }]], 'app'),
      /has no \/etc\/passwd/,
    );
  });

  it('a file in place of a directory hides what the layers beneath had in it', async () => {
    await assert.rejects(
      resolve(
        [
          lower,
          [{ type: 'whiteout', path: 'etc' }],
          [{ type: 'file', path: 'etc', content: 'not a dir' }],
        ],
        'app',
      ),
      /has no \/etc\/passwd/,
    );
  });

  it('follows symlinks inside the image: absolute, relative, and a linked directory', async () => {
    const real: LayerEntry[] = [
      { type: 'dir', path: 'data' },
      { type: 'file', path: 'data/passwd.real', content: 'app:x:5000:5000::/:/bin/sh\n' },
    ];
    for (const target of [
      '/data/passwd.real',
      '../data/passwd.real',
      '../../../data/passwd.real',
    ]) {
      const { user } = await resolve(
        [
          real,
          [
            { type: 'dir', path: 'etc' },
            { type: 'symlink', path: 'etc/passwd', target },
          ],
        ],
        'app',
      );
      assert.equal(user?.uid, 5000, target);
    }
    const linkedDir: LayerEntry[] = [
      { type: 'dir', path: 'real-etc' },
      { type: 'file', path: 'real-etc/passwd', content: 'app:x:6000:6000::/:/bin/sh\n' },
      { type: 'symlink', path: 'etc', target: 'real-etc' },
    ];
    const { user } = await resolve([linkedDir], 'app');
    assert.equal(user?.uid, 6000);
  });

  it('refuses a symlink loop', async () => {
    const loop: LayerEntry[] = [
      { type: 'dir', path: 'etc' },
      { type: 'symlink', path: 'etc/passwd', target: 'passwd2' },
      { type: 'symlink', path: 'etc/passwd2', target: 'passwd' },
    ];
    await assert.rejects(
      resolve([loop], 'app'),
      (err: Error) => isInvalidArgument(err) && /too many symlinks/.test(err.message),
    );
  });

  it('reads a hardlink, in its layer or to a file beneath', async () => {
    const same: LayerEntry[] = [
      { type: 'dir', path: 'etc' },
      { type: 'file', path: 'etc/passwd.orig', content: 'app:x:7000:7000::/:/bin/sh\n' },
      { type: 'hardlink', path: 'etc/passwd', target: 'etc/passwd.orig' },
    ];
    assert.equal((await resolve([same], 'app')).user?.uid, 7000);
    const beneath: LayerEntry[] = [
      { type: 'hardlink', path: 'etc/passwd', target: 'etc/passwd.orig' },
    ];
    assert.equal((await resolve([same.slice(0, 2), beneath], 'app')).user?.uid, 7000);
  });

  it('reads a file by path again when it was not kept while indexing', async () => {
    const real: LayerEntry[] = [
      { type: 'dir', path: 'data' },
      { type: 'file', path: 'data/pw', content: 'app:x:8000:8000::/:/bin/sh\n' },
    ];
    const top: LayerEntry[] = [
      { type: 'dir', path: 'etc' },
      { type: 'symlink', path: 'etc/passwd', target: '/data/pw' },
    ];
    const { user, content } = await resolve([real, top], 'app');
    assert.equal(user?.uid, 8000);
    // the top layer once; the bottom one to index it, then again for /data/pw
    assert.equal(content.reads.length, 3);
  });

  it('reads a large file again across many chunks, with entries after it', async () => {
    const filler = Array.from({ length: 5000 }, (_, i) => `u${i}:x:${20000 + i}:1::/:/bin/sh`).join(
      '\n',
    );
    const real: LayerEntry[] = [
      { type: 'dir', path: 'data' },
      { type: 'file', path: 'data/pw', content: `${filler}\napp:x:8100:8100::/:/bin/sh\n` },
      { type: 'file', path: 'data/after', content: 'x'.repeat(100_000) },
    ];
    const top: LayerEntry[] = [
      { type: 'dir', path: 'etc' },
      { type: 'symlink', path: 'etc/passwd', target: '/data/pw' },
    ];
    const { user } = await resolve([real, top], 'app');
    assert.equal(user?.uid, 8100);
  });

  it('the last of two entries of one path in a layer wins', async () => {
    const twice: LayerEntry[] = [
      { type: 'dir', path: 'etc' },
      { type: 'file', path: 'etc/passwd', content: 'app:x:1:1::/:/bin/sh\n' },
      { type: 'file', path: 'etc/passwd', content: 'app:x:9000:9000::/:/bin/sh\n' },
    ];
    assert.equal((await resolve([twice], 'app')).user?.uid, 9000);
  });

  it('stops at the top layer that has the file: layers beneath are not read', async () => {
    const content = new MemoryContent();
    const bottom = await content.layer([
      { type: 'dir', path: 'etc' },
      { type: 'file', path: 'etc/passwd', content: 'app:x:1:1::/:/bin/sh\n' },
    ]);
    const top = await content.layer(
      [
        { type: 'dir', path: 'etc' },
        { type: 'file', path: 'etc/passwd', content: 'app:x:2:2::/:/bin/sh\n' },
        { type: 'file', path: 'etc/group', content: '' },
      ],
      true,
    );
    content.image('img', {}, [bottom, top]);
    const spec = await generateSpec(
      content.client(),
      { id: 'c', image: 'img' },
      withUser('app'),
      withAdditionalGIDs('app'),
    );
    assert.equal(spec.process?.user.uid, 2);
    assert.deepEqual(content.reads, [top.digest]);
  });

  it('a missing layer blob fails not_found, naming the layer', async () => {
    const content = new MemoryContent();
    const layer = await content.layer(lower);
    content.blobs.delete(layer.digest);
    content.image('img', {}, [layer]);
    await assert.rejects(
      generateSpec(content.client(), { id: 'c', image: 'img' }, withUser('app')),
      (err: Error) => isNotFound(err) && err.message.includes(layer.digest),
    );
  });

  it('a corrupt layer fails, naming the layer', async () => {
    const content = new MemoryContent();
    const bad = content.add(
      'application/vnd.oci.image.layer.v1.tar+gzip',
      Buffer.from('\x1f\x8b\x08garbage'),
    );
    content.image('img', {}, [bad]);
    await assert.rejects(
      generateSpec(content.client(), { id: 'c', image: 'img' }, withUser('app')),
      (err: Error) => isInvalidArgument(err) && err.message.includes(bad.digest),
    );
  });

  it('stops when the client signal aborts', async () => {
    const content = new MemoryContent();
    const layer = await content.layer(lower);
    content.image('img', {}, [layer]);
    const ac = new AbortController();
    ac.abort();
    await assert.rejects(
      generateSpec(
        content.client('default', ac.signal),
        { id: 'c', image: 'img' },
        withUser('app'),
      ),
      { name: 'AbortError' },
    );
  });
});

describe('withAdditionalGIDs', () => {
  it('lists the groups that name the user, not the group named as the user', async () => {
    const { client, container } = await baseImage();
    const spec = await generateSpec(client, container, withUser('app'), withAdditionalGIDs('app'));
    // daemon(1) and staff(50) list app; the group "app" does too but is named as the user
    assert.deepEqual(spec.process?.user, { uid: 1000, gid: 1000, additionalGids: [1000, 1, 50] });
  });

  it('finds the user by uid; an unknown uid keeps only the primary gid', async () => {
    const { client, container } = await baseImage();
    let spec = await generateSpec(client, container, withUser('web'), withAdditionalGIDs('1001'));
    assert.deepEqual(spec.process?.user, { uid: 1001, gid: 1002, additionalGids: [1002, 50, 29] });
    spec = await generateSpec(client, container, withUser('1001:50'), withAdditionalGIDs('1001'));
    // the primary gid is among them: not added again
    assert.deepEqual(spec.process?.user.additionalGids, [50, 29]);
    spec = await generateSpec(client, container, withAdditionalGIDs('4242'));
    assert.deepEqual(spec.process?.user.additionalGids, [0]);
  });

  it('withAppendAdditionalGroups adds gids and named groups', async () => {
    const { client, container } = await baseImage();
    const spec = await generateSpec(
      client,
      container,
      withUser('app'),
      withAppendAdditionalGroups('audio', '12'),
    );
    assert.deepEqual(spec.process?.user.additionalGids, [1000, 29, 12]);
    await assert.rejects(
      generateSpec(client, container, withAppendAdditionalGroups('nope')),
      /unable to find group nope/,
    );
  });

  it('a second container of the same image reads no layer: /etc files are cached by layer digests', async () => {
    const { client, content } = await baseImage();
    const first = await generateSpec(
      client,
      { id: 'a', image: 'base' },
      withUser('web'),
      withAdditionalGIDs('1001'),
    );
    const reads = content.reads.length;
    assert.equal(reads, 1);
    const second = await generateSpec(
      client,
      { id: 'b', image: 'base' },
      withUser('web'),
      withAdditionalGIDs('web'),
    );
    assert.equal(content.reads.length, reads);
    assert.deepEqual(first.process?.user, { uid: 1001, gid: 1002, additionalGids: [1002, 50, 29] });
    assert.deepEqual(second.process?.user, {
      uid: 1001,
      gid: 1002,
      additionalGids: [1002, 50, 29],
    });
    // another image (other layers) is read
    const other = await baseImage(content, 'other');
    await generateSpec(other.client, other.container, withUser('web'));
    assert.equal(content.reads.length, reads + 1);
  });

  it('reads each layer once across several options', async () => {
    const { client, container, content } = await baseImage();
    await generateSpec(
      client,
      container,
      withUser('app'),
      withAdditionalGIDs('app'),
      withUser('web'),
    );
    assert.equal(content.reads.length, 1);
  });
});

describe('a root directory on the client host', () => {
  it('reads passwd under an absolute root path, symlinks kept inside', async () => {
    const dir = tempDir();
    try {
      mkdirSync(join(dir.path, 'etc'));
      mkdirSync(join(dir.path, 'data'));
      writeFileSync(join(dir.path, 'data/pw'), 'app:x:1234:99::/:/bin/sh\n');
      symlinkSync('/data/pw', join(dir.path, 'etc/passwd'));
      writeFileSync(join(dir.path, 'etc/group'), 'g:x:5:app\n');
      const content = new MemoryContent();
      const spec = await generateSpec(
        content.client(),
        { id: 'c' },
        withRootFSPath(dir.path),
        withUser('app'),
        withAdditionalGIDs('app'),
      );
      assert.deepEqual(spec.process?.user, { uid: 1234, gid: 99, additionalGids: [99, 5] });
    } finally {
      dir.remove();
    }
  });
});
