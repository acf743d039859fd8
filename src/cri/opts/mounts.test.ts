import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import {
  ContainerConfig,
  type Mount,
  MountPropagation,
  NamespaceMode,
} from '../../api/k8s/cri/runtime/v1/api.js';
import { isInvalidArgument } from '../../core/errdefs/index.js';
import { criBaseSpec } from './defaults.js';
import { realSpecHost } from './host.js';
import {
  applyCriMounts,
  cleanPath,
  imageVolumeMounts,
  lookupMount,
  parseMountInfo,
  sandboxFileMounts,
} from './mounts.js';
import { FakeHost, mountInfoLine } from './testing/fake-host.js';

const m = (containerPath: string, hostPath: string, over: Partial<Mount> = {}): Mount => ({
  containerPath,
  hostPath,
  readonly: false,
  selinuxRelabel: false,
  propagation: MountPropagation.PROPAGATION_PRIVATE,
  ...over,
});

function host() {
  const h = new FakeHost({
    '/sb/hostname': { kind: 'file' },
    '/sb/hosts': { kind: 'file' },
    '/sb/resolv.conf': { kind: 'file' },
    '/run/sb/shm': { kind: 'dir' },
    '/data': { kind: 'dir' },
    '/data/sub': { kind: 'dir' },
    '/shared/vol': { kind: 'dir' },
    '/slave/vol': { kind: 'dir' },
    '/link': { kind: 'symlink', target: '/data/sub' },
  });
  h.mountInfoText = [
    mountInfoLine(1, '/'),
    mountInfoLine(2, '/shared', ['shared:5']),
    mountInfoLine(3, '/slave', ['master:7']),
    mountInfoLine(4, '/shared/vol\\040x'),
  ].join('\n');
  return h;
}

describe('sandbox file mounts (containerd containerMounts)', () => {
  test('hostname, hosts, resolv.conf, shm in order', async () => {
    const mounts = await sandboxFileMounts(
      { dir: '/sb', shmPath: '/run/sb/shm' },
      ContainerConfig.fromPartial({}),
      host(),
    );
    assert.deepEqual(
      mounts.map((x) => [x.containerPath, x.hostPath, x.readonly]),
      [
        ['/etc/hostname', '/sb/hostname', false],
        ['/etc/hosts', '/sb/hosts', false],
        ['/etc/resolv.conf', '/sb/resolv.conf', false],
        ['/dev/shm', '/run/sb/shm', false],
      ],
    );
  });
  test('read-only rootfs makes the etc files read-only, not shm', async () => {
    const config = ContainerConfig.fromPartial({
      linux: { securityContext: { readonlyRootfs: true } },
    });
    const mounts = await sandboxFileMounts({ dir: '/sb', shmPath: '/run/sb/shm' }, config, host());
    assert.deepEqual(
      mounts.map((x) => x.readonly),
      [true, true, true, false],
    );
  });
  test('no hostname file: not mounted; host IPC: the host /dev/shm', async () => {
    const h = host();
    h.nodes.delete('/sb/hostname');
    const config = ContainerConfig.fromPartial({
      linux: { securityContext: { namespaceOptions: { ipc: NamespaceMode.NODE } } },
    });
    const mounts = await sandboxFileMounts({ dir: '/sb' }, config, h);
    assert.deepEqual(
      mounts.map((x) => `${x.containerPath}=${x.hostPath}`),
      ['/etc/hosts=/sb/hosts', '/etc/resolv.conf=/sb/resolv.conf', '/dev/shm=/dev/shm'],
    );
  });
  test('paths the config mounts are skipped (cleaned comparison)', async () => {
    const config = ContainerConfig.fromPartial({
      mounts: [m('/etc/hosts/', '/x'), m('//dev/shm', '/y')],
    });
    const mounts = await sandboxFileMounts({ dir: '/sb', shmPath: '/run/sb/shm' }, config, host());
    assert.deepEqual(
      mounts.map((x) => x.containerPath),
      ['/etc/hostname', '/etc/resolv.conf'],
    );
  });
});

describe('image volumes', () => {
  test('fresh dirs per volume, config mounts win', () => {
    let n = 0;
    const out = imageVolumeMounts(
      '/c/root',
      [m('/data', '/host')],
      { Volumes: { '/data': {}, '/cache': {} } },
      () => `v${++n}`,
    );
    assert.deepEqual(
      out.map((x) => [x.containerPath, x.hostPath]),
      [['/cache', '/c/root/volumes/v1']],
    );
  });
});

