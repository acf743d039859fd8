import assert from 'node:assert/strict';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { tempDir } from '../../test/helpers/tmp.js';
import { isFailedPrecondition, isInvalidArgument } from '../core/errdefs/index.js';
import {
  cgroupMode,
  cleanCgroupPath,
  joinCgroup,
  type MountInfo,
  parseMountInfo,
  v1Hierarchies,
} from './cgroup.js';

/** A hybrid host: v1 controllers one per hierarchy, name=systemd, cgroup2 at unified. */
const HYBRID = `22 1 0:21 / / rw,relatime - overlay overlay rw,lowerdir=/l,upperdir=/u,workdir=/w
23 22 0:22 / /proc rw,nosuid,nodev,noexec,relatime - proc proc rw
31 23 0:28 / /sys/fs/cgroup rw,relatime - tmpfs tmpfs rw,mode=755
32 31 0:29 / /sys/fs/cgroup/cpu rw,relatime - cgroup cgroup rw,cpu
33 31 0:30 / /sys/fs/cgroup/cpuacct rw,relatime - cgroup cgroup rw,cpuacct
34 31 0:31 / /sys/fs/cgroup/cpuset rw,relatime - cgroup cgroup rw,cpuset
35 31 0:32 / /sys/fs/cgroup/memory rw,relatime - cgroup cgroup rw,memory
36 31 0:33 / /sys/fs/cgroup/devices rw,relatime - cgroup cgroup rw,devices
37 31 0:34 / /sys/fs/cgroup/freezer rw,relatime - cgroup cgroup rw,freezer
38 31 0:35 / /sys/fs/cgroup/blkio rw,relatime - cgroup cgroup rw,blkio
39 31 0:36 / /sys/fs/cgroup/pids rw,relatime - cgroup cgroup rw,pids
40 31 0:37 / /sys/fs/cgroup/systemd rw,relatime - cgroup cgroup rw,name=systemd
41 31 0:38 / /sys/fs/cgroup/unified rw,relatime - cgroup2 cgroup2 rw
`;

/** A systemd-style v1 host: co-mounted controllers, optional fields, other named and unknown hierarchies, a bind mount. */
const V1_COMOUNTED = `25 30 0:23 / /sys/fs/cgroup ro,nosuid,nodev,noexec shared:9 - tmpfs tmpfs ro,mode=755
26 25 0:24 / /sys/fs/cgroup/systemd rw,nosuid,nodev,noexec,relatime shared:10 - cgroup cgroup rw,xattr,name=systemd
29 25 0:27 / /sys/fs/cgroup/cpu,cpuacct rw,nosuid,nodev,noexec,relatime shared:13 - cgroup cgroup rw,cpu,cpuacct
30 25 0:28 / /sys/fs/cgroup/net_cls,net_prio rw,nosuid,nodev,noexec,relatime shared:14 - cgroup cgroup rw,net_cls,net_prio
31 25 0:29 / /sys/fs/cgroup/hugetlb rw,nosuid,nodev,noexec,relatime shared:15 - cgroup cgroup rw,hugetlb
32 25 0:30 / /sys/fs/cgroup/devices rw,nosuid,nodev,noexec,relatime shared:16 - cgroup cgroup rw,devices
33 25 0:31 / /sys/fs/cgroup/misc rw,nosuid,nodev,noexec,relatime shared:17 - cgroup cgroup rw,misc
34 25 0:32 / /sys/fs/cgroup/elogind rw,nosuid,nodev,noexec,relatime shared:18 - cgroup cgroup rw,name=elogind
35 22 0:27 /kubepods /var/lib/with\\040space rw,relatime shared:13 - cgroup cgroup rw,cpu,cpuacct
`;

const UNIFIED = `25 30 0:23 / /sys/fs/cgroup rw,nosuid,nodev,noexec,relatime shared:4 - cgroup2 cgroup2 rw,nsdelegate,memory_recursiveprot
`;

const host = { inUserNS: false, hugetlb: true };

describe('cgroup mountinfo', () => {
  it('parses mountinfo lines, optional fields and octal escapes included', () => {
    const mounts = parseMountInfo(V1_COMOUNTED);
    assert.equal(mounts.length, 9);
    assert.deepEqual(mounts[2], {
      dev: '0:27',
      root: '/',
      mountPoint: '/sys/fs/cgroup/cpu,cpuacct',
      fsType: 'cgroup',
      superOptions: ['rw', 'cpu', 'cpuacct'],
    } satisfies MountInfo);
    assert.equal(mounts[8]?.mountPoint, '/var/lib/with space');
    assert.equal(mounts[8]?.root, '/kubepods');
  });

  it('tells unified from v1 (hybrid is v1) and from no cgroups at all', () => {
    assert.deepEqual(cgroupMode(parseMountInfo(UNIFIED)), {
      kind: 'unified',
      mountPoint: '/sys/fs/cgroup',
    });
    assert.deepEqual(cgroupMode(parseMountInfo(HYBRID)), { kind: 'v1' });
    assert.deepEqual(cgroupMode(parseMountInfo(V1_COMOUNTED)), { kind: 'v1' });
    assert.deepEqual(cgroupMode(parseMountInfo(HYBRID.split('\n').slice(0, 2).join('\n'))), {
      kind: 'none',
    });
  });

  it("finds the v1 hierarchies containerd's cgroups library uses on a hybrid host", () => {
    const hs = v1Hierarchies(parseMountInfo(HYBRID), host);
    assert.deepEqual(
      hs.map((h) => [h.mountPoint, h.controllers.join(',')]),
      [
        ['/sys/fs/cgroup/cpu', 'cpu'],
        ['/sys/fs/cgroup/cpuacct', 'cpuacct'],
        ['/sys/fs/cgroup/cpuset', 'cpuset'],
        ['/sys/fs/cgroup/memory', 'memory'],
        ['/sys/fs/cgroup/devices', 'devices'],
        ['/sys/fs/cgroup/freezer', 'freezer'],
        ['/sys/fs/cgroup/blkio', 'blkio'],
        ['/sys/fs/cgroup/pids', 'pids'],
        ['/sys/fs/cgroup/systemd', 'name=systemd'],
      ],
    );
  });

  it('takes co-mounted hierarchies once, skips other named and unknown ones, devices in a user namespace, hugetlb without huge pages', () => {
    const mounts = parseMountInfo(V1_COMOUNTED);
    assert.deepEqual(
      v1Hierarchies(mounts, host).map((h) => h.mountPoint),
      [
        '/sys/fs/cgroup/systemd',
        '/sys/fs/cgroup/cpu,cpuacct',
        '/sys/fs/cgroup/net_cls,net_prio',
        '/sys/fs/cgroup/hugetlb',
        '/sys/fs/cgroup/devices',
      ],
    );
    assert.deepEqual(
      v1Hierarchies(mounts, { inUserNS: true, hugetlb: false }).map((h) => h.mountPoint),
      ['/sys/fs/cgroup/systemd', '/sys/fs/cgroup/cpu,cpuacct', '/sys/fs/cgroup/net_cls,net_prio'],
    );
  });
});

