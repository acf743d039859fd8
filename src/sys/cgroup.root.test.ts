import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, readFileSync, rmdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { BERTHD, Berthd } from '../../test/helpers/berthd.js';
import { tempDir } from '../../test/helpers/tmp.js';
import { cgroupMode, parseMountInfo, runningInUserNS, v1Hierarchies } from './cgroup.js';

const skip = process.getuid?.() !== 0 && 'needs root';

const mounts = parseMountInfo(readFileSync('/proc/self/mountinfo', 'utf8'));
const mode = cgroupMode(mounts);

/** The directories a daemon in cgroup `name` has made: one per hierarchy (only ever these are removed). */
function cgroupDirs(name: string): string[] {
  if (mode.kind === 'unified') return [join(mode.mountPoint, name)];
  return v1Hierarchies(mounts, {
    inUserNS: runningInUserNS(),
    hugetlb: existsSync('/sys/kernel/mm/hugepages'),
  }).map((h) => join(h.mountPoint, name));
}

/** /proc/<pid>/cgroup as controller → path ("" for the cgroup2 line). */
function procCgroups(pid: number): Map<string, string> {
  const out = new Map<string, string>();
  for (const line of readFileSync(`/proc/${pid}/cgroup`, 'utf8').trim().split('\n')) {
    const [, controllers = '', path = ''] = line.split(':');
    for (const c of controllers.split(',')) out.set(c, path);
  }
  return out;
}

/** Runs berthd on temp dirs with `toml` as its config until it exits; for starts that must fail. */
async function runBerthd(
  toml: string,
): Promise<{ code: number | null; stderr: string; state: string }> {
  const dir = tempDir();
  try {
    const config = join(dir.path, 'config.toml');
    writeFileSync(config, toml);
    const state = join(dir.path, 'state');
    const args = ['--root', join(dir.path, 'root'), '--state', state];
    args.push('--address', join(state, 's.sock'), '--config', config);
    const proc = spawn(BERTHD, args, { stdio: ['ignore', 'ignore', 'pipe'] });
    let stderr = '';
    proc.stderr.on('data', (b: Buffer) => (stderr += b.toString()));
    const code = await new Promise<number | null>((res) => proc.on('exit', res));
    return { code, stderr, state: existsSync(state) ? 'present' : 'absent' };
  } finally {
    dir.remove();
  }
}

describe('berthd [cgroup] path', {
  skip: (skip || mode.kind === 'none') && 'needs root and cgroups',
}, () => {
  const name = `berth-test-${randomBytes(6).toString('hex')}`;
  let daemon: Berthd | undefined;

  after(async () => {
    // A cgroup with a process in it cannot be removed: the daemon goes first.
    await daemon?.cleanup();
    for (const dir of cgroupDirs(name)) {
      if (existsSync(dir)) rmdirSync(dir);
    }
  });

  it('moves berthd into the cgroup in each hierarchy and sets its oom score', async () => {
    daemon = await Berthd.start({
      configToml: `version = 2\noom_score = 321\n[cgroup]\n  path = "${name}"\n`,
    });
    const pid = daemon.readPidFile();
    const cgroups = procCgroups(pid);
    if (mode.kind === 'unified') {
      assert.equal(cgroups.get(''), `/${name}`);
    } else {
      for (const controller of ['memory', 'devices', 'cpu', 'blkio']) {
        assert.equal(cgroups.get(controller), `/${name}`, `${controller} in ${[...cgroups]}`);
      }
      assert.equal(cgroups.get('name=systemd'), `/${name}`);
    }
    for (const dir of cgroupDirs(name)) {
      assert.ok(
        readFileSync(join(dir, 'cgroup.procs'), 'utf8').split('\n').includes(String(pid)),
        `${pid} in ${dir}/cgroup.procs`,
      );
    }
    const cpuset = cgroupDirs(name).find((d) => d.includes('cpuset'));
    if (cpuset !== undefined) {
      assert.notEqual(readFileSync(join(cpuset, 'cpuset.cpus'), 'utf8').trim(), '');
      assert.notEqual(readFileSync(join(cpuset, 'cpuset.mems'), 'utf8').trim(), '');
    }
    assert.equal(readFileSync(`/proc/${pid}/oom_score_adj`, 'utf8').trim(), '321');
    assert.equal(await daemon.stop(), 0);
  });

  it('refuses to start when the cgroup cannot be made, naming the path and the hierarchy', async () => {
    // cgroup.procs is a file in every hierarchy: nothing can be made under it, and nothing is.
    const { code, stderr, state } = await runBerthd('[cgroup]\n  path = "cgroup.procs/berth"\n');
    assert.equal(code, 1, stderr);
    assert.match(stderr, /cgroup "cgroup\.procs\/berth" in the \S+ hierarchy \(\/\S+\)/);
    assert.equal(state, 'absent', 'nothing made before the cgroup');
  });

  it('refuses a path with ".." before touching anything', async () => {
    const { code, stderr, state } = await runBerthd('[cgroup]\n  path = "../berth"\n');
    assert.equal(code, 1, stderr);
    assert.match(stderr, /\[cgroup\]: path "\.\.\/berth" must not have "\.\." components/);
    assert.equal(state, 'absent');
  });
});