describe('applyCriMounts (containerd customopts.WithMounts)', () => {
  test('defaults replaced, cgroup added, sorted by depth, options', async () => {
    const spec = criBaseSpec('c');
    const h = host();
    const config = ContainerConfig.fromPartial({
      mounts: [m('/a/b/c', '/data/sub', { readonly: true }), m('/a', '/data')],
    });
    const extra = await sandboxFileMounts({ dir: '/sb', shmPath: '/run/sb/shm' }, config, h);
    await applyCriMounts(spec, config, extra, h);
    assert.deepEqual(
      spec.mounts.map((x) => x.destination),
      [
        '/proc',
        '/dev',
        '/dev/pts',
        '/dev/mqueue',
        '/sys',
        '/sys/fs/cgroup',
        '/a',
        '/etc/hostname',
        '/etc/hosts',
        '/etc/resolv.conf',
        '/dev/shm',
        '/a/b/c',
      ],
    );
    const byDst = new Map(spec.mounts.map((x) => [x.destination, x]));
    assert.deepEqual(byDst.get('/sys/fs/cgroup'), {
      destination: '/sys/fs/cgroup',
      type: 'cgroup',
      source: 'cgroup',
      options: ['nosuid', 'noexec', 'nodev', 'relatime', 'ro'],
    });
    assert.deepEqual(byDst.get('/a/b/c'), {
      source: '/data/sub',
      destination: '/a/b/c',
      type: 'bind',
      options: ['rbind', 'rprivate', 'ro'],
    });
    assert.deepEqual(byDst.get('/dev/shm')?.options, ['rbind', 'rprivate', 'rw']);
    assert.equal(byDst.get('/dev/shm')?.source, '/run/sb/shm');
    assert.equal(spec.linux.rootfsPropagation, undefined);
  });
  test('a /dev mount drops every default under /dev', async () => {
    const spec = criBaseSpec('c');
    await applyCriMounts(
      spec,
      ContainerConfig.fromPartial({ mounts: [m('/dev', '/data')] }),
      [],
      host(),
    );
    assert.deepEqual(
      spec.mounts.map((x) => x.destination),
      ['/proc', '/sys', '/sys/fs/cgroup', '/dev'],
    );
  });
  test('a missing host path is created; symlinks resolved', async () => {
    const spec = criBaseSpec('c');
    const h = host();
    await applyCriMounts(
      spec,
      ContainerConfig.fromPartial({ mounts: [m('/n', '/new/dir'), m('/l', '/link')] }),
      [],
      h,
    );
    assert.deepEqual(h.created, ['/new/dir']);
    assert.equal(spec.mounts.find((x) => x.destination === '/l')?.source, '/data/sub');
    assert.equal(spec.mounts.find((x) => x.destination === '/n')?.source, '/new/dir');
  });
  test('host-to-container on a shared or slave mount: rslave, rootfs rslave', async () => {
    for (const path of ['/shared/vol', '/slave/vol']) {
      const spec = criBaseSpec('c');
      await applyCriMounts(
        spec,
        ContainerConfig.fromPartial({
          mounts: [m('/v', path, { propagation: MountPropagation.PROPAGATION_HOST_TO_CONTAINER })],
        }),
        [],
        host(),
      );
      assert.deepEqual(spec.mounts.at(-1)?.options, ['rbind', 'rslave', 'rw']);
      assert.equal(spec.linux.rootfsPropagation, 'rslave');
    }
  });
  test('bidirectional on a shared mount: rshared, and it is not lowered by a later rslave', async () => {
    const spec = criBaseSpec('c');
    await applyCriMounts(
      spec,
      ContainerConfig.fromPartial({
        mounts: [
          m('/v', '/shared/vol', { propagation: MountPropagation.PROPAGATION_BIDIRECTIONAL }),
          m('/w', '/slave/vol', { propagation: MountPropagation.PROPAGATION_HOST_TO_CONTAINER }),
        ],
      }),
      [],
      host(),
    );
    assert.deepEqual(spec.mounts.find((x) => x.destination === '/v')?.options, [
      'rbind',
      'rshared',
      'rw',
    ]);
    assert.equal(spec.linux.rootfsPropagation, 'rshared');
  });
  test('bidirectional on a private or slave mount is refused naming the mount point', async () => {
    await assert.rejects(
      applyCriMounts(
        criBaseSpec('c'),
        ContainerConfig.fromPartial({
          mounts: [m('/v', '/data', { propagation: MountPropagation.PROPAGATION_BIDIRECTIONAL })],
        }),
        [],
        host(),
      ),
      (err: Error) =>
        isInvalidArgument(err) &&
        err.message === 'path "/data" is mounted on "/" but it is not a shared mount',
    );
    await assert.rejects(
      applyCriMounts(
        criBaseSpec('c'),
        ContainerConfig.fromPartial({
          mounts: [
            m('/v', '/slave/vol', { propagation: MountPropagation.PROPAGATION_BIDIRECTIONAL }),
          ],
        }),
        [],
        host(),
      ),
      /mounted on "\/slave" but it is not a shared mount/,
    );
  });
  test('host-to-container on a private mount is refused', async () => {
    await assert.rejects(
      applyCriMounts(
        criBaseSpec('c'),
        ContainerConfig.fromPartial({
          mounts: [
            m('/v', '/data/sub', { propagation: MountPropagation.PROPAGATION_HOST_TO_CONTAINER }),
          ],
        }),
        [],
        host(),
      ),
      /path "\/data\/sub" is mounted on "\/" but it is not a shared or slave mount/,
    );
  });
  test('a host path below a regular file: failed to stat, nothing created (real host)', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'berth-cri-mounts-'));
    try {
      writeFileSync(join(dir, 'a-file'), '');
      const hostPath = join(dir, 'a-file', 'sub');
      await assert.rejects(
        applyCriMounts(
          criBaseSpec('c'),
          ContainerConfig.fromPartial({ mounts: [m('/data', hostPath)] }),
          [],
          realSpecHost,
        ),
        (err: Error) =>
          isInvalidArgument(err) &&
          err.message === `failed to stat "${hostPath}": stat ${hostPath}: not a directory`,
      );
    } finally {
      rmSync(dir, { recursive: true });
    }
  });
  test('a missing host path is created on the real host', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'berth-cri-mounts-'));
    try {
      const spec = criBaseSpec('c');
      const hostPath = join(dir, 'x', 'y');
      await applyCriMounts(
        spec,
        ContainerConfig.fromPartial({ mounts: [m('/data', hostPath)] }),
        [],
        realSpecHost,
      );
      assert.ok(statSync(hostPath).isDirectory());
      assert.equal(statSync(hostPath).mode & 0o777, 0o755 & ~process.umask());
    } finally {
      rmSync(dir, { recursive: true });
    }
  });
  test('a host path whose stat fails (not ENOENT) is an error naming it', async () => {
    const h = host();
    h.isDirectory = async () => {
      throw Object.assign(new Error('EACCES'), { code: 'EACCES' });
    };
    await assert.rejects(
      applyCriMounts(
        criBaseSpec('c'),
        ContainerConfig.fromPartial({ mounts: [m('/v', '/secret')] }),
        [],
        h,
      ),
      (err: Error) =>
        isInvalidArgument(err) &&
        err.message === 'failed to stat "/secret": stat /secret: permission denied',
    );
  });
});