describe('cgroup path', () => {
  it('normalizes relative and absolute paths alike', () => {
    assert.equal(cleanCgroupPath('berth'), 'berth');
    assert.equal(cleanCgroupPath('/berth/daemon/'), 'berth/daemon');
    assert.equal(cleanCgroupPath('a//./b'), 'a/b');
    assert.equal(cleanCgroupPath('/'), '');
  });

  it('rejects "..", NUL and empty paths', () => {
    for (const p of ['..', '../x', '/a/../..', 'a/..', 'a\0b', '']) {
      assert.throws(() => cleanCgroupPath(p), isInvalidArgument, JSON.stringify(p));
    }
  });
});

describe('joinCgroup on fake hierarchies', () => {
  /** Directories standing in for hierarchy mounts (cgroupfs is not needed to check the walk). */
  const fake = () => {
    const dir = tempDir();
    const cpuset = join(dir.path, 'cpuset');
    const memory = join(dir.path, 'memory');
    mkdirSync(cpuset);
    mkdirSync(memory);
    writeFileSync(join(cpuset, 'cpuset.cpus'), '0-1\n');
    writeFileSync(join(cpuset, 'cpuset.mems'), '0\n');
    const mountinfo = (...points: [string, string, string][]) =>
      points
        .map(([dev, point, opt]) => `40 31 ${dev} / ${point} rw - cgroup cgroup rw,${opt}\n`)
        .join('');
    return { dir, cpuset, memory, mountinfo };
  };

  it('makes the path in each hierarchy, gives new cpusets their parent cpus and mems, writes the pid', () => {
    const { dir, cpuset, memory, mountinfo } = fake();
    try {
      const text = mountinfo(['0:90', cpuset, 'cpuset'], ['0:91', memory, 'memory']);
      const joined = joinCgroup('/berth/d', 4242, text);
      assert.deepEqual(joined.dirs, [join(cpuset, 'berth/d'), join(memory, 'berth/d')]);
      for (const d of joined.dirs)
        assert.equal(readFileSync(join(d, 'cgroup.procs'), 'utf8'), '4242');
      for (const d of [join(cpuset, 'berth'), join(cpuset, 'berth/d')]) {
        assert.equal(readFileSync(join(d, 'cpuset.cpus'), 'utf8'), '0-1\n');
        assert.equal(readFileSync(join(d, 'cpuset.mems'), 'utf8'), '0\n');
      }
      assert.equal(existsSync(join(memory, 'berth/cpuset.cpus')), false);
    } finally {
      dir.remove();
    }
  });

  it('keeps a cpuset that has its own cpus', () => {
    const { dir, cpuset, mountinfo } = fake();
    try {
      mkdirSync(join(cpuset, 'own'));
      writeFileSync(join(cpuset, 'own/cpuset.cpus'), '1\n');
      writeFileSync(join(cpuset, 'own/cpuset.mems'), '');
      joinCgroup('own', 7, mountinfo(['0:90', cpuset, 'cpuset']));
      assert.equal(readFileSync(join(cpuset, 'own/cpuset.cpus'), 'utf8'), '1\n');
      assert.equal(readFileSync(join(cpuset, 'own/cpuset.mems'), 'utf8'), '0\n');
    } finally {
      dir.remove();
    }
  });

  it('fails naming the path and the hierarchy, and removes the directories it made', () => {
    // (memory only: on a plain directory the cpuset files written would keep rmdir from working)
    const { dir, memory, mountinfo } = fake();
    try {
      const missing = join(dir.path, 'blkio-not-mounted');
      const text = mountinfo(['0:91', memory, 'memory'], ['0:92', missing, 'blkio']);
      assert.throws(
        () => joinCgroup('berth/d', 1, text),
        (e: Error) =>
          isFailedPrecondition(e) &&
          e.message.includes('cgroup "berth/d" in the blkio hierarchy') &&
          e.message.includes(missing),
      );
      assert.equal(existsSync(join(memory, 'berth')), false);
    } finally {
      dir.remove();
    }
  });

  it('refuses a host without cgroups and a bad path', () => {
    assert.throws(
      () => joinCgroup('x', 1, '22 1 0:21 / / rw - ext4 /dev/sda1 rw\n'),
      (e: Error) => isFailedPrecondition(e) && /no cgroup filesystem/.test(e.message),
    );
    assert.throws(() => joinCgroup('../x', 1, HYBRID), isInvalidArgument);
  });
});
