import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { tempDir } from '../../test/helpers/tmp.js';
import { nullLogger } from '../core/log/index.js';
import { parseMountInfo } from '../sys/cgroup.js';
import { memoryCgroup, OomWatcher, oomKillCount } from './oom.js';

const HYBRID = `31 23 0:28 / /sys/fs/cgroup rw,relatime - tmpfs tmpfs rw,mode=755
35 31 0:32 / /sys/fs/cgroup/memory rw,relatime - cgroup cgroup rw,memory
36 31 0:33 / /sys/fs/cgroup/devices rw,relatime - cgroup cgroup rw,devices
41 31 0:38 / /sys/fs/cgroup/unified rw,relatime - cgroup2 cgroup2 rw
`;
const UNIFIED = `30 23 0:26 / /sys/fs/cgroup rw,nosuid - cgroup2 cgroup2 rw,nsdelegate
`;
const NESTED = `35 31 0:32 /process_api /sys/fs/cgroup/memory rw - cgroup cgroup rw,memory
`;

describe('memoryCgroup', () => {
  it('v1 memory hierarchy first on a hybrid host', () => {
    const text = '9:name=systemd:/\n4:memory:/default/c1\n0::/\n';
    assert.deepEqual(memoryCgroup(text, parseMountInfo(HYBRID)), {
      version: 1,
      dir: '/sys/fs/cgroup/memory/default/c1',
    });
  });

  it('joint controllers (cpu,memory) count as memory', () => {
    const text = '4:cpu,memory:/k8s/pod1\n';
    const mounts = parseMountInfo(
      '35 31 0:32 / /sys/fs/cgroup/cpu,memory rw - cgroup cgroup rw,cpu,memory\n',
    );
    assert.deepEqual(memoryCgroup(text, mounts), {
      version: 1,
      dir: '/sys/fs/cgroup/cpu,memory/k8s/pod1',
    });
  });

  it('the unified mount when only cgroup2 is there', () => {
    assert.deepEqual(memoryCgroup('0::/system.slice/c1\n', parseMountInfo(UNIFIED)), {
      version: 2,
      dir: '/sys/fs/cgroup/system.slice/c1',
    });
  });

  it('paths below a mount of a sub-tree are joined under its root', () => {
    assert.deepEqual(memoryCgroup('4:memory:/process_api/c1\n', parseMountInfo(NESTED)), {
      version: 1,
      dir: '/sys/fs/cgroup/memory/c1',
    });
  });

  it('nothing when no memory cgroup is mounted', () => {
    assert.equal(
      memoryCgroup(
        '4:memory:/c1\n',
        parseMountInfo(UNIFIED.replace('cgroup2', 'tmpfs').replace('cgroup2', 'tmpfs')),
      ),
      undefined,
    );
  });
});

describe('oomKillCount', () => {
  it('reads oom_kill, 0 when absent', () => {
    assert.equal(oomKillCount('low 0\nhigh 0\nmax 12\noom 3\noom_kill 2\noom_group_kill 0\n'), 2);
    assert.equal(oomKillCount('low 0\n'), 0);
  });
});

describe('OomWatcher (cgroup v2 memory.events)', () => {
  it('reports when oom_kill grows, not for other changes, and stops after remove', async () => {
    const dir = tempDir();
    const oom = OomWatcher.create(nullLogger);
    try {
      const events = join(dir.path, 'memory.events');
      writeFileSync(events, 'low 0\nhigh 0\nmax 0\noom 0\noom_kill 1\n');
      const seen: string[] = [];
      let wake: () => void = () => {};
      oom.onOom((id) => {
        seen.push(id);
        wake();
      });
      oom.addCgroup('c2', { version: 2, dir: dir.path });
      const next = () =>
        new Promise<void>((resolve) => {
          wake = resolve;
        });
      let got = next();
      writeFileSync(events, 'low 0\nhigh 0\nmax 3\noom 1\noom_kill 1\n'); // no new kill
      writeFileSync(events, 'low 0\nhigh 0\nmax 3\noom 2\noom_kill 2\n');
      await got;
      assert.deepEqual(seen, ['c2']);
      got = next();
      writeFileSync(events, 'low 0\nhigh 0\nmax 3\noom 3\noom_kill 3\n');
      await got;
      assert.deepEqual(seen, ['c2', 'c2']);
      oom.remove('c2');
      writeFileSync(events, 'low 0\nhigh 0\nmax 3\noom 4\noom_kill 4\n');
      await new Promise((r) => setTimeout(r, 100));
      assert.deepEqual(seen, ['c2', 'c2']);
    } finally {
      oom.close();
      dir.remove();
    }
  });
});