describe('mountinfo', () => {
  test('optional fields and escapes', () => {
    const [a, b] = parseMountInfo(
      '36 35 98:0 /mnt1 /mnt/my\\040dir rw,noatime master:1 shared:4 - ext3 /dev/root rw\n37 35 0:1 / /x rw - tmpfs t rw\n',
    );
    assert.deepEqual(a, { mountPoint: '/mnt/my dir', optional: ['master:1', 'shared:4'] });
    assert.deepEqual(b, { mountPoint: '/x', optional: [] });
  });
  test('lookup: the longest prefix, the last of stacked mounts', () => {
    const mounts = parseMountInfo(
      [mountInfoLine(1, '/'), mountInfoLine(2, '/a'), mountInfoLine(3, '/a', ['shared:1'])].join(
        '\n',
      ),
    );
    assert.deepEqual(lookupMount('/a/b', mounts).optional, ['shared:1']);
    assert.equal(lookupMount('/b', mounts).mountPoint, '/');
    assert.throws(() => lookupMount('/b', []), /failed to find the mount info for "\/b"/);
  });
  test('cleanPath as Go', () => {
    assert.equal(cleanPath('/a//b/../c/'), '/a/c');
    assert.equal(cleanPath(''), '.');
    assert.equal(cleanPath('/'), '/');
  });
});
